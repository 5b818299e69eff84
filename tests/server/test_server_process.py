"""The real ``stackyard server`` process (SIGTERM, its log) and the CLI talking to a server
through ``STACKYARD_URL``."""

from __future__ import annotations

import getpass
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server_helpers import LOGGED, TALK, TOKEN, free_port, model_tar, wait_until

from stackyard import engine
from stackyard.cli._runs import load_pipeline
from stackyard.registry import ModelRegistry


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_lets_a_streaming_request_finish_and_exits_0(sy, tmp_path):
    folder = tmp_path / "my folder ünï"
    folder.mkdir()
    (folder / "token").write_text(TOKEN + "\n")
    go = sy.tmp / "go"
    code = sy.write("code/talk.py", TALK, GO=str(go))
    ex = load_pipeline(sy.write("logged.py", LOGGED, CODE=str(code))).start()
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("stackyard")), "server",
                             "--port", str(port), "--token-file", str(folder / "token")],
                            stdout=log, stderr=subprocess.STDOUT, cwd=sy.work)
    try:
        c = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

        def up() -> bool:
            try:
                return c.get("/api/health").status_code == 200
            except httpx.TransportError:
                return False
        wait_until(up, 30, "the server to answer")
        seen, signalled = [], False
        with c.stream("GET", f"/api/runs/{ex.run_id}/logs", params={"follow": "true"}) as r:
            for text in r.iter_text():      # in flight: the run waits for `go`
                seen.append(text)
                if "first line" in "".join(seen) and not signalled:
                    proc.send_signal(signal.SIGTERM)
                    signalled = True
        # the stream ended cleanly (no transport error) with what it had
        assert "first line é" in "".join(seen)
        assert proc.wait(timeout=30) == 0
        assert engine.describe_run(ex.run_id)["status"] == "Executing"   # untouched
    finally:
        if proc.poll() is None:
            proc.kill()
        go.write_text("go")
        ex.wait(timeout=60)
    text = (tmp_path / "server.log").read_text()
    assert "stackyard server on http://127.0.0.1" in text and TOKEN not in text
    assert "Traceback" not in text


@pytest.fixture
def remote_env(sy, api, tmp_path):
    """The CLI environment of another machine: an empty home, the server's URL and token."""
    other = tmp_path / "other home"
    return sy.cli_env(STACKYARD_HOME=str(other), STACKYARD_URL=api.url,
                      STACKYARD_TOKEN=TOKEN), other


@pytest.mark.slow
def test_the_cli_reads_and_approves_through_stackyard_url(sy, api, remote_env):
    env, other = remote_env
    path = sy.write("quick.py", "from stackyard.workflow import Pipeline, step\n"
                    "@step(name='A')\ndef a():\n    return 1\n"
                    "pipeline = Pipeline('remote-quick', steps=[a()])\n")
    ex = load_pipeline(path).start()
    assert ex.wait() == "Succeeded"
    ModelRegistry().register("churn", str(model_tar(sy.tmp / "m")))

    rows = sy.cli_json("runs", "list", env=env)
    assert [r["run_id"] for r in rows] == [ex.run_id]
    assert sy.cli_json("runs", "describe", ex.run_id, env=env)["status"] == "Succeeded"
    assert sy.cli_json("pipelines", "list", env=env)[0]["name"] == "remote-quick"
    assert sy.cli_json("models", "list", "churn", env=env)[0]["ref"] == "churn/1"
    r = sy.cli("models", "approve", "churn/1", "--comment", "ok from afar", env=env)
    assert r.returncode == 0 and "Approved" in r.stdout, r.stderr
    last = ModelRegistry().describe("churn/1")["approval_history"][-1]
    assert last["who"] == f"{getpass.getuser()} (via HTTP API)"
    assert last["comment"] == "ok from afar"
    r = sy.cli("models", "approve", "churn/1", env=env)
    assert r.returncode == 2 and "cannot become Approved" in r.stderr
    r = sy.cli("runs", "describe", "20990101-000000-abcdef", env=env)
    assert r.returncode == 2 and "no run" in r.stderr
    assert sy.cli_json("callback", "list", env=env) == []
    assert not (other / "stackyard.db").exists()   # nothing was read or written locally

    r = sy.cli("runs", "list", env={**env, "STACKYARD_TOKEN": "wrong-token-0123456789"})
    assert r.returncode == 2 and "STACKYARD_TOKEN" in r.stderr
    assert "wrong-token" not in r.stderr
    r = sy.cli("runs", "list", env={**env, "STACKYARD_URL": f"http://127.0.0.1:{free_port()}"})
    assert r.returncode == 1 and "cannot reach" in r.stderr and r.stderr.count("\n") == 1
    r = sy.cli("runs", "list", env={**env, "STACKYARD_URL": "ftp://x"})
    assert r.returncode == 2 and "STACKYARD_URL" in r.stderr


def test_remote_logs_and_stop_go_through_the_server(sy, api, remote_env):
    env, _ = remote_env
    path = sy.write("quick.py", "from stackyard.workflow import Pipeline, step\n"
                    "@step(name='A')\ndef a():\n    return 1\n"
                    "pipeline = Pipeline('remote-quick', steps=[a()])\n")
    ex = load_pipeline(path).start()
    ex.wait()
    r = sy.cli("runs", "stop", ex.run_id, env=env)
    assert r.returncode == 0 and "Succeeded" in r.stdout
    r = sy.cli("runs", "logs", ex.run_id, env=env)
    assert r.returncode == 0, r.stderr


def _server(sy, tmp_path, name: str) -> tuple[subprocess.Popen, httpx.Client]:
    """``stackyard server`` on a free loopback port (no token), answering."""
    port = free_port()
    log = (tmp_path / f"{name}.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("stackyard")), "server",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=sy.work)
    c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def up() -> bool:
        assert proc.poll() is None, (tmp_path / f"{name}.log").read_text()
        try:
            return c.get("/api/health").status_code == 200
        except httpx.TransportError:
            return False
    wait_until(up, 60, f"server {name} to answer")
    return proc, c


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigterm_releases_the_scheduler_lease_so_another_server_takes_over(sy, tmp_path):
    """Two servers on one store: the first holds the triggers loop's lease; on SIGTERM it
    gives it back as it exits (no waiting for the lease to run out), and the second, which
    was running all along, becomes the scheduler."""
    from stackyard.store import open_store

    def owner() -> str | None:
        lease = open_store().get_lease("scheduler")
        return lease["owner"] if lease else None

    first, _ = _server(sy, tmp_path, "first")
    second = None
    try:
        wait_until(lambda: (owner() or "").endswith(f":{first.pid}"), 30,
                   "the first server to hold the lease")
        second, _ = _server(sy, tmp_path, "second")
        assert owner().endswith(f":{first.pid}")       # held: the second one waits
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        # released on the way out: the row is gone or already the second server's, where a
        # killed holder's would still name it until its TTL ran out
        assert not (owner() or "").endswith(f":{first.pid}")
        wait_until(lambda: (owner() or "").endswith(f":{second.pid}"), 30,
                   "the second server to take the lease")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
        assert owner() is None
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert "Traceback" not in (tmp_path / "first.log").read_text()


@pytest.mark.slow
def test_the_cli_reads_state_machines_schedules_and_rules_through_stackyard_url(
        sy, api, remote_env):
    from stackyard import notify, states, triggers

    env, other = remote_env
    states.create_state_machine("greet", {"StartAt": "Hi", "States": {
        "Hi": {"Type": "Pass", "Result": {"hello": "wörld"}, "End": True}}})
    states.start_execution("greet", {"x": 1}, "first")
    triggers.create_schedule("hourly", target=triggers.state_machine_target("greet"),
                             expression="rate(1 hour)")
    notify.create_channel("ops", log=True)
    triggers.create_rule("alert", on="run-failed", target=triggers.notify_target("ops"))

    def same(remote: object, local: object) -> None:
        assert remote == json.loads(json.dumps(local, default=str)), (remote, local)

    same(sy.cli_json("states", "list", env=env), states.list_state_machines())
    same(sy.cli_json("states", "executions", "greet", env=env), states.list_executions("greet"))
    arn = states.list_executions("greet")[0]["executionArn"]
    same(sy.cli_json("states", "describe", "greet:first", env=env),
         states.describe_execution(arn))
    same(sy.cli_json("states", "history", arn, env=env)["events"],
         states.get_execution_history(arn))
    same(sy.cli_json("schedules", "list", env=env), triggers.list_schedules())
    same(sy.cli_json("schedules", "describe", "hourly", env=env),
         triggers.describe_schedule("hourly"))
    same(sy.cli_json("rules", "list", env=env), triggers.list_rules())
    same(sy.cli_json("rules", "describe", "alert", env=env), triggers.describe_rule("alert"))
    r = sy.cli("states", "describe", "greet:nosuch", env=env)
    assert r.returncode == 2 and "nosuch" in r.stderr
    assert not (other / "stackyard.db").exists()   # nothing was read or written locally
