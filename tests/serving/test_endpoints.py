"""Managed endpoints: real server processes on loopback, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from serving_helpers import wait_until

from stackyard import serving
from stackyard.errors import UsageError
from stackyard.serving import Predictor

pytestmark = pytest.mark.slow
EXE = str(Path(sys.executable).parent / "stackyard")
ROWS = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])


def variant(name: str, ref: str, weight: float = 1.0, shadow: bool = False) -> dict:
    return {"name": name, "model": {"ref": ref}, "weight": weight, "shadow": shadow}


def post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/invocations", content=body,
                      headers={"Content-Type": "text/csv", **headers}, timeout=30)


def test_approval_gates_deployment(register) -> None:
    rejected = register("g", [1, 1, 1], 0, approve=False)
    from stackyard.registry import ModelRegistry

    ModelRegistry().update_approval(rejected, "Rejected")
    pending = register("g", [1, 1, 1], 0, approve=False)
    with pytest.raises(UsageError, match="Rejected"):
        serving.create_endpoint("e1", [variant("A", rejected)])
    with pytest.raises(UsageError, match="--allow-unapproved"):
        serving.create_endpoint("e1", [variant("A", pending)])
    out = subprocess.run([EXE, "endpoints", "create", "e1", "--model", rejected],
                         check=False, capture_output=True, text=True)
    assert out.returncode == 2 and "Rejected" in out.stderr
    assert serving.list_endpoints() == []
    d = serving.create_endpoint("e1", [variant("A", pending)], allow_unapproved=True)
    assert d["status"] == "InService"


def test_predictions_match_in_process_and_errors_are_4xx(register, home: Path) -> None:
    ref = register("g", [1.0, 2.0, 3.0], 0.5)
    d = serving.create_endpoint("e2", [variant("AllTraffic", ref)], capture_percent=100,
                                max_body_mb=0.001)
    p = Predictor("e2")
    np.testing.assert_allclose(p.predict(ROWS), ROWS @ [1, 2, 3] + 0.5)
    assert p.last_response.headers["X-Variant"] == "AllTraffic"
    url = d["url"]
    js = httpx.post(f"{url}/invocations", json=ROWS.tolist(),
                    headers={"Accept": "application/json"}).json()
    assert js["predictions"] == pytest.approx(list(ROWS @ [1, 2, 3] + 0.5))
    cases = [(b"1,2\n", "text/csv", 400, "expected 3 features"),
             (b"1,2,x\n", "text/csv", 400, "text/csv"),
             (b"[[1,2", "application/json", 400, "not valid JSON"),
             (b"1,2,3", "text/plain", 415, "text/plain"),
             (b"1," * 2000, "text/csv", 413, "exceeds")]
    for body, ct, code, words in cases:
        r = post(url, body, **{"Content-Type": ct})
        assert r.status_code == code, (body[:20], r.text)
        assert words in r.json()["error"]
    assert post(url, b"1,2,3", Accept="application/x-npy").status_code == 406
    files = wait_until(lambda: list(  # the capture writer is asynchronous
        (home / "home" / "capture" / "e2" / "AllTraffic").rglob("*.jsonl")))
    assert len(files[0].relative_to(
        home / "home" / "capture" / "e2" / "AllTraffic").parts) == 5  # YYYY/MM/DD/HH/file
    line = json.loads(files[0].read_text().splitlines()[0])
    assert line["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert set(line["eventMetadata"]) == {"eventId", "inferenceId", "inferenceTime"}
    metrics = httpx.get(f"{url}/metrics").text
    assert 'stackyard_invocations_total{variant="AllTraffic"}' in metrics
    assert "stackyard_model_latency_seconds_bucket" in metrics


def test_variants_target_header_and_weights(register) -> None:
    a = register("g", [1, 0, 0], 0)
    b = register("g", [0, 1, 0], 0)
    d = serving.create_endpoint("e3", [variant("A", a, 1), variant("B", b, 1)])
    seen = {"A": 0, "B": 0}
    for _ in range(60):
        r = post(d["url"], b"1,2,3")
        seen[r.headers["X-Variant"]] += 1
        assert float(r.text) == (1.0 if r.headers["X-Variant"] == "A" else 2.0)
    assert seen["A"] > 10 and seen["B"] > 10
    r = post(d["url"], b"1,2,3", **{"X-Target-Variant": "B"})
    assert r.headers["X-Variant"] == "B" and float(r.text) == 2.0
    assert post(d["url"], b"1,2,3", **{"X-Target-Variant": "Z"}).status_code == 400


def test_shadow_is_captured_and_never_slows_the_live_answer(register, home: Path) -> None:
    live = register("g", [1, 1, 1], 0)
    slow = register("g", [2, 2, 2], 0, sleep=1.0)
    d = serving.create_endpoint("e4", [variant("Live", live), variant("Shadow", slow,
                                                                        shadow=True)])
    shadow_dir = home / "home" / "capture" / "e4" / "Shadow"
    r = post(d["url"], b"1,2,3")
    assert r.headers["X-Variant"] == "Live" and float(r.text) == 6.0
    # the live answer came back while the shadow (1 s per request) was still working
    assert not list(shadow_dir.rglob("*.jsonl"))
    files = wait_until(lambda: list(shadow_dir.rglob("*.jsonl")))
    rec = json.loads(files[0].read_text().splitlines()[0])
    assert float(rec["captureData"]["endpointOutput"]["data"]) == 12.0
    assert rec["eventMetadata"]["inferenceId"] == r.headers["X-Inference-Id"]


def test_bandit_moves_traffic_to_the_rewarded_variant(register) -> None:
    good = register("g", [1, 0, 0], 0)
    bad = register("g", [0, 1, 0], 0)
    d = serving.create_endpoint("e5", [variant("Good", good), variant("Bad", bad)],
                                routing="bandit")
    counts = {"Good": 0, "Bad": 0}
    with httpx.Client() as c:
        for i in range(150):
            r = c.post(f"{d['url']}/invocations", content=b"1,2,3",
                       headers={"Content-Type": "text/csv"})
            v = r.headers["X-Variant"]
            if i >= 75:
                counts[v] += 1
            fb = c.post(f"{d['url']}/feedback", json={
                "inference_id": r.headers["X-Inference-Id"], "reward": 1.0 if v == "Good"
                else 0.0})
            assert fb.status_code == 200
    assert counts["Good"] > 3 * counts["Bad"], counts
    assert httpx.post(f"{d['url']}/feedback", json={"inference_id": "nope",
                                                    "reward": 1}).status_code == 404


def test_max_concurrency_answers_429(register) -> None:
    ref = register("g", [1, 1, 1], 0, sleep=0.5)
    d = serving.create_endpoint("e6", [variant("A", ref)], max_concurrency=1)
    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: post(d["url"], b"1,2,3"), range(6)))
    statuses = [r.status_code for r in codes]
    assert 200 in statuses and 429 in statuses
    assert next(r for r in codes if r.status_code == 429).headers["Retry-After"] == "1"


def test_blue_green_update_canary_and_rollback_lose_no_request(register) -> None:
    v1 = register("g", [1, 1, 1], 0)
    v2 = register("g", [1, 1, 1], 100)
    broken = register("g", [1, 1, 1], 0, fail_nonzero=True)
    d = serving.create_endpoint("e7", [variant("AllTraffic", v1)])
    failures: list[int] = []
    answers: list[float] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client() as c:
            while not stop.is_set():
                r = c.post(f"{d['url']}/invocations", content=b"1,2,3",
                           headers={"Content-Type": "text/csv"})
                (answers.append(float(r.text)) if r.status_code == 200
                 else failures.append(r.status_code))

    t = threading.Thread(target=client)
    t.start()
    try:
        res = serving.update_endpoint("e7", [variant("AllTraffic", v2)],
                                      traffic="canary:30%", bake_seconds=1.0)
    finally:
        stop.set()
        t.join()
    assert res["deployment"]["status"] == "Completed"
    assert failures == [] and 6.0 in answers and 106.0 in answers
    assert float(post(d["url"], b"1,2,3").text) == 106.0
    # a broken version passes the health check (zeros) but fails under traffic: rolled back
    stop.clear()
    failures.clear()
    t = threading.Thread(target=client)
    t.start()
    try:
        res = serving.update_endpoint("e7", [variant("AllTraffic", broken)], traffic="all",
                                      bake_seconds=3.0)
    finally:
        stop.set()
        t.join()
    assert res["deployment"]["status"] == "RolledBack", res["deployment"]
    assert "error rate" in res["deployment"]["reason"]
    assert float(post(d["url"], b"1,2,3").text) == 106.0
    assert serving.describe_endpoint("e7")["variants"][0]["model"] == v2


def test_restart_after_the_server_dies(register) -> None:
    ref = register("g", [1, 1, 1], 0)
    d = serving.create_endpoint("e8", [variant("A", ref)])
    os.kill(d["pid"], signal.SIGKILL)
    wait_until(lambda: serving.describe_endpoint("e8")["status"] == "Stopped")
    out = subprocess.run([EXE, "endpoints", "start", "e8"], check=False,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    again = serving.describe_endpoint("e8")
    assert again["status"] == "InService" and again["url"] == d["url"]
    assert float(post(d["url"], b"1,2,3").text) == 6.0
    desc = json.loads(subprocess.run([EXE, "endpoints", "describe", "e8", "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    assert {"url", "variants", "status", "pid"} <= set(desc)
    subprocess.run([EXE, "endpoints", "delete", "e8"], check=True, capture_output=True)
    assert serving.list_endpoints() == []


def test_inference_pipeline_behind_one_endpoint(register, home: Path) -> None:
    from serving_helpers import write_model

    scale = home / "scale"
    _, code = write_model(scale, [1, 1, 1], 0)  # placeholder weights for the package
    (code / "inference.py").write_text(
        "import numpy as np\n"
        "def model_fn(d):\n    return None\n"
        "def predict_fn(x, m):\n    return np.asarray(x) * 10\n"
        "def output_fn(p, accept):\n"
        "    return '\\n'.join(','.join(str(v) for v in row) for row in p), 'text/csv'\n")
    pre = {"dir": str(scale), "entry_point": "inference.py", "code_dir": str(code)}
    ref = register("g", [1, 2, 3], 0)
    d = serving.create_endpoint("e10", [{"name": "A", "model": {"pipeline": [
        pre, {"ref": ref}]}}])
    assert float(post(d["url"], b"1,1,1").text) == 60.0


def test_estimator_fit_then_deploy(home: Path) -> None:
    from serving_helpers import INFERENCE

    from stackyard.jobs import Estimator

    code = home / "est"
    code.mkdir()
    (code / "train.py").write_text(INFERENCE + '''
if __name__ == "__main__":
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "coef.json"), "w") as f:
        json.dump({"coef": [1, 2, 3], "bias": 1.0}, f)
''')
    est = Estimator(entry_point="train.py", source_dir=str(code))
    est.fit()
    predictor = est.deploy(endpoint_name="e9")
    np.testing.assert_allclose(predictor.predict(ROWS), ROWS @ [1, 2, 3] + 1.0)
    predictor.delete_endpoint()
    assert serving.list_endpoints() == []


def test_a_stackyard_ensemble_serves_without_inference_code(home: Path) -> None:
    """No entry point at all: the saved ensemble's manifest is enough."""
    import tarfile

    from sklearn.linear_model import LinearRegression, Ridge

    from stackyard.ensemble import EnsembleRegressor
    from stackyard.jobs import Model
    from stackyard.registry import ModelRegistry

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, 2.0, 3.0] + 0.5
    ens = EnsembleRegressor(members=[("lin", LinearRegression()), ("ridge", Ridge(1.0))],
                            cv=3).fit(X, y)
    ens.save(home / "ens")
    with tarfile.open(home / "ens.tar.gz", "w:gz") as t:
        for f in (home / "ens").iterdir():
            t.add(f, arcname=f.name)
    pkg = Model(model_data=str(home / "ens.tar.gz")).register(model_package_group_name="ens")
    ModelRegistry().update_approval(pkg.ref, "Approved")
    serving.create_endpoint("e11", [variant("A", pkg.ref)], workers=2)
    predictor = Predictor("e11")
    np.testing.assert_allclose(predictor.predict(ROWS), ens.predict(ROWS), rtol=1e-9)
    t0 = time.perf_counter()
    for _ in range(20):
        predictor.predict(ROWS)
    assert (time.perf_counter() - t0) / 20 < 0.03  # two workers: no 40 ms Nagle stalls
    assert post(serving.describe_endpoint("e11")["url"], b"1,2\n").status_code == 400


def _stopped_by_sigterm(name: str, home: Path) -> list[str]:
    """SIGTERM the endpoint's server as `kill` or systemd would; what it left unpacked."""
    from stackyard.runtime import alive
    from stackyard.store import open_store

    row = open_store().get_endpoint(name)
    os.kill(row["pid"], signal.SIGTERM)
    wait_until(lambda: not alive(row["pid"], row["pid_start"]), timeout=60)
    models = home / "home" / "serving" / "models"
    return os.listdir(models) if models.exists() else []


def test_the_server_honours_its_header_timeout_and_cleans_up_on_sigterm(register,
                                                                        home: Path) -> None:
    """The managed server's own settings reach the protocol it serves with (a 0.5 s header
    timeout, not the 10 s default), and a SIGTERM leaves no unpacked model behind."""
    import socket

    ref = register("g", [1, 1, 1], 0)
    d = serving.create_endpoint("ht", [variant("A", ref)], header_timeout=0.5)
    assert os.listdir(home / "home" / "serving" / "models")  # it unpacked its model
    host, port = d["url"].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.settimeout(8)  # under the 10 s default: only the configured 0.5 s cuts it
        slow.sendall(b"POST /invocations HTT")
        assert slow.recv(1024) == b""
    assert _stopped_by_sigterm("ht", home) == []


def test_two_workers_serve_and_leave_nothing_unpacked_on_sigterm(register,
                                                                 home: Path) -> None:
    ref = register("g", [1, 2, 3], 0)
    d = serving.create_endpoint("w2", [variant("A", ref)], workers=2)
    assert float(post(d["url"], b"1,1,1").text) == 6.0
    wait_until(lambda: len(os.listdir(home / "home" / "serving" / "models")) == 2)
    assert _stopped_by_sigterm("w2", home) == []
