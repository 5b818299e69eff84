"""`make demo-states`: seed 003 end to end, three executions of one state machine.

1. happy path: prepare the pages, train the text and image models in parallel, stack them
   with the sequence model, register it; print the held-out accuracy table;
2. image model skipped: the Choice takes the Pass state, which hands on the image model of
   execution 1, and only the text and sequence models train;
3. forced failure: the text model gets ``C=-1``, fails, is retried once, and the Parallel
   state's Catch publishes an alert (sns:publish) and ends in the Fail state.

Exits 0 only if each execution did exactly that and the stacked model beats both base
models on the held-out pages. ``--docs N`` makes fewer documents (the test uses it).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from stackyard.lambdas import register_function
from stackyard.registry import ModelRegistry
from stackyard.states import get_execution_history
from workflow import CODE, FUNCTION, build

sys.path.insert(0, str(CODE))
import pages  # the example's own helper (its safe model.tar.gz reader), after sys.path


def expect(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"demo-states: {message}")


def run(workflow, label: str, tag: str, **inputs):
    print(f"\n== execution {label} ==", flush=True)
    started = time.monotonic()
    names = {f"{step}JobName": f"docs-{step.lower()}-{tag}"
             for step in ("Prepare", "Text", "Image", "Sequence")}
    execution = workflow.execute(name=f"demo-{tag}", inputs={
        **names, "text_C": "10", "train_image_model": True, "previous_image_model": "",
        **inputs})
    output = execution.get_output(wait=True)
    desc = execution.describe()
    events = get_execution_history(execution.execution_arn)
    for e in events:
        if e["type"].endswith("StateEntered"):
            print(f"  ▶ {e['stateEnteredEventDetails']['name']}")
    print(f"  {desc['status']} in {time.monotonic() - started:.1f}s"
          + (f": {desc.get('error')}: {desc.get('cause')}" if desc["status"] != "SUCCEEDED"
             else ""))
    entered = [e["stateEnteredEventDetails"]["name"] for e in events
               if e["type"].endswith("StateEntered")]
    return desc, output, entered, events


def evaluation(model_uri: str) -> dict:
    from stackyard._checks import uri_to_path

    path = uri_to_path(model_uri)
    with tempfile.TemporaryDirectory() as tmp:
        channel = Path(tmp) / "model"
        channel.mkdir()
        (channel / "model.tar.gz").write_bytes(path.read_bytes())
        return json.loads((Path(pages.model_folder(str(channel))) / "evaluation.json")
                          .read_text())


def table(ev: dict) -> None:
    print(f"\nheld-out pages: {ev['held_out_pages']} "
          f"({ev['held_out_documents']} documents never seen in training)")
    print(f"{'model':<28}{'accuracy':>10}")
    for model, acc in ev["accuracy"].items():
        print(f"{model:<28}{acc:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=500)
    args = parser.parse_args()
    tag = time.strftime("%H%M%S")
    register_function(FUNCTION, CODE / "register.py", "register.handler")
    workflow = build(args.docs)
    workflow.create()
    workflow.update(workflow.definition)  # this checkout's paths, whatever was stored
    print(f"state machine {workflow.state_machine_arn}")

    desc, out, entered, _ = run(workflow, "1: happy path", f"{tag}-a")
    expect(desc["status"] == "SUCCEEDED", "the happy path did not succeed")
    expect("Train image model" in entered, "the image model did not train")
    ev = evaluation(out["sequence"]["ModelArtifacts"]["S3ModelArtifacts"])
    table(ev)
    acc = ev["accuracy"]
    expect(acc["sequence model (stacked)"] > max(acc["text model"], acc["image model"]),
           "the stacked model does not beat both base models")
    ref = out["registered"]["Payload"]["ModelPackageRef"]
    print(f"registered {ref}: {ModelRegistry().describe(ref)['approval_status']}")

    image_model = out["models"][1]["ModelArtifacts"]["S3ModelArtifacts"]
    desc, out, entered, _ = run(workflow, "2: image model skipped", f"{tag}-b",
                                train_image_model=False, previous_image_model=image_model)
    expect(desc["status"] == "SUCCEEDED", "the run without image training did not succeed")
    expect("Reuse image model" in entered and "Train image model" not in entered,
           "the Choice did not skip the image model")
    expect(out["models"][1]["ModelArtifacts"]["S3ModelArtifacts"] == image_model,
           "the skipped branch did not hand on execution 1's image model")

    desc, out, entered, events = run(workflow, "3: forced failure (text model C=-1)",
                                     f"{tag}-c", text_C="-1")
    expect(desc["status"] == "FAILED" and desc.get("error") == "ModelTrainingFailed",
           "the forced failure did not end in the Fail state")
    expect(entered[-2:] == ["Notify failure", "Training failed"],
           "the failure did not go through Notify failure to Fail")
    published = [e for e in events if e["type"] == "TaskSucceeded"
                 and e["taskSucceededEventDetails"].get("resourceType") == "sns"]
    expect(bool(published), "no notification was published")
    print("  the alert was published to model-training-alerts, then the Fail state ended it")
    print("\nall three executions behaved as described")


if __name__ == "__main__":
    main()
