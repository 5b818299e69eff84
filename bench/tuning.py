"""Tuning: does Bayesian search beat random search at the budgets users give it, and what
does the tuner cost on top of its training jobs?

1. Quality: best-so-far objective after each of 20 trials, Bayesian vs Random, 5 seeds each,
   sequential trials. The objective is the 6-D Hartmann function (a standard optimisation
   benchmark; minimum -3.32237), evaluated inside a real script-mode training job that
   prints it the way a training script prints validation loss.
2. Overhead: an 8-trial, 2-parallel tuning job whose trials each run 2 s. Overhead =
   wall time / (sum of the trials' own run times / 2) - 1; target <= 10 %.

Usage: python bench/tuning.py [--seeds 5] [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HARTMANN = '''
import argparse, math
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
ALPHA = [1.0, 1.2, 3.0, 3.2]
p = argparse.ArgumentParser()
for i in range(6):
    p.add_argument(f"--x{i}", type=float)
x = [getattr(p.parse_args(), f"x{i}") for i in range(6)]
value = -sum(a * math.exp(-sum(A[k][j] * (x[j] - P[k][j] * 1e-4) ** 2 for j in range(6)))
             for k, a in enumerate(ALPHA))
print(f"validation-loss:{value:.6f};")
'''

SLEEPER = '''
import time
time.sleep(2.0)
print("validation-loss:1.0;")
'''


def tuner(code_dir: Path, entry: str, strategy: str, max_jobs: int, parallel: int, seed: int,
          dims: int):
    from stackyard.jobs import Estimator
    from stackyard.tuning import ContinuousParameter, HyperparameterTuner

    est = Estimator(entry_point=entry, source_dir=str(code_dir), metric_definitions=[
        {"Name": "validation:loss", "Regex": "validation-loss:(-?[0-9.]+);"}])
    ranges = {f"x{i}": ContinuousParameter(0.0, 1.0, "Linear") for i in range(dims)}
    return HyperparameterTuner(est, "validation:loss", ranges, strategy=strategy,
                               objective_type="Minimize", max_jobs=max_jobs,
                               max_parallel_jobs=parallel, random_seed=seed)


def best_so_far(t) -> list[float]:
    df = t.analytics().dataframe().sort_values("TrainingJobName")
    out, best = [], float("inf")
    for v in df["FinalObjectiveValue"]:
        best = min(best, v)
        out.append(best)
    return out


def quality(code: Path, seeds: int, trials: int) -> dict[str, list[list[float]]]:
    curves: dict[str, list[list[float]]] = {"Bayesian": [], "Random": []}
    for strategy in curves:
        for seed in range(seeds):
            t = tuner(code, "hartmann.py", strategy, trials, 1, seed, 6)
            t.fit(job_name=f"q-{strategy}-{seed}")
            curves[strategy].append(best_so_far(t))
    return curves


def overhead(code: Path) -> tuple[float, float]:
    from stackyard import _home

    t = tuner(code, "sleeper.py", "Random", 8, 2, 0, 1)
    t0 = time.perf_counter()
    t.fit(job_name="overhead")
    wall = time.perf_counter() - t0
    own = sum(json.loads(p.read_text())["duration"]
              for p in (_home.home() / "tuning" / "overhead").rglob("exit.json"))
    return wall, own


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    console = Console(width=130)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STACKYARD_HOME"] = str(Path(tmp) / "home")
        code = Path(tmp) / "code"
        code.mkdir()
        (code / "hartmann.py").write_text(HARTMANN)
        (code / "sleeper.py").write_text(SLEEPER)
        t0 = time.perf_counter()
        curves = quality(code, args.seeds, args.trials)
        q_time = time.perf_counter() - t0
        wall, own = overhead(code)

    table = Table(title=f"best-so-far Hartmann-6 (min -3.322), mean over {args.seeds} seeds "
                        f"({q_time:.0f} s for {2 * args.seeds * args.trials} training jobs)")
    for col in ("trial", "Bayesian", "Random", "Bayesian ahead by"):
        table.add_column(col, justify="right")
    for i in range(args.trials):
        b = statistics.mean(c[i] for c in curves["Bayesian"])
        r = statistics.mean(c[i] for c in curves["Random"])
        table.add_row(str(i + 1), f"{b:.3f}", f"{r:.3f}", f"{r - b:+.3f}")
    console.print(table)
    at = min(12, args.trials) - 1
    b12 = statistics.mean(c[at] for c in curves["Bayesian"])
    r12 = statistics.mean(c[at] for c in curves["Random"])
    console.print(f"by trial {at + 1}: Bayesian {b12:.3f} vs Random {r12:.3f} -> "
                  f"{'Bayesian ahead' if b12 < r12 else 'Bayesian NOT ahead'}")

    ideal = own / 2
    ot = Table(title="tuning overhead: 8 trials x 2 s, 2 in parallel")
    for col in ("wall s", "trials' own s", "ideal s (own/2)", "overhead", "target", "ratio"):
        ot.add_column(col, justify="right")
    over = wall / ideal - 1
    ot.add_row(f"{wall:.2f}", f"{own:.2f}", f"{ideal:.2f}", f"{over:.1%}", "10%",
               f"{over / 0.10:.2f}")
    console.print(ot)


if __name__ == "__main__":
    main()
