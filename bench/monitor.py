"""Benchmark: a data-quality baseline and a check over N rows x 21 columns (the churn data's
shape: 15 numbers, 6 strings), rows/s and peak RSS, next to peers on the same files in the
same run: Evidently's data-drift report and whylogs profiling.

Peers are not project dependencies. Each tool runs in its own subprocess (so peak RSS is
its own); a peer whose package is missing is skipped with a note. Point ``--peer-python``
at an interpreter that has them, e.g.::

    python3 -m venv /tmp/peers && /tmp/peers/bin/pip install evidently whylogs
    .venv/bin/python bench/monitor.py --rows 1000000 --peer-python /tmp/peers/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a child would report
# the parent's peak (which holds the generated data).
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

STACKYARD = """
import json, os, sys, time
from stackyard.monitor import DATA_QUALITY, DatasetFormat, run_check
base, cur, out = sys.argv[1:4]
fmt = DatasetFormat.csv(header=True)
t0 = time.perf_counter()
b = run_check(DATA_QUALITY, {"baseline_dataset": base, "dataset_format": fmt},
              output_dir=out + "/baseline")
t1 = time.perf_counter()
c = run_check(DATA_QUALITY, {"baseline_dataset": cur, "dataset_format": fmt},
              b["statistics"], b["constraints"], output_dir=out + "/check")
t2 = time.perf_counter()
print(json.dumps({"baseline_s": t1 - t0, "check_s": t2 - t1,
                  "violations": len(c["violations_list"]),
                  "rss_mb": peak_mb()}))
"""

EVIDENTLY = """
import json, sys, time
import pandas as pd
base, cur = sys.argv[1:3]
t0 = time.perf_counter()
ref, now = pd.read_csv(base), pd.read_csv(cur)
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    snap = Report([DataDriftPreset()]).run(reference_data=ref, current_data=now)
    snap.dict()
except ImportError:
    from evidently.report import Report
    from evidently.metric_preset import DataDriftPreset
    r = Report(metrics=[DataDriftPreset()]); r.run(reference_data=ref, current_data=now)
    r.as_dict()
t1 = time.perf_counter()
print(json.dumps({"baseline_s": 0.0, "check_s": t1 - t0,
                  "rss_mb": peak_mb()}))
"""

WHYLOGS = """
import json, sys, time
import pandas as pd
import whylogs as why
base, cur = sys.argv[1:3]
t0 = time.perf_counter()
for chunk in pd.read_csv(base, chunksize=200_000):
    why.log(chunk)
t1 = time.perf_counter()
for chunk in pd.read_csv(cur, chunksize=200_000):
    why.log(chunk)
t2 = time.perf_counter()
print(json.dumps({"baseline_s": t1 - t0, "check_s": t2 - t1,
                  "rss_mb": peak_mb()}))
"""


def make_data(path: Path, rows: int, seed: int, shift: float) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {
        "State": rng.choice([f"S{i:02d}" for i in range(50)], rows),
        "Account Length": rng.integers(1, 240, rows),
        "Area Code": rng.choice(["408", "415", "510"], rows),
        "Phone": [f"{a}-{b}" for a, b in zip(rng.integers(300, 999, rows),
                                            rng.integers(1000, 9999, rows), strict=True)],
        "Int'l Plan": rng.choice(["yes", "no"], rows, p=[.1, .9]),
        "VMail Plan": rng.choice(["yes", "no"], rows, p=[.3, .7]),
        "Churn": rng.choice(["True.", "False."], rows, p=[.15, .85]),
    }
    for i, name in enumerate(["VMail Message", "Day Mins", "Day Calls", "Day Charge", "Eve Mins",
                              "Eve Calls", "Eve Charge", "Night Mins", "Night Calls",
                              "Night Charge", "Intl Mins", "Intl Calls", "Intl Charge",
                              "CustServ Calls"]):
        x = rng.normal(100 + i + (shift if i == 1 else 0), 20, rows)
        cols[name] = np.round(x, 2) if i % 3 else np.round(x).astype(int)
    pd.DataFrame(cols).to_csv(path, index=False)


def run(python: str, code: str, *args: str) -> dict | str:
    p = subprocess.run([python, "-c", PEAK + code, *args], capture_output=True, text=True,
                       check=False)
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["failed"])[-1]
        return "skipped: " + last[:100]
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--peer-python", default=sys.executable)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base, cur = Path(tmp, "base.csv"), Path(tmp, "cur.csv")
        t = time.perf_counter()
        make_data(base, a.rows, 0, 0.0)
        make_data(cur, a.rows, 1, 15.0)
        print(f"data: 2 x {a.rows} rows x 21 columns "
              f"({base.stat().st_size / 2**20:.0f} MiB each), {time.perf_counter() - t:.0f}s")
        results = {"stackyard": run(sys.executable, STACKYARD, str(base), str(cur), tmp),
                   "evidently": run(a.peer_python, EVIDENTLY, str(base), str(cur)),
                   "whylogs": run(a.peer_python, WHYLOGS, str(base), str(cur))}
    ours = results["stackyard"]
    print(f"{'tool':10} {'baseline s':>11} {'check s':>9} {'rows/s (check)':>15} "
          f"{'peak RSS MiB':>13} {'stackyard faster':>17}")
    for tool, r in results.items():
        if isinstance(r, str):
            print(f"{tool:10} {r}")
            continue
        ratio = (f"{r['check_s'] / ours['check_s']:.1f}x" if isinstance(ours, dict)
                 and tool != "stackyard" else "")
        print(f"{tool:10} {r['baseline_s']:11.2f} {r['check_s']:9.2f} "
              f"{a.rows / r['check_s']:15,.0f} {r['rss_mb']:13.0f} {ratio:>17}")
    print("(evidently: reads both CSVs and builds the drift report, no separate baseline; "
          "whylogs: profiles each file, no comparison)")


if __name__ == "__main__":
    main()
