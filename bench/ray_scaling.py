"""Scale-out on Ray: 8 tuning trials of the seed-001 ensemble (CatBoost + XGBoost, k-fold CV
in one training job per trial, 2 trials at a time) on the local backend, on a Ray cluster
with 1 worker node and with 2 worker nodes (each node one CPU, each trial one CPU), and the
per-job overhead of the Ray backend against the local one (a job that only prints its
metric, run one after another).

Everything is real: a ``moto_server`` subprocess is the S3 artifact store, the cluster is
``ray.cluster_utils.Cluster`` (a head that runs nothing, plus worker nodes), and every run
is ``stackyard run FILE.py`` in a subprocess. Times come from the store (the tuning step's
start and end), so start-up of the CLI and of the Ray connection are not counted.

Usage: python bench/ray_scaling.py [--trials 8] [--jobs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
CODE = REPO / "examples" / "diabetes_ensemble" / "code"
BIN = Path(sys.executable).with_name("stackyard")
S3 = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
      "AWS_DEFAULT_REGION": "us-east-1"}

TUNING = """
from stackyard.jobs import (ProcessingInput, ProcessingOutput, ScriptProcessor, SKLearn,
                            TrainingInput)
from stackyard.tuning import ContinuousParameter, HyperparameterTuner, IntegerParameter
from stackyard.workflow import Pipeline, PipelineSession, ProcessingStep, TuningStep
s = PipelineSession()
proc = ScriptProcessor(command=["python3"], instance_type="ml.m5.xlarge", sagemaker_session=s)
prep = ProcessingStep("Preprocess", step_args=proc.run(code=CODE + "/preprocess.py",
    inputs=[ProcessingInput(source=DATA, destination="/opt/ml/processing/input")],
    outputs=[ProcessingOutput(output_name=n, source=f"/opt/ml/processing/{n}")
             for n in ("train", "validation", "test", "baseline")]))
est = SKLearn(entry_point="train.py", source_dir=CODE, instance_type="ml.m5.xlarge",
              hyperparameters={"eta": 0.1, "max_depth": 3, "num_round": 150, "k_fold": 5},
              metric_definitions=[{"Name": "validation:rmse",
                                   "Regex": "validation-rmse:([0-9.]+);"}], sagemaker_session=s)
out = prep.properties.ProcessingOutputConfig.Outputs
tuner = HyperparameterTuner(est, objective_metric_name="validation:rmse",
    hyperparameter_ranges={"eta": ContinuousParameter(0.2, 0.3),
                           "max_depth": IntegerParameter(3, 4)},
    metric_definitions=[{"Name": "validation:rmse", "Regex": "validation-rmse:([0-9.]+);"}],
    strategy="Random", objective_type="Minimize", max_jobs=TRIALS, max_parallel_jobs=2,
    random_seed=0)
tune = TuningStep("Tune", step_args=tuner.fit({
    "train": TrainingInput(out["train"].S3Output.S3Uri),
    "validation": TrainingInput(out["validation"].S3Output.S3Uri)}))
pipeline = Pipeline(name="ray-bench", steps=[prep, tune])
"""

TINY = """
from stackyard.jobs import Estimator
from stackyard.workflow import Pipeline, PipelineSession, TrainingStep
s = PipelineSession()
steps, prev = [], None
for i in range(JOBS):
    est = Estimator(entry_point="tiny.py", source_dir=TINY_CODE, instance_type="ml.m5.xlarge",
                    sagemaker_session=s,
                    metric_definitions=[{"Name": "m", "Regex": "m:([0-9.]+);"}])
    step = TrainingStep(f"Job{i}", step_args=est.fit(), depends_on=[prev] if prev else None)
    steps.append(step)
    prev = step
pipeline = Pipeline(name="ray-overhead", steps=steps)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(pipe: Path, home: Path, env: dict[str, str], *args: str) -> None:
    r = subprocess.run([str(BIN), "run", str(pipe), "-q", *args], capture_output=True,
                       text=True, env={**env, "STACKYARD_HOME": str(home)}, check=False)
    if r.returncode != 0:
        raise SystemExit(f"run failed:\n{r.stdout}\n{r.stderr}")


def step_times(home: Path) -> dict[str, float]:
    con = sqlite3.connect(str(home / "stackyard.db"))
    try:
        return {n: e - s for n, s, e in con.execute(
            "SELECT name, start_time, end_time FROM steps WHERE end_time IS NOT NULL")}
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    data = tmp / "diabetes.csv"
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.to_csv(data, index=False)
    tuning = tmp / "tuning_bench.py"
    tuning.write_text(f"CODE = {str(CODE)!r}\nDATA = {str(data)!r}\nTRIALS = {args.trials}\n"
                      + TUNING)
    (tmp / "tiny").mkdir()
    (tmp / "tiny" / "tiny.py").write_text("print('m:1.0;')\n")
    tiny = tmp / "tiny_bench.py"
    tiny.write_text(f"TINY_CODE = {str(tmp / 'tiny')!r}\nJOBS = {args.jobs}\n" + TINY)

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({**S3, "AWS_ENDPOINT_URL": endpoint, "RAY_USAGE_STATS_ENABLED": "0",
                       "STACKYARD_HOME": str(tmp / "node-home")})
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                               "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1)
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    for _ in range(100):
        try:
            s3.create_bucket(Bucket="ray-bench")
            break
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.2)
    env = dict(os.environ)
    one_cpu = json.dumps({"*": {"CPU": 1}})
    ray_args = ("--backend", "ray", "--address", cluster.address, "--resources", one_cpu)
    results: dict[str, float] = {}
    overhead: dict[str, list[float]] = {}
    try:
        for label, extra, nodes in (("local backend (this machine, 2 trials at a time)", (), 1),
                                    ("Ray, 1 worker node (1 CPU)", ray_args, 1),
                                    ("Ray, 2 worker nodes (1 CPU each)", ray_args, 2)):
            if nodes == 2:
                cluster.add_node(num_cpus=1)
            home = tmp / f"home-{len(results)}"
            run(tuning, home, {**env, "STACKYARD_ARTIFACTS": f"s3://ray-bench/{len(results)}"},
                *extra)
            results[label] = step_times(home)["Tune"]
        for label, extra in (("local", ()), ("ray", ray_args)):
            home = tmp / f"tiny-{label}"
            run(tiny, home, {**env, "STACKYARD_ARTIFACTS": f"s3://ray-bench/tiny-{label}"},
                *extra)
            overhead[label] = list(step_times(home).values())
    finally:
        cluster.shutdown()
        server.terminate()
    console = Console()
    t = Table(title=f"{args.trials} tuning trials of the seed-001 ensemble (2 in parallel)")
    for col in ("backend", "tuning step wall (s)", "vs 1 Ray node"):
        t.add_column(col)
    base = results["Ray, 1 worker node (1 CPU)"]
    for label, wall in results.items():
        t.add_row(label, f"{wall:.1f}", f"{base / wall:.2f}x")
    console.print(t)
    o = Table(title=f"per-job time of a job that only prints (median of {args.jobs})")
    for col in ("backend", "median (s)", "min (s)"):
        o.add_column(col)
    for label, times in overhead.items():
        o.add_row(label, f"{statistics.median(times):.2f}", f"{min(times):.2f}")
    console.print(o)
    console.print(f"Ray per-job overhead over local: "
                  f"{statistics.median(overhead['ray']) - statistics.median(overhead['local']):.2f}"
                  " s (median)")


if __name__ == "__main__":
    main()
