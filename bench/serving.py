"""Endpoint latency and throughput: the seed-001 ensemble (CatBoost + XGBoost, mean blend)
behind ONE managed endpoint, driven over loopback from a separate client process.

The bench trains both members on ``load_diabetes`` (the seed-001 hyperparameters: 200
rounds, depth 3, eta 0.1), saves them into a model folder with an ``inference.py`` whose
``model_fn``/``input_fn``/``predict_fn``/``output_fn`` come from
``examples/diabetes_ensemble/code/train.py`` itself, and serves it with
``stackyard.serving.create_endpoint`` under a temporary ``STACKYARD_HOME``.

The load generator is wrk-style: a closed loop of C keep-alive HTTP/1.1 connections on
asyncio with raw sockets (``--client httpx`` uses ``httpx.AsyncClient`` instead), in its
own process. Every answer is checked against the in-process prediction; a wrong answer,
a non-200 or a broken connection is an error. Each level warms up first (not counted).

The limit is the same ensemble's ``predict_fn`` called in-process on one row; the p50
overhead of the endpoint over it at concurrency 1 has a target of <= 2 ms.

Threads: by default the server and the in-process limit run with ``OMP_NUM_THREADS=1``.
XGBoost's one-row predict otherwise opens an OpenMP team over every core; on a small,
shared machine a parallel region whose second thread is not scheduled waits a whole
scheduler slice, and the ensemble's one-row p50 went from ~0.7 ms to 20-40 ms here
(``--threads 0`` reproduces it). One row has no parallelism to gain.

Usage: python bench/serving.py [--seconds 10] [--soak-seconds 60] [--levels 1,8,32]
                               [--workers 1] [--client raw|httpx]
Quick: python bench/serving.py --seconds 2 --soak-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

OVERHEAD_TARGET_MS = 2.0
ENDPOINT = "bench-ensemble"

# The example's own training script is the entry point: its model_fn/input_fn/predict_fn/
# output_fn are what the endpoint serves (importing it runs no training).
ENTRY_POINT = Path(__file__).resolve().parents[1] / "examples" / "diabetes_ensemble" / \
    "code" / "train.py"


# ---- the model ---------------------------------------------------------------------------
def train(model_dir: Path) -> np.ndarray:
    """Fit both members on load_diabetes and save them; returns the feature matrix."""
    import xgboost as xgb
    from catboost import CatBoostRegressor
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    model_dir.mkdir(parents=True, exist_ok=True)
    cat = CatBoostRegressor(iterations=200, depth=3, learning_rate=0.1, verbose=0,
                            random_seed=0, thread_count=1, allow_writing_files=False)
    cat.fit(X, y)
    cat.save_model(str(model_dir / "catboost-regressor-model.cbm"))
    xgbm = xgb.XGBRegressor(n_estimators=200, max_depth=3, learning_rate=0.1,
                            objective="reg:squarederror", random_state=0, n_jobs=1)
    xgbm.fit(X, y)
    xgbm.save_model(str(model_dir / "xgboost-model.json"))
    (model_dir / "inference.py").write_text(ENTRY_POINT.read_text())
    return X


def load_entry(model_dir: Path) -> Any:
    spec = importlib.util.spec_from_file_location("bench_inference", model_dir / "inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fns: dict[str, Any], seconds: float, min_calls: int = 200) -> dict[str, np.ndarray]:
    """Latencies (s) of each fn(), called in turn (so all see the same machine load) for
    about ``seconds`` after a warm-up."""
    for _ in range(50):
        for fn in fns.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(out[next(iter(fns))]) < min_calls:
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return {k: np.asarray(v) for k, v in out.items()}


def in_process(model_dir: Path, row: np.ndarray, body: bytes, seconds: float
               ) -> dict[str, np.ndarray]:
    from stackyard.inference import ModelHandler

    m = load_entry(model_dir)
    model = m.model_fn(str(model_dir))
    handler = ModelHandler(model_dir, "inference.py")
    return timed({"predict_fn": lambda: m.predict_fn(row, model),
                  "handler": lambda: handler.invoke(body, "text/csv", "text/csv")}, seconds)


# ---- the load generator (runs in its own process) ----------------------------------------
_CL = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def _answer_ok(payload: bytes, expected: float) -> bool:
    try:
        got = float(payload.split(b"\n", 1)[0])
    except ValueError:
        return False
    return abs(got - expected) <= 1e-6 * max(1.0, abs(expected))


async def _raw_worker(host: str, port: int, request: bytes, expected: float, start: float,
                      end: float, lat: list[float], errors: Counter) -> None:
    reader = writer = None
    while (now := time.perf_counter()) < end:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.perf_counter()
            async with asyncio.timeout(30):
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                m = _CL.search(head)
                payload = await reader.readexactly(int(m.group(1))) if m else b""
            t1 = time.perf_counter()
            if now < start:
                continue  # warm-up
            status = int(head[9:12])
            if status != 200:
                errors[f"HTTP {status}"] += 1
            elif not _answer_ok(payload, expected):
                errors["wrong answer"] += 1
            else:
                lat.append(t1 - t0)
            if b"connection: close" in head.lower():
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ValueError, AttributeError) as e:
            if now >= start:
                errors[type(e).__name__] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _httpx_worker(client: Any, url: str, body: bytes, expected: float, start: float,
                        end: float, lat: list[float], errors: Counter) -> None:
    import httpx

    while (now := time.perf_counter()) < end:
        try:
            t0 = time.perf_counter()
            r = await client.post(url, content=body, headers={"Content-Type": "text/csv"})
            t1 = time.perf_counter()
        except httpx.HTTPError as e:
            if now >= start:
                errors[type(e).__name__] += 1
            continue
        if now < start:
            continue
        if r.status_code != 200:
            errors[f"HTTP {r.status_code}"] += 1
        elif not _answer_ok(r.content, expected):
            errors["wrong answer"] += 1
        else:
            lat.append(t1 - t0)


async def _drive(url: str, body: bytes, expected: float, concurrency: int, seconds: float,
                 warmup: float, client: str) -> tuple[list[float], Counter]:
    host, port = url.removeprefix("http://").split(":")
    request = (f"POST /invocations HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: text/csv\r\nAccept: text/csv\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    lat: list[float] = []
    errors: Counter = Counter()
    start = time.perf_counter() + warmup
    end = start + seconds
    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency,
                              max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=30) as c:
            await asyncio.gather(*(_httpx_worker(c, f"{url}/invocations", body, expected,
                                                 start, end, lat, errors)
                                   for _ in range(concurrency)))
    else:
        await asyncio.gather(*(_raw_worker(host, int(port), request, expected, start, end,
                                           lat, errors) for _ in range(concurrency)))
    return lat, errors


def load(url: str, body: bytes, expected: float, concurrency: int, seconds: float,
         warmup: float, client: str) -> dict[str, Any]:
    """Entry point of the client process."""
    cpu0 = time.process_time()
    lat, errors = asyncio.run(_drive(url, body, expected, concurrency, seconds, warmup,
                                     client))
    return {"lat": np.asarray(lat), "errors": dict(errors),
            "client_cpu": (time.process_time() - cpu0) / (seconds + warmup)}


# ---- server CPU --------------------------------------------------------------------------
def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                f = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(p.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)
    total, todo = 0.0, [pid]
    while todo:
        q = todo.pop()
        total += stats.get(q, (0, 0.0))[1]
        todo += [c for c, (ppid, _) in stats.items() if ppid == q]
    return total


def app_timers(url: str) -> dict[str, float]:
    """Sums and counts of the server's own latency histograms (one worker's view)."""
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    out = {}
    for name in ("model_latency", "overhead_latency"):
        for part in ("sum", "count"):
            m = re.search(rf"^stackyard_{name}_seconds_{part}{{[^}}]*}} (\S+)$", text,
                          re.MULTILINE)
            out[f"{name}_{part}"] = float(m.group(1)) if m else 0.0
    return out


# ---- the bench ---------------------------------------------------------------------------
def ms(x: float) -> str:
    return f"{x * 1000:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--soak-seconds", type=float, default=60.0,
                        help="the soak run at the highest concurrency (0: skip)")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, not counted")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--threads", type=int, default=1,
                        help="OMP_NUM_THREADS for the server and the in-process limit "
                             "(0: leave it unset; see the note in the module docstring)")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    if args.threads > 0:  # before xgboost (libgomp) is loaded here or in the server
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load0 = os.getloadavg()

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))
    tmp = tempfile.TemporaryDirectory(prefix="stackyard-bench-serving-")
    os.environ["STACKYARD_HOME"] = str(Path(tmp.name) / "home")
    from stackyard import serving
    from stackyard.serving._control import endpoint_dir

    model_dir = Path(tmp.name) / "model"
    console.print("training CatBoost + XGBoost on load_diabetes ...")
    X = train(model_dir)
    row = X[:1]
    body = (",".join(repr(float(v)) for v in row[0]) + "\n").encode()
    entry = load_entry(model_dir)
    expected = float(entry.predict_fn(row, entry.model_fn(str(model_dir)))[0])

    console.print("in-process limit ...")
    limit = in_process(model_dir, row, body, seconds=min(3.0, max(args.seconds / 2, 1.0)))
    p50_limit = float(np.percentile(limit["predict_fn"], 50))

    console.print(f"starting endpoint {ENDPOINT} (workers={args.workers}) ...")
    ctx = mp.get_context("spawn")
    results: list[tuple[int, dict[str, Any]]] = []
    soak: dict[str, Any] | None = None
    try:
        ep = serving.create_endpoint(ENDPOINT, [{"name": "AllTraffic", "model": {
            "dir": str(model_dir), "entry_point": "inference.py"}}], workers=args.workers)
        url, pid = ep["url"], ep["pid"]
        with ctx.Pool(1) as pool:
            def run(c: int, seconds: float) -> dict[str, Any]:
                s0, a0 = tree_cpu(pid), app_timers(url)
                t0 = time.perf_counter()
                r = pool.apply(load, (url, body, expected, c, seconds, args.warmup,
                                      args.client))
                r["server_cpu"] = (tree_cpu(pid) - s0) / (time.perf_counter() - t0)
                a1 = app_timers(url)
                r["app"] = {k: a1[k] - a0[k] for k in a0}  # warm-up included
                r["seconds"] = seconds
                return r

            for c in levels:
                console.print(f"concurrency {c} for {args.seconds:g} s ...")
                results.append((c, run(c, args.seconds)))
            if args.soak_seconds > 0:
                console.print(f"soak: concurrency {max(levels)} for {args.soak_seconds:g} s ...")
                soak = run(max(levels), args.soak_seconds)
        log_tail = (endpoint_dir(ENDPOINT) / "server.log").read_text(
            errors="replace").splitlines()[-5:]
    finally:
        if any(e["name"] == ENDPOINT for e in serving.list_endpoints()):
            serving.delete_endpoint(ENDPOINT)
        tmp.cleanup()

    # ---- report ---------------------------------------------------------------------------
    env = (f"{os.cpu_count()} CPUs, load avg {load0[0]:.1f} -> {os.getloadavg()[0]:.1f}, "
           f"python {sys.version.split()[0]}, workers={args.workers}, "
           f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
           f"client={args.client}")
    console.print(env)
    t = Table(title="in-process, one row (the limit)")
    for col in ("path", "calls", "p50 ms", "p99 ms"):
        t.add_column(col, justify="right" if col != "path" else "left")
    for name, label in (("predict_fn", "predict_fn(row, model)  [the limit]"),
                        ("handler", "ModelHandler.invoke(csv bytes)  [the whole handler]")):
        lat = limit[name]
        t.add_row(label, str(len(lat)), ms(np.percentile(lat, 50)), ms(np.percentile(lat, 99)))
    console.print(t)

    t = Table(title=f"endpoint over loopback, {args.seconds:g} s per level, one row per "
                    f"request")
    for col in ("concurrency", "requests", "req/s", "p50 ms", "p99 ms", "errors",
                "server CPU", "client CPU", "p50 overhead ms", "target ms", "ratio", "result"):
        t.add_column(col, justify="right")
    for c, r in results:
        lat, errs = r["lat"], sum(r["errors"].values())
        p50 = float(np.percentile(lat, 50)) if len(lat) else float("nan")
        p99 = float(np.percentile(lat, 99)) if len(lat) else float("nan")
        over = p50 - p50_limit
        if c == 1:
            ratio = over * 1000 / OVERHEAD_TARGET_MS
            verdict = "[green]PASS[/]" if ratio <= 1 and errs == 0 else "[red]FAIL[/]"
            target, ratio_s = f"<= {OVERHEAD_TARGET_MS:g}", f"{ratio:.2f}"
        else:
            target, ratio_s, verdict = "-", "-", "[green]ok[/]" if errs == 0 else "[red]errors[/]"
        t.add_row(str(c), str(len(lat) + errs), f"{(len(lat) + errs) / r['seconds']:.0f}",
                  ms(p50), ms(p99), str(errs), f"{r['server_cpu']:.0%}",
                  f"{r['client_cpu']:.0%}", ms(over), target, ratio_s, verdict)
    console.print(t)
    for c, r in results:
        if r["errors"]:
            console.print(f"  errors at concurrency {c}: {r['errors']}")

    one = dict(results).get(1)
    if one is not None and args.workers == 1 and one["app"]["model_latency_count"]:
        app = one["app"]
        e2e = float(one["lat"].mean())
        call = app["model_latency_sum"] / app["model_latency_count"]
        inapp = app["overhead_latency_sum"] / app["overhead_latency_count"]
        handler = float(limit["handler"].mean())
        pred = float(limit["predict_fn"].mean())
        t = Table(title="where the time goes at concurrency 1 (means, ms; the server's own "
                        "histograms from /metrics)")
        for col in ("part", "ms", "share"):
            t.add_column(col, justify="left" if col == "part" else "right")
        rows = [
            ("end to end, as the client saw it", e2e),
            ("  predict_fn (in-process, the limit)", pred),
            ("  + decode check, input_fn, output_fn (in-process handler - predict_fn)",
             handler - pred),
            ("  + worker-thread hop, GIL hand-offs (server's model call - in-process handler)",
             call - handler),
            ("  + app code outside the model (routing, metrics, ids, response object)", inapp),
            ("  + outside the app: uvicorn/h11, FastAPI middleware, loopback TCP, client",
             e2e - call - inapp),
        ]
        for part, v in rows:
            t.add_row(part, ms(v), f"{v / e2e:.0%}")
        console.print(t)

    if soak is not None:
        t = Table(title=f"soak: concurrency {max(levels)} for {args.soak_seconds:g} s")
        for col in ("requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "target",
                    "result"):
            t.add_column(col, justify="right")
        lat, errs = soak["lat"], sum(soak["errors"].values())
        t.add_row(str(len(lat) + errs), f"{(len(lat) + errs) / soak['seconds']:.0f}",
                  ms(np.percentile(lat, 50)), ms(np.percentile(lat, 99)), ms(lat.max()),
                  str(errs), "0 errors",
                  "[green]PASS[/]" if errs == 0 else f"[red]FAIL[/] {soak['errors']}")
        console.print(t)
    if any(r["errors"] for _, r in results) or (soak and soak["errors"]):
        console.print("server.log tail:\n" + "\n".join(log_tail))


if __name__ == "__main__":
    main()
