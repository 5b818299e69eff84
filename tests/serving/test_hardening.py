"""Endpoint hardening: option checks, width, error bodies, header timeout, finite JSON,
tokens, and updates with a deadline. In-thread servers (fast) unless marked slow."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serving_helpers import LiveServer, wait_until, write_model

from stackyard import serving
from stackyard.errors import UsageError
from stackyard.serving._control import endpoint_dir, parse_variant, token_path
from stackyard.serving._fleet import build_fleet
from stackyard.serving._server import health_check

TOKEN = "s3cret-token-0123456789abcdef"


def dir_variant(root: Path, coef: list[float], name: str = "A", **extra: Any) -> dict:
    """A model folder (no registry) served with the fixture's inference script."""
    sample = extra.pop("sample_payload", None)
    _, code = write_model(root, coef, 0.0, **extra)
    model = {"dir": str(root), "entry_point": "inference.py", "code_dir": str(code)}
    if sample is not None:
        model["sample_payload"] = sample
    return {"name": name, "model": model}


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: NaN and Infinity are not JSON."""
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in a JSON answer")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def server(tmp_path: Path):
    servers: list[LiveServer] = []

    def make(variants: list[dict], **config: Any) -> LiveServer:
        token = config.pop("token", None)
        s = LiveServer({"variants": variants, **config}, token=token)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


# ---- item 10: options are checked before anything is written -------------------------------
BAD_OPTIONS = [
    ({"weights": [0, 0]}, "all 0"),
    ({"weights": [float("nan"), 1]}, "finite"),
    ({"weights": [float("inf"), 1]}, "finite"),
    ({"weights": [-1, 1]}, ">= 0"),
    ({"max_body_mb": -1}, "--max-body-mb"),
    ({"max_body_mb": 0}, "--max-body-mb"),
    ({"max_body_mb": float("nan")}, "--max-body-mb"),
    ({"max_body_mb": float("inf")}, "--max-body-mb"),
    ({"max_concurrency": 0}, "--max-concurrency"),
    ({"max_concurrency": 1.5}, "--max-concurrency"),
    ({"workers": 0}, "--workers"),
    ({"capture_percent": float("nan")}, "--capture-percent"),
    ({"capture_percent": 101}, "--capture-percent"),
    ({"port": 70000}, "--port"),
    ({"header_timeout": 0}, "header timeout"),
    ({"host": "0.0.0.0"}, "--auth-token"),
    ({"host": "0.0.0.0", "auth_token": "short"}, "16 printable"),
    ({"name": "bad/name"}, "endpoint name"),
    ({"names": ["A", "b c"]}, "variant name"),
]


@pytest.mark.parametrize(("options", "words"), BAD_OPTIONS, ids=lambda v: str(v)[:40])
def test_bad_endpoint_options_are_refused_before_anything_is_written(
        tmp_path: Path, stackyard_home: Path, options: dict, words: str) -> None:
    options = dict(options)
    weights = options.pop("weights", [1, 1])
    names = options.pop("names", ["A", "B"])
    name = options.pop("name", "e")
    variants = [{"name": n, "model": {"dir": str(tmp_path)}, "weight": w}
                for n, w in zip(names, weights, strict=True)]
    with pytest.raises(UsageError, match=words):
        serving.create_endpoint(name, variants, wait=False, **options)
    assert serving.list_endpoints() == []
    assert not (stackyard_home / "endpoints").exists()


@pytest.mark.parametrize("text", ["A=g/1:nan", "A=g/1:inf", "A=g/1:-1", "A=g/1:x",
                                  "A=g/1:\u0661"])
def test_variant_weights_on_the_command_line_are_finite(text: str) -> None:
    with pytest.raises(UsageError, match="weight"):
        parse_variant(text)


# ---- item 10: the width never comes from traffic; bad input is never a 500 -------------------
def test_width_is_not_learnt_from_the_first_request(tmp_path: Path, server) -> None:
    live = server([dir_variant(tmp_path / "m", [1.0, 2.0, 3.0], no_width=True)])
    csv = {"Content-Type": "text/csv"}
    first = live.client.post("/invocations", content=b"1,2\n", headers=csv)
    assert first.status_code == 400, first.text  # the model refused it: the client's fault
    assert "refused this input" in first.json()["error"]
    good = live.client.post("/invocations", content=b"1,2,3\n", headers=csv)
    assert good.status_code == 200 and float(good.text) == 14.0
    assert live.client.post("/invocations", content=b"1,2,3,4\n",
                            headers=csv).status_code == 400
    assert live.client.post("/invocations", content=b"1,1,1\n", headers=csv).status_code == 200


def test_404_and_405_answer_json_errors(tmp_path: Path, server) -> None:
    live = server([dir_variant(tmp_path / "m", [1.0])])
    for method, path, code in [("GET", "/nope", 404), ("GET", "/invocations", 405),
                               ("DELETE", "/ping", 405), ("GET", "/docs", 404)]:
        r = live.client.request(method, path)
        assert r.status_code == code and r.json()["error"], (path, r.text)


# ---- item 10: a header-read timeout for slow clients ----------------------------------------
def test_a_client_that_never_finishes_its_headers_is_cut_off(tmp_path: Path, server) -> None:
    live = server([dir_variant(tmp_path / "m", [1.0])], header_timeout=0.5)
    host, port = live.url.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.settimeout(20)  # a bound for a broken server, not a timing assertion
    slow.sendall(b"POST /invocations HTT")  # half a request line, then nothing
    # others are served meanwhile
    r = live.client.post("/invocations", content=b"2\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and float(r.text) == 2.0
    assert slow.recv(1024) == b""  # the server closed it
    slow.close()
    # same after a complete request on a kept-alive connection
    kept = socket.create_connection((host, int(port)))
    kept.settimeout(20)
    kept.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /pi")
    got = b""
    while chunk := kept.recv(1024):
        got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    kept.close()


# ---- item 11: answers are valid JSON ------------------------------------------------------
def test_non_finite_predictions_are_null_in_json(tmp_path: Path, server) -> None:
    live = server([dir_variant(tmp_path / "m", [1.0, 1.0])])
    r = live.client.post("/invocations", content=b"nan,1\n1,2\n1e308,1e308\n",
                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
    assert r.status_code == 200
    assert strict_json(r.text) == {"predictions": [None, 3.0, None]}
    r = live.client.post("/invocations", content=b"nan,1\n1,2\n",
                         headers={"Content-Type": "text/csv",
                                  "Accept": "application/jsonlines"})
    assert [strict_json(ln) for ln in r.text.splitlines()] == [{"prediction": None},
                                                               {"prediction": 3.0}]


# ---- item 20: tokens ------------------------------------------------------------------------
def test_a_token_guards_everything_but_ping(tmp_path: Path, server) -> None:
    live = server([dir_variant(tmp_path / "m", [1.0])], token=TOKEN, routing="bandit")
    calls = [("POST", "/invocations", b"1\n"), ("GET", "/metrics", b""),
             ("GET", "/variants", b""),
             ("POST", "/feedback", b'{"inference_id": "x", "reward": 1}')]
    for header in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for method, path, body in calls:
            r = live.client.request(method, path, content=body,
                                    headers={"Content-Type": "text/csv", **header})
            assert r.status_code == 401 and "Bearer" in r.json()["error"], (path, header)
    assert live.client.get("/ping").status_code == 200
    ok = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"}
    r = live.client.post("/invocations", content=b"3\n", headers=ok)
    assert r.status_code == 200 and float(r.text) == 3.0
    assert live.client.get("/metrics", headers=ok).status_code == 200


@pytest.mark.slow
def test_managed_endpoint_beyond_loopback_keeps_its_token_secret(
        tmp_path: Path, stackyard_home: Path) -> None:
    variant = dir_variant(tmp_path / "m", [1.0, 2.0])
    with pytest.raises(UsageError, match="--auth-token"):
        serving.create_endpoint("open", [variant], host="0.0.0.0")
    assert serving.list_endpoints() == []
    token_file = tmp_path / "my token ü"
    token_file.write_text(TOKEN + "\n")
    d = serving.create_endpoint("guarded", [variant], host="0.0.0.0",
                                auth_token_file=token_file)
    try:
        assert stat.S_IMODE(token_path("guarded").stat().st_mode) == 0o600
        url = d["url"].replace("0.0.0.0", "127.0.0.1")
        assert httpx.post(f"{url}/invocations", content=b"1,1").status_code == 401
        r = httpx.post(f"{url}/invocations", content=b"1,1",
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and float(r.text) == 3.0
        con = sqlite3.connect(stackyard_home / "stackyard.db")
        rows = con.execute("SELECT * FROM endpoints").fetchall()
        con.close()
        assert TOKEN not in repr(rows)
        for f in endpoint_dir("guarded").iterdir():
            if f.name != "token":
                assert TOKEN not in f.read_text(errors="replace"), f
    finally:
        serving.delete_endpoint("guarded")
    assert not token_path("guarded").exists()


# ---- item 16: health checks send a request to every variant ---------------------------------
def test_health_check_needs_something_to_send(tmp_path: Path) -> None:
    unknown = dir_variant(tmp_path / "a", [1.0, 2.0], no_width=True)
    with pytest.raises(UsageError, match="nothing to health-check"):
        health_check(build_fleet({"variants": [unknown]}))
    sampled = dir_variant(tmp_path / "b", [1.0, 2.0], no_width=True, sample_payload="1,2\n")
    health_check(build_fleet({"variants": [sampled]}))
    broken = dir_variant(tmp_path / "c", [1.0, 2.0], no_width=True, fail_nonzero=True,
                         sample_payload=[[1, 2]])
    with pytest.raises(UsageError, match="did not answer its health-check"):
        health_check(build_fleet({"variants": [broken]}))
    zeros_pass = dir_variant(tmp_path / "d", [1.0, 2.0], fail_nonzero=True)  # known width
    health_check(build_fleet({"variants": [zeros_pass]}))


def test_baseline_statistics_give_the_health_check_a_row(tmp_path: Path, register) -> None:
    from stackyard.registry import ModelRegistry
    from stackyard.serving._fleet import _sample

    stats = {"features": [{"name": f"f{i}", "numerical_statistics": {"mean": m}}
                          for i, m in enumerate([0.5, -1.0])]}
    assert _sample({"drift_check_baselines": {"ModelDataQuality": {
        "Statistics": {"content": stats}}}}) == [[0.5, -1.0]]
    assert _sample({"sample_payload": "1,2", "drift_check_baselines": {}}) == "1,2"
    ref = register("g", [1.0, 2.0], 0.0, no_width=True)
    assert _sample(ModelRegistry().describe(ref)) is None


# ---- item 16: updates end: by their deadline, or when the server dies -----------------------
@pytest.mark.slow
def test_update_past_its_timeout_rolls_back(register) -> None:
    old = register("g", [1, 1, 1], 0)
    new = register("g", [1, 1, 1], 100)
    d = serving.create_endpoint("t1", [{"name": "A", "model": {"ref": old}}])
    res = serving.update_endpoint("t1", [{"name": "A", "model": {"ref": new}}],
                                  bake_seconds=60, timeout=1.5)
    assert res["deployment"]["status"] == "RolledBack", res["deployment"]
    assert "--timeout" in res["deployment"]["reason"]
    last = res["updates"][0]["steps"][-1]
    assert last["step"] == "rolled-back" and "--timeout" in last["text"]
    # the server drops the new fleet: the old model answers again
    wait_until(lambda: float(httpx.post(f"{d['url']}/invocations", content=b"1,2,3").text)
               == 6.0)
    assert serving.describe_endpoint("t1")["variants"][0]["model"] == old
    with pytest.raises(UsageError, match="--timeout"):
        serving.update_endpoint("t1", [{"name": "A", "model": {"ref": new}}],
                                timeout=float("nan"))


@pytest.mark.slow
def test_update_fails_when_the_server_dies_and_the_old_fleet_comes_back(register) -> None:
    old = register("g", [1, 1, 1], 0)
    new = register("g", [1, 1, 1], 100)
    d = serving.create_endpoint("t2", [{"name": "A", "model": {"ref": old}}])
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.update(serving.update_endpoint(
        "t2", [{"name": "A", "model": {"ref": new}}], bake_seconds=60)))
    t.start()
    wait_until(lambda: (serving.describe_endpoint("t2")["deployment"] or {}).get("status")
               == "Shifting")
    os.kill(d["pid"], signal.SIGKILL)
    t.join(timeout=30)
    assert not t.is_alive()
    assert result["deployment"]["status"] == "Failed"
    assert "exited" in result["deployment"]["reason"]
    names = [s["step"] for s in result["updates"][0]["steps"]]
    assert "shifted" in names and names[-1] == "failed"
    serving.start_endpoint("t2")
    assert float(httpx.post(f"{d['url']}/invocations", content=b"1,2,3").text) == 6.0


def test_answers_are_numbers_in_csv(tmp_path: Path, server) -> None:
    """CSV answers keep nan/inf spelled as Python floats (what the README promises)."""
    live = server([dir_variant(tmp_path / "m", [1.0])])
    r = live.client.post("/invocations", content=b"nan\n2\n", headers={
        "Content-Type": "text/csv"})
    assert np.isnan(float(r.text.split()[0])) and float(r.text.split()[1]) == 2.0
