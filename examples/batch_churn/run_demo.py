"""`make demo-batch`: seed 004 end to end, with the CLI, saying what it did.

1. make the data: the churn table, a normal day and a drifted day (``churn_data.py``);
2. run pipeline 1 (train and baseline): a new version is registered, pending approval;
3. approve it from the CLI;
4. run pipeline 2 on the normal day: it passes the data-quality check and is scored, the
   predictions land next to the day's input;
5. run pipeline 2 on the drifted day: the check fails the run, naming the two shifted
   features, and nothing is scored.

Exits 0 only if every one of these happened as described. ``--data DIR`` puts the data
and the days somewhere else (default: ``examples/batch_churn/data``).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from churn_data import DRIFT, DRIFTED_DAY, NORMAL_DAY, write_day, write_training

HERE = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).parent / "stackyard")
GROUP = "churn-xgboost"


def sh(*args: str) -> int:
    print("$ stackyard " + " ".join(args[1:]), flush=True)
    return subprocess.call(list(args))


def cli_json(*args: str) -> object:
    out = subprocess.run([EXE, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def expect(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"demo-batch: {message}")


def show_predictions(day: Path) -> None:
    print(f"\npredictions next to the inputs, in {day / 'predictions'}:")
    for out in sorted((day / "predictions").glob("*.out")):
        p = np.loadtxt(out, ndmin=1)
        print(f"  {out.name}: {len(p)} rows, mean churn probability {p.mean():.3f}, "
              f"{(p >= 0.5).sum()} customers at risk (p >= 0.5)")


def violations_of(day: Path) -> list[dict]:
    """The violations of the day's newest data-quality report (the monitoring step
    publishes ``constraint_violations.json`` under ``monitoring/``)."""
    reports = sorted((day / "monitoring").rglob("constraint_violations.json"),
                     key=lambda p: p.stat().st_mtime_ns)
    expect(bool(reports), f"no constraint_violations.json under {day / 'monitoring'}")
    return json.loads(reports[-1].read_text())["violations"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    data = parser.parse_args().data.resolve()
    home = os.environ.setdefault("STACKYARD_HOME", str(Path.cwd() / ".stackyard"))

    table = write_training(data / "churn.csv")
    normal = write_day(data / "days", NORMAL_DAY)
    drifted = write_day(data / "days", DRIFTED_DAY, drifted=True)
    print(f"data: {table} (5,000 customers); days {normal.name} (normal) and "
          f"{drifted.name} (drifted: {', '.join(DRIFT)}) under {data / 'days'}\n")

    expect(sh(EXE, "run", str(HERE / "train_pipeline.py"), "-q", "-p",
              f"InputData={table}") == 0, "the training pipeline failed")
    latest = cli_json("models", "latest", GROUP)
    ref = latest["ref"]
    expect(latest["approval_status"] == "PendingManualApproval",
           f"{ref} is {latest['approval_status']}, expected PendingManualApproval")
    accuracy = latest["model_metrics"]["ModelQuality"]["Statistics"]["content"][
        "binary_classification_metrics"]["accuracy"]["value"]
    print(f"\n{ref} registered PendingManualApproval; test accuracy {accuracy:.3f}; "
          f"baseline: {', '.join(latest['drift_check_baselines']['ModelDataQuality'])}")
    sh(EXE, "models", "approve", ref, "--comment", "demo-batch: accuracy over the threshold")

    print(f"\n== day {normal.name}: same population as the training data ==")
    expect(sh(EXE, "run", str(HERE / "batch_pipeline.py"), "-q", "-p",
              f"DayFolder={normal}") == 0, f"the batch pipeline failed on {normal}")
    show_predictions(normal)

    print(f"\n== day {drifted.name}: {', '.join(f'{k} +{v}' for k, v in DRIFT.items())} ==")
    expect(sh(EXE, "run", str(HERE / "batch_pipeline.py"), "-q", "-p",
              f"DayFolder={drifted}") == 1, f"the batch pipeline should fail on {drifted}")
    found = violations_of(drifted)
    print(f"\nviolations in {drifted / 'monitoring'}:")
    for v in found:
        print(f"  {v['feature_name']}: {v['constraint_check_type']}: {v['description']}")
    expect(sorted(v["feature_name"] for v in found) == sorted(DRIFT),
           f"expected violations for {sorted(DRIFT)}, found {found}")
    expect(not (drifted / "predictions").exists(), "the drifted day was scored anyway")
    print("the drifted day failed its data-quality check and was not scored")

    print(f"\nState lives in {home}. Look around with:\n"
          "  .venv/bin/stackyard runs list\n"
          "  .venv/bin/stackyard runs describe <RUN_ID>\n"
          f"  .venv/bin/stackyard models describe {ref}\n"
          "  .venv/bin/stackyard runs logs <RUN_ID>")


if __name__ == "__main__":
    main()
