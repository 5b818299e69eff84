"""CLI latency: how long a read command takes from exec to exit, as a user feels it.

Every ``stackyard`` call is a fresh process, so start-up (imports) is most of the cost of a
read. Each command runs ``--runs`` times (after one warm-up run) against a throw-away
``STACKYARD_HOME`` holding one pipeline run, one model version and nothing else; the table
shows the median wall time against the 300 ms limit, and the median CPU time (user + system)
of the process, which a busy machine inflates less than wall time.

Usage: python bench/cli_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

LIMIT_MS = 300.0
STACKYARD = Path(sys.executable).with_name("stackyard")


def seed(home: Path) -> str:
    """One succeeded run and one registered model version; returns the run id."""
    os.environ["STACKYARD_HOME"] = str(home)
    from stackyard.registry import ModelRegistry
    from stackyard.workflow import Pipeline, step

    @step
    def one() -> int:
        return 1

    execution = Pipeline(name="bench-cli", steps=[one()]).start()
    execution.wait()
    model = home / "model.tar.gz"
    with tarfile.open(model, "w:gz") as tar:
        info = tarfile.TarInfo("model.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"1"))
    ModelRegistry().register("bench-cli", str(model))
    return execution.run_id


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def median_ms(args: list[str], runs: int, env: dict[str, str], cwd: Path
              ) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``stackyard ARGS``."""
    times, cpus = [], []
    for i in range(runs + 1):
        c0, t0 = _children_cpu(), time.perf_counter()
        done = subprocess.run([str(STACKYARD), *args], env=env, cwd=cwd, check=False,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        took, cpu = (time.perf_counter() - t0) * 1000, (_children_cpu() - c0) * 1000
        if done.returncode != 0:
            raise SystemExit(f"stackyard {' '.join(args)} failed: {done.stderr.decode()}")
        if i:  # the first run warms the OS file cache and .pyc files
            times.append(took)
            cpus.append(cpu)
    return statistics.median(times), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        run_id = seed(home)
        env = {**os.environ, "STACKYARD_HOME": str(home)}
        commands = [["--help"], ["runs", "list"], ["runs", "list", "--json"],
                    ["runs", "describe", run_id], ["pipelines", "list"],
                    ["models", "groups"], ["models", "describe", "bench-cli/1"],
                    ["models", "list", "bench-cli"], ["tuning", "list"], ["endpoints", "list"]]
        print(f"{'command':<40} {'median ms':>10} {'limit ms':>9} {'ratio':>6} {'cpu ms':>7}")
        worst = 0.0
        for c in commands:
            ms, cpu = median_ms(c, args.runs, env, Path(tmp))
            worst = max(worst, ms / LIMIT_MS)
            print(f"{'stackyard ' + ' '.join(c)[:30]:<40} {ms:>10.0f} {LIMIT_MS:>9.0f} "
                  f"{ms / LIMIT_MS:>6.2f} {cpu:>7.0f}")
        print(f"worst ratio {worst:.2f} (over {args.runs} runs each; {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
