"""What the job runtime adds to one subprocess job: lay out the job folder, start the
launcher, enter the sandbox, fork the job, record its exit, notice it. The job is a no-op
Python script; its own run time (measured by the launcher around the user's process,
Python start-up included) is subtracted. Engine bookkeeping (SQLite, outputs, cache keys)
is not included: ``bench/engine_overhead.py`` measures the whole step.

Usage: python bench/job_overhead.py [--jobs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STACKYARD_HOME"] = str(Path(tmp) / "home")
        from stackyard import runtime

        script = Path(tmp) / "noop.py"
        script.write_text("pass\n")
        spec = runtime.processing_spec("bench", {
            "AppSpecification": {"ContainerEntrypoint": [
                "python3", "/opt/ml/processing/input/code/noop.py"]},
            "ProcessingInputs": [{"InputName": "code", "S3Input": {
                "S3Uri": script.as_uri(), "LocalPath": "/opt/ml/processing/input/code"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": None, "LocalPath": "/opt/ml/processing/out"}}]}})
        prepare, rest, own = [], [], []
        for i in range(args.jobs):
            job_dir = Path(tmp) / f"job-{i}"
            t0 = time.perf_counter()
            runtime.prepare(spec, job_dir)
            t1 = time.perf_counter()
            result = runtime.wait(job_dir, runtime.start(job_dir), None, None)
            t2 = time.perf_counter()
            assert result.ok, result.reason
            prepare.append(t1 - t0)
            rest.append(t2 - t1 - result.duration)
            own.append(result.duration)
        bare = []
        for _ in range(args.jobs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
            bare.append(time.perf_counter() - t0)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:6.1f} ms"

    total = [p + r for p, r in zip(prepare, rest, strict=True)]
    print(f"job overhead, {args.jobs} no-op jobs, {os.cpu_count()} CPUs (medians)")
    print(f"  prepare (job folder)              {ms(prepare)}")
    print(f"  launch, sandbox, exit, notice     {ms(rest)}")
    print(f"  overhead per job                  {ms(total)}   target {TARGET_MS:.0f} ms")
    print(f"  the job's own run time            {ms(own)}")
    print(f"  a bare `python -I -S -c pass`     {ms(bare)}")


if __name__ == "__main__":
    main()
