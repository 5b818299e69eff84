"""Fill a store the way a person would, for the browser tests: run it as a script,
``python ui_fill.py WORK`` with ``STACKYARD_HOME`` set.

* seed 004's training pipeline (prepare, XGBoost training, evaluation, a condition, a
  data-quality baseline, a model, a registered version pending approval) on a data folder
  whose name has a space and non-ASCII letters, and a second version of the same model;
* a small tuning job whose trials print a loss per epoch (early stopping on);
* a baseline and two monitoring checks, a normal day and a drifted one;
* a pipeline whose parameter, log line and failure reason carry HTML (it fails);
* an endpoint with two variants serving the registered version, and a few requests;
* a state machine (Parallel, Choice, Catch) with three executions, one failed, a schedule
  of it fired once and an event rule.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "batch_churn"
STACKYARD = str(Path(sys.executable).with_name("stackyard"))
GROUP = "churn-xgboost"
ENDPOINT = "churn-live"

XSS = "<script>document.title='pwned'</script>"
HOSTILE = f"""
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import ParameterString, Pipeline, ProcessingStep
note = ParameterString("Note", default_value="{XSS}")
pipeline = Pipeline("hostile", parameters=[note], steps=[ProcessingStep(
    "Shout", processor=ScriptProcessor(command=["python3"]), code=CODE,
    job_arguments=["--note", note])])
"""
SHOUT = """
import sys
print("line with html:", sys.argv[2], flush=True)
raise SystemExit("<img src=x onerror=\\"document.title='pwned'\\">")
"""

LOSS = """
import argparse, os, time
p = argparse.ArgumentParser()
p.add_argument("--x", type=float); p.add_argument("--y", type=int, default=0)
p.add_argument("--epochs", type=int, default=1); p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
for e in range(a.epochs):
    time.sleep(a.sleep)
    print(f"loss={(a.x - 0.3) ** 2 + 0.01 * (a.y - 2) ** 2 + 0.1 / (e + 1):.6f};", flush=True)
open(os.path.join(os.environ["SM_MODEL_DIR"], "m.txt"), "w").write(str(a.x))
"""


def run(*args: str, cwd: Path | None = None) -> str:
    r = subprocess.run([STACKYARD, *args], capture_output=True, text=True, cwd=cwd,
                       timeout=600, check=False)
    if r.returncode not in (0, 1):  # 1: a run that failed on purpose
        raise RuntimeError(f"stackyard {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


def train(work: Path) -> None:
    sys.path.insert(0, str(EXAMPLE))
    from churn_data import write_training

    table = write_training(work / "churn dåta" / "churn.csv")
    run("run", str(EXAMPLE / "train_pipeline.py"), "-q", "-p", f"InputData={table}")


def tune(work: Path) -> None:
    from stackyard.jobs import Estimator
    from stackyard.tuning import ContinuousParameter, HyperparameterTuner, IntegerParameter

    code = work / "tuning code"
    code.mkdir()
    (code / "loss.py").write_text(LOSS)
    est = Estimator(entry_point="loss.py", source_dir=str(code),
                    hyperparameters={"epochs": 4, "sleep": 0.1},
                    metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+);"}])
    HyperparameterTuner(est, "loss", {"x": ContinuousParameter(0, 1),
                                      "y": IntegerParameter(0, 4)},
                        objective_type="Minimize", max_jobs=8, max_parallel_jobs=2,
                        strategy="Random", random_seed=0, early_stopping_type="Auto"
                        ).fit(job_name="loss-search")


def monitor(work: Path) -> None:
    sys.path.insert(0, str(EXAMPLE))
    from churn_data import FEATURES, day_batch

    from stackyard.monitor import DatasetFormat, DefaultModelMonitor

    days = work / "monitoring dåys"
    days.mkdir()
    for name, seed, drifted in (("base", 1, False), ("normal", 2, False), ("drifted", 3, True)):
        day_batch(2000, seed, drifted=drifted)[FEATURES].to_csv(days / f"{name}.csv",
                                                                index=False)
    m = DefaultModelMonitor(role="ignored")
    m.suggest_baseline(str(days / "base.csv"), DatasetFormat.csv(header=True))
    for name in ("normal", "drifted"):
        m.run_monitoring(str(days / f"{name}.csv"), DatasetFormat.csv(header=True))


def hostile(work: Path) -> None:
    (work / "shout.py").write_text(SHOUT)
    (work / "hostile.py").write_text(f"CODE = {str(work / 'shout.py')!r}\n{HOSTILE}")
    run("run", str(work / "hostile.py"), "-q")


def second_version(work: Path) -> None:
    """Version 2 of the group: the same model, other metrics, hostile metadata."""
    from stackyard.jobs import MetricsSource, Model, ModelMetrics
    from stackyard.registry import ModelRegistry

    first = ModelRegistry().describe(f"{GROUP}/1")
    evaluation = work / "evaluation.json"
    evaluation.write_text(json.dumps({"binary_classification_metrics": {
        "accuracy": {"value": 0.9}, "auc": {"value": 0.95}, "f1": {"value": 0.7}}}))
    Model(model_data=first["model_data"]).register(
        content_types=["text/csv"], response_types=["text/csv"],
        model_package_group_name=GROUP, customer_metadata_properties={"note": XSS},
        model_metrics=ModelMetrics(model_statistics=MetricsSource("application/json",
                                                                  str(evaluation))))


def endpoint() -> None:
    sys.path.insert(0, str(EXAMPLE))
    from churn_data import FEATURES, day_batch

    run("endpoints", "create", ENDPOINT, "--variant", f"A={GROUP}/1:0.7",
        "--variant", f"B={GROUP}/1:0.3", "--allow-unapproved")
    url = json.loads(run("endpoints", "describe", ENDPOINT, "--json"))["url"]
    rows = day_batch(40, 9)[FEATURES].to_csv(index=False, header=False).splitlines()
    with httpx.Client(timeout=30) as c:
        for row in rows:
            c.post(f"{url}/invocations", content=row,
                   headers={"Content-Type": "text/csv"}).raise_for_status()


# Seed 003's shape: a Parallel of two models (one behind a Choice), every failure caught
MACHINE = "document-classification"
STATES_DEF = {"StartAt": "PreparePages", "States": {
    "PreparePages": {"Type": "Pass", "Next": "BaseModels"},
    "BaseModels": {"Type": "Parallel", "Next": "StackedModel", "Catch": [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}],
        "Branches": [
            {"StartAt": "TextModel", "States": {"TextModel": {"Type": "Pass", "End": True}}},
            {"StartAt": "Skip image model?", "States": {
                "Skip image model?": {"Type": "Choice", "Choices": [
                    {"And": [{"Variable": "$.broken", "IsPresent": True},
                             {"Variable": "$.broken", "BooleanEquals": True}],
                     "Next": "ImageFailed"},
                    {"And": [{"Variable": "$.reuse", "IsPresent": True},
                             {"Variable": "$.reuse", "BooleanEquals": True}],
                     "Next": "ReuseImage"}],
                    "Default": "ImageModel"},
                "ReuseImage": {"Type": "Pass", "End": True},
                "ImageModel": {"Type": "Pass", "End": True},
                "ImageFailed": {"Type": "Fail", "Error": "TrainingFailed",
                                "Cause": f"image model: {XSS}"}}}]},
    "StackedModel": {"Type": "Pass", "Next": "Register"},
    "Register": {"Type": "Succeed"},
    "Alert": {"Type": "Pass", "Next": "Failed"},
    "Failed": {"Type": "Fail", "Error": "WorkflowFailed", "Cause": "a base model failed"}}}


def state_machines() -> None:
    """The machine, a nightly schedule of it fired once by hand (its execution ends before
    the others start), then three executions: the happy path, the image model reused, and
    a failure that the Parallel state's Catch takes."""
    import time

    from stackyard import notify, states, triggers

    states.create_state_machine(MACHINE, STATES_DEF)
    triggers.create_schedule("nightly-docs", target=triggers.state_machine_target(MACHINE),
                             expression="cron(0 2 * * ? *)", timezone="Europe/Berlin")
    fire = triggers.trigger_schedule("nightly-docs")["id"]
    end = time.monotonic() + 120
    while next(f for f in triggers.describe_schedule("nightly-docs")["fires"]
               if f["id"] == fire)["status"] in ("Pending", "Running"):
        if time.monotonic() > end:
            raise RuntimeError("the schedule's fire did not end within 120 s")
        time.sleep(0.1)
    for name, value in (("happy", {}), ("reuse", {"reuse": True}),
                        ("broken", {"broken": True})):
        states.start_execution(MACHINE, value, name)
    notify.create_channel("ops", log=True)
    triggers.create_rule("drift-alert", on="drift-detected",
                         target=triggers.notify_target("ops"),
                         pattern={"detail": {"violations": [{"numeric": [">", 0]}]}})


def main(work: Path) -> None:
    state_machines()
    train(work)
    second_version(work)
    tune(work)
    monitor(work)
    hostile(work)
    endpoint()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
