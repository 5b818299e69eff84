"""The HTTP API walked route by route against a real uvicorn on loopback, with real runs,
a real registry and a real waiting callback step."""

from __future__ import annotations

import json
import threading
import time

import pytest
from server_helpers import LOGGED, QUICK, TALK, model_tar, wait_until

from stackyard import engine
from stackyard.cli._runs import load_pipeline
from stackyard.registry import ModelRegistry


def _run(sy, name: str, fail: bool = False) -> str:
    flag = sy.tmp / f"flag-{name}"
    if fail:
        flag.write_text("x")
    path = sy.write(f"{name.replace('-', '_')}.py", QUICK, NAME=name, FLAG=str(flag))
    ex = load_pipeline(path).start()
    ex.wait()
    return ex.run_id


def test_runs_list_filters_and_pages_describe_steps_attempts(sy, api):
    quick = [_run(sy, "quick") for _ in range(3)]
    broken = _run(sy, "broken", fail=True)
    c = api.client()
    page = c.get("/api/runs").json()
    assert page["total"] == 4 and page["next_offset"] is None
    assert page["runs"][0]["run_id"] == broken      # newest first
    assert {r["run_id"] for r in c.get("/api/runs?pipeline=quick").json()["runs"]} == set(quick)
    failed = c.get("/api/runs", params={"status": "Failed"}).json()
    assert [r["run_id"] for r in failed["runs"]] == [broken] and failed["total"] == 1
    first = c.get("/api/runs?limit=3").json()
    rest = c.get(f"/api/runs?limit=3&offset={first['next_offset']}").json()
    assert first["next_offset"] == 3 and rest["next_offset"] is None
    assert len({r["run_id"] for r in first["runs"] + rest["runs"]}) == 4
    future = time.time() + 3600
    assert c.get(f"/api/runs?since={future}").json()["total"] == 0
    assert c.get(f"/api/runs?until={future}").json()["total"] == 4

    d = c.get(f"/api/runs/{broken}").json()
    assert d == json.loads(json.dumps(engine.describe_run(broken)))
    assert d["status"] == "Failed" and "flag present" in d["failure_reason"]
    (step,) = c.get(f"/api/runs/{broken}/steps").json()
    assert step["name"] == "Answer" and step["status"] == "Failed"
    attempts = c.get(f"/api/runs/{broken}/steps/Answer/attempts")
    assert attempts.status_code == 200 and isinstance(attempts.json(), list)
    for url, code in ((f"/api/runs/{broken}/steps/Nope/attempts", 404),
                      ("/api/runs/20990101-000000-abcdef", 404),
                      ("/api/runs/a%20b", 400), ("/api/runs?status=Happy", 400),
                      ("/api/runs?limit=0", 400), ("/api/runs?limit=١", 400),
                      ("/api/runs?since=nan", 400), ("/api/runs?offset=-1", 400)):
        r = c.get(url)
        assert r.status_code == code, (url, r.text)
        assert set(r.json()) == {"error"}

    pipes = {p["name"]: p for p in c.get("/api/pipelines").json()}
    assert pipes["quick"]["runs"] == 3 and pipes["broken"]["latest_version"] == 1
    assert c.get("/api/pipelines/quick").json()["versions"][0]["definition"]["Name"] == "quick"
    assert c.get("/api/pipelines/quick/versions/1").json()["version"] == 1
    assert c.get("/api/pipelines/quick/versions/2").status_code == 404
    assert c.get("/api/pipelines/nosuch").status_code == 404


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_retry_and_resume_run_in_their_own_process_and_stop_says_the_state(sy, api,
                                                                             monkeypatch):
    broken = _run(sy, "broken", fail=True)
    c = api.client()
    assert c.post(f"/api/runs/{broken}/stop", json={}).json()["status"] == "Failed"
    (sy.tmp / "flag-broken").unlink()
    # a server whose own environment names it (a shell profile's STACKYARD_URL): the
    # process it starts must drive the run here, not hand the retry back to the server
    monkeypatch.setenv("STACKYARD_URL", api.url)
    started = c.post(f"/api/runs/{broken}/retry", json={})
    assert started.status_code == 202, started.text
    assert started.json()["action"] == "retry" and started.json()["pid"] > 0
    wait_until(lambda: engine.describe_run(broken)["status"] == "Succeeded", 60,
               "the retried run to succeed")
    (log,) = (sy.home / "runs" / broken).glob("retry-*.log")
    wait_until(lambda: f"run {broken} ended: Succeeded" in log.read_text(), 30, "its log")
    for verb in ("retry", "resume"):     # a Succeeded run has nothing to finish
        r = c.post(f"/api/runs/{broken}/{verb}", json={})
        assert r.status_code == 409 and "Succeeded" in r.json()["error"]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_logs_stream_while_the_run_executes_as_text_and_as_events(sy, api):
    go = sy.tmp / "go"
    code = sy.write("code/talk.py", TALK, GO=str(go))
    ex = load_pipeline(sy.write("logged.py", LOGGED, CODE=str(code))).start()
    c = api.client()
    seen = []
    with c.stream("GET", f"/api/runs/{ex.run_id}/logs", params={"follow": "true"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        for text in r.iter_text():
            seen.append(text)
            if "first line é" in "".join(seen) and not go.exists():
                assert engine.describe_run(ex.run_id)["status"] == "Executing"
                go.write_text("go")   # the job prints its second line only now
    text = "".join(seen)
    assert text.startswith("==> Talk attempt 1\n")
    assert text.index("first line é") < text.index("second line")
    assert ex.wait() == "Succeeded"
    r = c.get(f"/api/runs/{ex.run_id}/logs", params={"step": "Talk"},
              headers={"Accept": "text/event-stream"})
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event: end" in r.text
    assert "second line" in "".join(e.get("text", "") for e in events)
    assert c.get(f"/api/runs/{ex.run_id}/logs?step=Nope").status_code == 404


def test_registry_approve_and_reject_record_the_callers_name(sy, api):
    reg = ModelRegistry()
    for n in (1, 2):
        reg.register("churn", str(model_tar(sy.tmp / f"m{n}", f"w{n}")))
    c = api.client()
    assert c.get("/api/models").json()[0]["name"] == "churn"
    assert [v["ref"] for v in c.get("/api/models/churn").json()] == ["churn/1", "churn/2"]
    assert c.get("/api/models/churn?status=Approved").json() == []
    assert c.get("/api/models/churn/2").json()["approval_status"] == "PendingManualApproval"
    assert c.get("/api/models/churn/latest").json()["version"] == 2
    assert c.get("/api/models/churn/latest?approved=true").status_code == 404
    assert "model" in c.get("/api/models/churn/1/lineage").json()

    r = c.post("/api/models/churn/1/approve", json={"comment": "good"})
    assert r.status_code == 400 and "who" in r.json()["error"]          # nobody named
    r = c.post("/api/models/churn/1/approve", json={"comment": "good AUC"},
               headers={"X-Stackyard-User": "alice"})
    assert r.status_code == 200 and r.json()["approval_status"] == "Approved"
    last = r.json()["approval_history"][-1]
    assert (last["who"], last["comment"], last["to_status"]) == (
        "alice (via HTTP API)", "good AUC", "Approved")
    r = c.post("/api/models/churn/1/approve", json={"who": "alice"})
    assert r.status_code == 409 and "cannot become Approved" in r.json()["error"]
    r = c.post("/api/models/churn/2/reject", json={"who": "bob", "comment": "drifts"})
    assert r.json()["approval_history"][-1]["who"] == "bob (via HTTP API)"
    assert ModelRegistry().latest("churn").ref == "churn/1"
    for method, url, body, code in (
            ("GET", "/api/models/nosuch", None, 404),
            ("GET", "/api/models/churn/9", None, 404),
            ("GET", "/api/models/churn/١", None, 400),
            ("GET", "/api/models/churn/0", None, 400),
            ("GET", "/api/models/churn?status=Maybe", None, 400),
            ("POST", "/api/models/churn/2/approve", {"who": "x", "extra": 1}, 400),
            ("POST", "/api/models/churn/2/approve", {"who": "a\nb"}, 400),
            ("POST", "/api/models/churn/2/approve", {"who": 7}, 400)):
        r = c.request(method, url, json=body)
        assert r.status_code == code, (url, body, r.text)
        assert set(r.json()) == {"error"}


CALLBACK = """
from stackyard.workflow import (CallbackOutput, CallbackOutputTypeEnum, CallbackStep,
                                Pipeline)
cb = CallbackStep("Review", "review queue", inputs={"n": 3},
                  outputs=[CallbackOutput("count", CallbackOutputTypeEnum.Integer)])
pipeline = Pipeline("reviewed", steps=[cb])
"""


@pytest.mark.timeout(120)
def test_callbacks_are_listed_and_answered_over_http(sy, api):
    ex = load_pipeline(sy.write("reviewed.py", CALLBACK)).start()
    c = api.client()
    (waiting,) = wait_until(lambda: c.get("/api/callbacks?waiting=true").json(), 60,
                            "the callback message")
    token = waiting["token"]
    assert waiting["arguments"] == {"n": 3} and waiting["run_id"] == ex.run_id
    for body, code, words in (({"outputs": {"count": "seven"}}, 400, "declared Integer"),
                              ({"outputs": {}}, 400, "'count'"),
                              ({"outputs": {"count": 7}}, 400, "malformed"),
                              ({"outputs": {"nope": "1", "count": "1"}}, 400, "not declared")):
        r = c.post(f"/api/callbacks/{token}/success", json=body)
        assert r.status_code == code and words in r.json()["error"], r.text
    assert c.post("/api/callbacks/no-such/success", json={}).status_code == 404
    r = c.post(f"/api/callbacks/{token}/success", json={"outputs": {"count": "7"}})
    assert r.status_code == 200 and r.json() == {"token": token, "status": "Succeeded",
                                                 "run_id": ex.run_id}
    r = c.post(f"/api/callbacks/{token}/failure", json={"reason": "late"})
    assert r.status_code == 409 and "already answered" in r.json()["error"]
    assert ex.wait(timeout=60) == "Succeeded"
    assert engine.describe_run(ex.run_id)["steps"][0]["outputs"] == {
        "OutputParameters": {"count": 7}}
    assert c.get("/api/callbacks?waiting=true").json() == []


def test_tuning_endpoints_and_monitoring_routes_answer_empty_and_404(api):
    c = api.client()
    for url in ("/api/tuning-jobs", "/api/endpoints", "/api/monitoring/runs"):
        assert c.get(url).json() == []
    for url in ("/api/tuning-jobs/nosuch", "/api/tuning-jobs/nosuch/trials",
                "/api/endpoints/nosuch", "/api/monitoring/runs/20990101-000000-abcdef",
                "/api/monitoring/runs/20990101-000000-abcdef/report"):
        r = c.get(url)
        assert r.status_code == 404 and set(r.json()) == {"error"}, (url, r.text)


def test_two_callers_approving_at_once_one_wins_the_other_gets_409(sy, api):
    ModelRegistry().register("race", str(model_tar(sy.tmp / "m")))
    answers = []

    def approve(name: str) -> None:
        with api.client(**{"X-Stackyard-User": name}) as c:
            answers.append(c.post("/api/models/race/1/approve", json={}).status_code)

    threads = [threading.Thread(target=approve, args=(f"user{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(answers) == [200, 409, 409, 409]
    history = ModelRegistry().describe("race/1")["approval_history"]
    assert [h["to_status"] for h in history].count("Approved") == 1


def test_channels_and_notifications_over_http(api):
    from stackyard import notify

    c = api.client()
    r = c.post("/api/channels", json={"name": "ops", "webhook":
                                      "https://hooks.example.com/secret-path-123"})
    assert r.status_code == 201 and "secret-path" not in r.text
    assert [ch["name"] for ch in c.get("/api/channels").json()] == ["ops"]
    assert c.post("/api/channels", json={"name": "bad", "webhook": "ftp://x"}).status_code == 400
    assert c.post("/api/channels", json={"name": "ops", "log": True}).status_code == 400
    c.post("/api/channels", json={"name": "audit", "log": True})
    notify.publish("audit", "retrained", subject="drift")
    (n,) = c.get("/api/notifications?channel=audit").json()
    assert n["channel"] == "audit" and n["status"] == "Delivered"
    assert c.get("/api/notifications?status=Lost").status_code == 400
    assert c.request("DELETE", "/api/channels/ops", json={}).json()["deleted"] is True
    assert c.request("DELETE", "/api/channels/ops", json={}).status_code == 404
    assert c.get("/api/channels/ops").status_code == 404
