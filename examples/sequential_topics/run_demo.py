"""`make demo-topics`: seed 000 end to end, saying what it did.

1. write 600 synthetic sales opportunities (``opportunities.py``; known use cases);
2. start ``mapping_worker.py`` as a separate process: it answers both callback steps;
3. run the pipeline (``pipeline.py``): preprocess -> layer 1 (tuned) -> mapping update ->
   layer 2 -> mapping update -> layer 3 -> register;
4. download the registered version (checked against its recorded sha256), load it, and
   check that it predicts the same topics as the model did in memory before saving;
5. predict the use case of three new opportunities, and score the final topics against
   the known use cases (ARI, NMI).

Exits 0 only if all of this happened. ``--data DIR`` writes the data elsewhere;
``--docs N`` and ``--trials N`` make it smaller (the tests use them).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "code"))
EXE = str(Path(sys.executable).parent / "stackyard")
GROUP = "opportunity-topics"
QUEUE = "opportunity-mapping"
NEW = ["Contoso Ltd wants to move its Oracle database licences to a managed PostgreSQL "
       "database with schema conversion.",
       "Fabrikam Inc's call center agents need an IVR and smarter call routing.",
       "They're looking for a fraud score on card payments to cut chargeback losses."]


def expect(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"demo-topics: {message}")


def final_topics(folder: Path, model) -> dict[str, str]:
    """Each training document's final topic as the layers assigned it while training
    (layer 1's, replaced by layer 2's and then layer 3's where the mapping split it)."""
    final: dict[str, str] = {}
    for layer in range(1, len(model.layers) + 1):
        assigned = json.loads((folder / f"layer{layer}" / "assignments.json").read_text())
        final.update({doc: f"{layer}.{t}" for doc, t in assigned.items()})
    return final


def main() -> None:
    from opportunities import opportunities, write_jsonl

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--embedding", default="auto")
    args = parser.parse_args()
    data = args.data.resolve()
    home = os.environ.setdefault("STACKYARD_HOME", str(Path.cwd() / ".stackyard"))

    rows = opportunities(args.docs)
    source = write_jsonl(rows, data / "opportunities" / "opportunities.jsonl")
    print(f"data: {len(rows)} opportunities in {source}\n")
    worker = subprocess.Popen([sys.executable, str(HERE / "mapping_worker.py"), QUEUE,
                               "--answers", "2"])
    try:
        code = subprocess.call([EXE, "run", str(HERE / "pipeline.py"), "-q",
                                "-p", f"InputData={source.parent}",
                                "-p", f"MappingFolder={data / 'mapping'}",
                                "-p", f"TuningTrials={args.trials}",
                                "-p", f"Embedding={args.embedding}"])
        expect(code == 0, "the pipeline failed")
        expect(worker.wait(timeout=60) == 0, "the mapping worker failed")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from textprep import read_documents

    from inference import model_fn, predict_fn
    from stackyard.registry import ModelRegistry

    by_id = {d["id"]: d for d in read_documents(source.parent)}

    latest = ModelRegistry().latest(GROUP, approval_status=None)
    folder = Path(tempfile.mkdtemp(prefix="topics-model-")) / "model"
    ModelRegistry().download(latest.ref, folder)
    model = model_fn(folder)
    check = json.loads((folder / "check.json").read_text())
    again = model.predict(check["texts"])
    expect(again == check["topics"], "the loaded model predicts other topics than before "
                                     "saving")
    print(f"\n{latest.ref}: loaded from the registry; same topics as before saving on "
          f"{len(again)} texts")
    for text, p in zip(NEW, predict_fn(NEW, model), strict=True):
        print(f"  {p['topic']:>5}  {p['name']:<45} <- {text[:60]}...")
    final = final_topics(folder, model)
    truth = [by_id[i]["use_case"] for i in final]
    final = list(final.values())
    layers_used = sorted({t.split('.')[0] for t in final})
    print(f"\nfinal topics: {len(set(final))} (from layers {', '.join(layers_used)}); "
          f"against the {len(set(truth))} known use cases: "
          f"ARI {adjusted_rand_score(truth, final):.3f}, "
          f"NMI {normalized_mutual_info_score(truth, final):.3f}")
    print(f"\nState lives in {home}. Look around with:\n"
          "  .venv/bin/stackyard runs list\n"
          f"  .venv/bin/stackyard models describe {latest.ref}\n"
          "  .venv/bin/stackyard callback list")


if __name__ == "__main__":
    main()
