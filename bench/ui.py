"""Web UI speed on a big store: 10,000 runs inserted through the store API, and one real
run of a 200-step pipeline. A real ``stackyard ui`` process serves them; times are measured
from a client over loopback (median and worst of repeated requests), and, when Playwright
and Debian's chromium are installed, as a browser sees them (navigation until the page's
``load`` event: HTML, CSS, script, SVG laid out).

Targets (issue 14): the runs list with 10,000 runs renders in under 1 s (it is paged on the
server); a run page with 200 steps stays smooth.

Usage: python bench/ui.py [--runs 10000] [--steps 200] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

TARGET_S = 1.0


def fill(n_runs: int, n_steps: int) -> str:
    """10,000 finished runs of one pipeline, then a real run of an n-step chain; its id."""
    from stackyard.store import open_store
    from stackyard.workflow import Pipeline, step

    store = open_store()
    version = store.upsert_pipeline("bulk", '{"Name": "bulk", "Steps": []}', "bulk-1")
    for i in range(n_runs):
        run_id = f"20260101-{i // 10000:06d}-{i % 10000:06x}"
        store.create_run(run_id, "bulk", version, "{}", {"i": i})
        store.finish_run(run_id, ("Succeeded", "Failed", "Stopped")[i % 3])

    @step
    def noop(x):
        return x

    value = 0
    for _ in range(n_steps):
        value = noop(value)
    execution = Pipeline("chain", steps=[value]).start()
    execution.wait()
    return execution.run_id


def serve(home: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).with_name("stackyard")), "ui",
                             "--port", str(port)], env={**os.environ, "STACKYARD_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > end:
            raise SystemExit("stackyard ui did not start")
        time.sleep(0.05)


def http_times(url: str, repeat: int) -> tuple[float, float, int]:
    times = []
    with httpx.Client(timeout=60) as c:
        for _ in range(repeat):
            t = time.perf_counter()
            r = c.get(url)
            times.append(time.perf_counter() - t)
            r.raise_for_status()
    return statistics.median(times), max(times), len(r.content)


def browser_times(urls: list[str], repeat: int) -> list[tuple[float, float] | None]:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        return [None] * len(urls)
    out: list[tuple[float, float] | None] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for url in urls:
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                page.goto(url, wait_until="load")
                times.append(time.perf_counter() - t)
            out.append((statistics.median(times), max(times)))
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-ui-") as tmp:
        home = Path(tmp) / "home"
        os.environ["STACKYARD_HOME"] = str(home)
        t = time.perf_counter()
        run_id = fill(args.runs, args.steps)
        console.print(f"store: {args.runs:,} runs inserted and a {args.steps}-step run "
                      f"executed in {time.perf_counter() - t:.1f}s")
        proc, url = serve(home)
        try:
            pages = [("runs list, page 1", f"{url}/ui/runs"),
                     ("runs list, page 100", f"{url}/ui/runs?page=100"),
                     ("runs list, pipeline + status filter",
                      f"{url}/ui/runs?pipeline=bulk&status=Failed&page=20"),
                     (f"one run, {args.steps} steps (DAG, Gantt, table)",
                      f"{url}/ui/runs/{run_id}"),
                     ("pipelines list", f"{url}/ui/pipelines")]
            served = [http_times(u, args.repeat) for _, u in pages]
            seen = browser_times([u for _, u in pages], max(3, args.repeat // 4))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    table = Table(title=f"stackyard ui on {args.runs:,} runs (target: under {TARGET_S:g} s)")
    for col in ("page", "HTTP median ms", "HTTP worst ms", "KiB", "browser load median ms",
                "browser worst ms"):
        table.add_column(col, justify="left" if col == "page" else "right")
    ok = True
    for (name, _), (med, worst, size), b in zip(pages, served, seen, strict=True):
        ok &= worst < TARGET_S and (b is None or b[1] < TARGET_S)
        table.add_row(name, f"{med * 1000:.1f}", f"{worst * 1000:.1f}", f"{size / 1024:.0f}",
                      f"{b[0] * 1000:.0f}" if b else "-", f"{b[1] * 1000:.0f}" if b else "-")
    console.print(table)
    console.print("every page under the target" if ok else "[red]a page missed the target[/]")


if __name__ == "__main__":
    main()
