"""The web UI without a browser: who may see and post (sign-in cookie, CSRF, loopback),
junk in URLs, escaping in the SVG drawings, and the drift file a monitoring check keeps
for the timeline. Real HTTP on loopback, no browser; fast."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from ui_fill import STATES_DEF

from stackyard.server import create_app
from stackyard.ui import _svg
from stackyard.ui._ops import _quantile

TOKEN = "ui-token-0123456789-abcdef"
QUICK = """
from stackyard.workflow import ParameterString, Pipeline, step
note = ParameterString("Note", default_value="<script>alert(1)</script>")

@step(name="Answer")
def answer(n):
    return 42

pipeline = Pipeline("quick", parameters=[note], steps=[answer(note)])
"""


@contextmanager
def client(token: str | None = None) -> Iterator[httpx.Client]:
    """The server's app under uvicorn on a free loopback port, and a client that keeps
    cookies like a browser."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(token=token, with_loop=False),
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < end, "the server did not start"
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(15)


def csrf(c: httpx.Client, path: str) -> str:
    page = c.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def quick(sy) -> str:
    """One succeeded run whose parameter is HTML; its id."""
    r = sy.cli("run", sy.write("quick.py", QUICK), "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    return sy.cli_json("runs", "list")[0]["run_id"]


def test_root_and_ui_lead_to_the_runs_list() -> None:
    with client() as c:
        page = c.get("/")
        assert page.status_code == 200 and page.url.path == "/ui/runs"
        assert "No runs." in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/ui/static/ui.js").status_code == 200


def test_no_token_answers_only_loopback_hosts() -> None:
    with client() as c:
        assert c.get("/ui/runs", headers={"Host": "evil.example"}).status_code == 403


def test_a_form_without_the_csrf_token_changes_nothing(quick: str) -> None:
    with client() as c:
        token = csrf(c, f"/ui/runs/{quick}")
        forged = c.post(f"/ui/runs/{quick}/stop", data={"csrf": "0" * 64})
        assert forged.status_code == 400 and "security token" in forged.text
        with client() as other:   # this browser's token with another browser's cookie
            assert other.post(f"/ui/runs/{quick}/stop", data={"csrf": token}).status_code == 400
        # the right token: stopping a finished run is a conflict, shown as a page
        r = c.post(f"/ui/runs/{quick}/retry", data={"csrf": token})
        assert r.status_code == 409 and "retry applies to a run that is" in r.text


def test_a_token_server_needs_a_sign_in_and_the_cookie_reads_only(quick: str) -> None:
    with client(TOKEN) as c:
        r = c.get("/ui/runs", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/runs"
        assert c.get("/ui/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        login = csrf(c, "/ui/login")
        bad = c.post("/ui/login", data={"csrf": login, "token": "wrong", "next": "/ui/runs"})
        assert bad.status_code == 400 and "not this server&#39;s token" in bad.text
        ok = c.post("/ui/login", data={"csrf": login, "token": TOKEN, "next": "//evil.example"},
                    follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/runs"  # not off-site
        session = ok.cookies["stackyard_ui"]
        assert TOKEN not in session and "httponly" in ok.headers["set-cookie"].lower()
        assert c.get(f"/ui/runs/{quick}").status_code == 200
        assert c.get(f"/api/runs/{quick}").status_code == 200                   # a read
        stop = c.post(f"/api/runs/{quick}/stop", json={})
        assert stop.status_code == 401                                          # a write


@pytest.mark.parametrize("path, status", [
    ("/ui/runs?page=%D9%A1", 400),            # Arabic-Indic digit one
    ("/ui/runs?status=Bogus", 400),
    ("/ui/runs?within=1y", 400),
    ("/ui/runs/..%2F..%2Fetc", 404),
    ("/ui/runs/a%00b", 400),
    ("/ui/nowhere", 404),
    ("/ui/runs/20260101-000000-abcdef", 404),
    ("/ui/pipelines/%3Cscript%3E", 400),
    ("/ui/models/g/0", 400),
    ("/ui/models/nope/1", 404),
    ("/ui/tuning/nope", 404),
    ("/ui/endpoints/nope", 404),
    ("/ui/monitoring/20260101-000000-abcdef", 404),
])
def test_junk_in_urls_is_a_page_naming_the_problem(path: str, status: int) -> None:
    with client() as c:
        r = c.get(path)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "<script>" not in r.text.split("<main", 1)[1]


def test_user_text_is_escaped_in_pages(quick: str) -> None:
    with client() as c:
        page = c.get(f"/ui/runs/{quick}").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert" not in page


def test_svg_labels_are_escaped_and_the_dag_follows_the_definition() -> None:
    g = _svg.Graph({"a<b>": "Processing", "c&d": "Condition", "e": "Fail"},
                   [_svg.Edge("a<b>", "c&d", "data"),
                    _svg.Edge("c&d", "e", "branch", "if <true>")])
    svg = str(_svg.dag(g, {"a<b>": "Succeeded"}, link="#step-"))
    assert "<b>" not in svg and "a&lt;b&gt;" in svg and "if &lt;true&gt;" in svg
    assert 'class="node st-Succeeded"' in svg and 'href="#step-a&lt;b&gt;"' in svg
    # columns follow the edges: each node right of its parent
    xs = {m[1]: float(m[0]) for m in re.findall(
        r'<rect x="([0-9.]+)"[^>]*/><text[^>]*class="node-name">([^<]+)<', svg)}
    assert xs["a&lt;b&gt;"] < xs["c&amp;d"] < xs["e"]


def test_a_long_chain_with_a_loop_back_is_laid_out() -> None:
    """A 1,000-state chain (bench/states.py's machine), also with a Choice looping back to
    its start: one column per state, no RecursionError (the page was a 500 past ~330)."""
    n = 1000
    chain = [_svg.Edge(f"S{i}", f"S{i + 1}", "data") for i in range(n - 1)]
    g = _svg.Graph({f"S{i}": "Pass" for i in range(n)}, chain)
    assert _svg._layers(g) == [[f"S{i}"] for i in range(n)]
    g.edges.append(_svg.Edge(f"S{n - 1}", "S0", "branch", "again"))
    assert sorted(map(len, _svg._layers(g))) == [1] * n
    assert str(_svg.dag(g)).count('class="node ') == n


def test_histogram_quantiles_interpolate_like_prometheus() -> None:
    buckets = [(0.001, 0.0), (0.01, 50.0), (0.1, 100.0), (float("inf"), 100.0)]
    assert _quantile(buckets, 0.5) == pytest.approx(0.01)
    assert _quantile(buckets, 0.75) == pytest.approx(0.055)
    assert _quantile([(float("inf"), 0.0)], 0.5) is None


def test_a_data_quality_check_keeps_its_drift_rows(tmp_path: Path) -> None:
    """What the monitoring timeline reads: every compared feature's drift next to its
    threshold, in the check's stored outputs."""
    from stackyard.monitor import DatasetFormat, DefaultModelMonitor

    (tmp_path / "base.csv").write_text("a,b\n" + "".join(f"{i},{i % 3}\n" for i in range(200)))
    (tmp_path / "now.csv").write_text("a,b\n" + "".join(f"{i + 150},{i % 3}\n"
                                                        for i in range(200)))
    m = DefaultModelMonitor(role="ignored")
    m.suggest_baseline(str(tmp_path / "base.csv"), DatasetFormat.csv(header=True))
    run = m.run_monitoring(str(tmp_path / "now.csv"), DatasetFormat.csv(header=True))
    rows = {d["feature_name"]: d for d in
            json.loads(Path(run["outputs"]["drift"]).read_text())["features"]}
    assert set(rows) == {"a", "b"}
    assert rows["a"]["drifted"] and not rows["b"]["drifted"]
    assert rows["a"]["effective"] > rows["a"]["threshold"]


CALLBACK = """
from stackyard.workflow import CallbackOutput, CallbackOutputTypeEnum, CallbackStep, Pipeline
pipeline = Pipeline("review", steps=[CallbackStep(
    "Review", "review queue é", inputs={"n": 3},
    outputs=[CallbackOutput("count", CallbackOutputTypeEnum.Integer)])])
"""


def test_a_waiting_callback_is_answered_from_the_run_page(sy) -> None:
    """The page shows the waiting step's form; a wrongly typed output is refused naming
    it; the right answer lets the run succeed with that output."""
    from stackyard import engine

    runner = sy.cli_popen("run", sy.write("review.py", CALLBACK), "-q")
    try:
        run_id = sy.wait_until(lambda: next((r["run_id"] for r in engine.list_runs(
            "review", 1)), None), 60, what="the run to start")
        with client() as c:
            page = sy.wait_until(lambda: (p := c.get(f"/ui/runs/{run_id}").text)
                                 and "waits for a callback on review queue é" in p and p,
                                 60, what="the callback to wait")
            token = re.search(r'name="token" value="([^"]+)"', page).group(1)
            form = {"csrf": csrf(c, f"/ui/runs/{run_id}"), "token": token,
                    "answer": "succeed"}
            bad = c.post(f"/ui/runs/{run_id}/callback", data={**form, "outputs": "count=x"})
            assert bad.status_code == 400 and "count" in bad.text
            ok = c.post(f"/ui/runs/{run_id}/callback", data={**form, "outputs": "count=7"})
            assert ok.status_code == 200 and ok.url.path == f"/ui/runs/{run_id}"
        assert runner.wait(60) == 0
        d = engine.describe_run(run_id)
        assert d["status"] == "Succeeded"
        assert d["steps"][0]["outputs"] == {"OutputParameters": {"count": 7}}
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()


# ---- state machines, schedules and rules -------------------------------------------------
def _nodes(html: str) -> dict[str, str]:
    """State name -> status class of every node in the page's graph."""
    return {m.group(2): m.group(1) for m in re.finditer(
        r'<g class="node st-([A-Za-z]+)" data-step="([^"]+)"', html)}


def test_a_state_machine_page_colours_each_executions_path_and_shows_its_history() -> None:
    from stackyard import states

    states.create_state_machine("docs", STATES_DEF)
    states.start_execution("docs", {}, "ok")
    states.start_execution("docs", {"broken": True}, "bad")
    # a newer definition does not change the picture of executions that ran the old one
    states.create_state_machine("docs", {"StartAt": "Only", "States": {
        "Only": {"Type": "Succeed"}}}, update=True)
    with client() as c:
        listing = c.get("/ui/states")
        assert listing.status_code == 200 and '/ui/states/docs"' in listing.text
        page = c.get("/ui/states/docs")               # the newest execution: "bad"
        assert page.status_code == 200, page.text
        assert _nodes(page.text) == {
            "PreparePages": "Succeeded", "BaseModels": "Failed", "TextModel": "Succeeded",
            "Skip image model?": "Succeeded", "ImageFailed": "Failed", "ReuseImage": "none",
            "ImageModel": "none", "StackedModel": "none", "Register": "none",
            "Alert": "Succeeded", "Failed": "Failed"}
        labels = re.findall(r'<text class="edge-label"[^>]*>([^<]+)</text>', page.text)
        assert {"1", "2", "choice", "default", "catch"} <= set(labels)
        assert "WorkflowFailed: a base model failed" in page.text
        assert page.text.count('<tr class="bad">') == 2   # ParallelStateFailed, ExecutionFailed
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        ok = c.get("/ui/states/docs", params={"execution": "ok"})
        assert _nodes(ok.text) == {
            "PreparePages": "Succeeded", "BaseModels": "Succeeded", "TextModel": "Succeeded",
            "Skip image model?": "Succeeded", "ImageFailed": "none", "ReuseImage": "none",
            "ImageModel": "Succeeded", "StackedModel": "Succeeded", "Register": "Succeeded",
            "Alert": "none", "Failed": "none"}
        assert ok.text.count('<td class="num">') == 18         # its 18 events
        for params, code in (({"execution": "nosuch"}, 404), ({"execution": "a b"}, 400)):
            assert c.get("/ui/states/docs", params=params).status_code == code
        assert c.get("/ui/states/nosuch").status_code == 404


def test_path_status_follows_retries_catches_and_aborts() -> None:
    from stackyard.ui._states import path_status

    g = _svg.Graph({"Train": "Task", "Wait": "Wait", "Oops": "Pass"})

    def entered(n: str) -> dict:
        return {"type": "TaskStateEntered" if n == "Train" else "PassStateEntered",
                "stateEnteredEventDetails": {"name": n}}

    def exited(n: str) -> dict:
        return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": n}}
    retried = [entered("Train"), {"type": "TaskFailed"}, {"type": "TaskScheduled"},
               {"type": "TaskSucceeded"}, exited("Train"), entered("Wait")]
    assert path_status(retried, g, "RUNNING") == {"Train": "Succeeded", "Wait": "Executing"}
    assert path_status(retried, g, "ABORTED")["Wait"] == "Stopped"
    caught = [entered("Train"), {"type": "TaskTimedOut"}, exited("Train"), entered("Oops"),
              exited("Oops")]
    assert path_status(caught, g, "SUCCEEDED") == {"Train": "Failed", "Oops": "Succeeded"}
    assert path_status([entered("Train"), {"type": "TaskFailed"}], g, "FAILED") == {
        "Train": "Failed"}


def test_schedules_and_rules_pages_list_them_and_link_what_each_fire_started(sy) -> None:
    from stackyard import notify, states, triggers

    states.create_state_machine("greet", {"StartAt": "Hi", "States": {
        "Hi": {"Type": "Pass", "End": True}}})
    triggers.create_schedule("hourly", target=triggers.state_machine_target("greet"),
                             expression="rate(1 hour)")
    notify.create_channel("ops", log=True)
    triggers.create_rule("alert", on="run-failed", target=triggers.notify_target("ops"),
                         pattern={"detail": {"pipeline": ["<b>x</b>"]}})
    fire = triggers.trigger_schedule("hourly")["id"]
    sy.wait_until(lambda: next(f for f in triggers.describe_schedule("hourly")["fires"]
                               if f["id"] == fire)["status"] == "Succeeded", 60,
                  what="the fire to succeed")
    with client() as c:
        page = c.get("/ui/schedules")
        assert page.status_code == 200
        assert '/ui/schedules/hourly"' in page.text and '/ui/rules/alert"' in page.text
        assert "<b>x</b>" not in page.text and "\\u003cb\\u003ex" in page.text   # as text
        one = c.get("/ui/schedules/hourly")
        assert one.status_code == 200 and "rate(1 hour)" in one.text
        (link,) = re.findall(r'href="(/ui/states/greet\?execution=[^"]+)"', one.text)
        assert c.get(link.replace("&amp;", "&")).status_code == 200
        assert c.get("/ui/rules/alert").status_code == 200
        assert "It has not fired yet." in c.get("/ui/rules/alert").text
        for path, code in (("/ui/schedules/nosuch", 404), ("/ui/rules/nosuch", 404),
                           ("/ui/schedules/a%20b", 400)):
            assert c.get(path).status_code == code, path


def test_the_endpoint_page_lists_the_update_in_progress_and_the_last_one_that_ended() -> None:
    """Steps recorded as the endpoint server records them (through the store), the page,
    its live JSON and the API in the same order; a reason with HTML shows as text."""
    from stackyard.store import open_store

    store = open_store()
    config = {"variants": [{"name": "A", "model": {"ref": "g/1"}, "weight": 1.0}],
              "host": "127.0.0.1", "port": 1}
    store.create_endpoint("ep", config)
    plan = {"traffic": "canary:10%", "bake_seconds": 5.0, "max_error_rate": 0.05,
            "timeout": 130.0, "variants": [{"name": "A", "model": "g/2"}]}
    old = store.start_deployment("ep", {"config": config, "status": "Pending"}, plan)
    for step, detail, status in [
            ("loading", {}, "Loading"), ("healthy", {"variants": ["A"]}, None),
            ("shifted", {"share": 0.1}, "Shifting"),
            ("bake-started", {"share": 0.1, "seconds": 5.0}, None),
            ("alarm", {"share": 0.1, "requests": 9, "errors": 4, "max_error_rate": 0.05},
             None),
            ("rolled-back", {"reason": "<script>alert(1)</script>"}, "RolledBack")]:
        assert store.deployment_step("ep", old, step, detail, status)
    new = store.start_deployment("ep", {"config": config, "status": "Pending"}, plan)
    store.deployment_step("ep", new, "shifted", {"share": 0.1}, "Shifting")
    with client() as c:
        page = c.get("/ui/endpoints/ep").text
        body = page.split('id="update-steps"', 1)[1]
        assert body.index(f"Update {new} ") < body.index(f"Update {old} ")
        lists = re.findall(r'<ol class="update-steps" data-generation="(\d+)">(.*?)</ol>',
                           body, re.S)
        shown = {int(g): re.findall(r'data-step="([^"]+)"', html) for g, html in lists}
        assert shown == {new: ["planned", "shifted"],
                         old: ["planned", "loading", "healthy", "shifted", "bake-started",
                               "alarm", "rolled-back"]}
        assert "alarm at 10%: 4 errors in 9 requests, above 5%" in body
        assert "rolled back: &lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert "<script>alert" not in page
        live = c.get("/ui/endpoints/ep/live").json()
        api = c.get("/api/endpoints/ep").json()
        for updates in (live["updates"], api["updates"]):
            assert [(u["generation"], u["status"]) for u in updates] == [
                (new, "Shifting"), (old, "RolledBack")]
            assert [s["step"] for s in updates[1]["steps"]] == shown[old]
