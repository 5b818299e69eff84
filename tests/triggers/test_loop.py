"""The trigger loop: catch-up after downtime, overlap, rules over real events, file
arrivals, and exactly once across two loops, kill -9 and racing launchers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from stackyard import notify, triggers
from stackyard.store import open_store
from stackyard.triggers._loop import tick_once


def _fires(owner: str) -> list[dict]:
    return sorted(open_store().list_fires(owner=owner, limit=10**6), key=lambda f: f["due_ms"])


def _log_schedule(name: str, rate: str = "10 seconds", **kw) -> dict:
    if not any(c["name"] == "audit" for c in notify.list_channels()):
        notify.create_channel("audit", log=True)
    return triggers.create_schedule(name, target=triggers.notify_target("audit"),
                                    expression=rate, **kw)


@pytest.mark.parametrize(("catchup", "fired", "skipped"),
                         [("none", 0, 1), ("last", 1, 0), ("all", 9, 0)])
def test_catchup_after_downtime(catchup, fired, skipped) -> None:
    """Nine times (10 s rate) pass while no loop runs; a loop whose tenure starts after
    them follows --catchup; a time due during its tenure always fires."""
    _log_schedule("s", catchup=catchup)
    store = open_store()
    t0 = store.get_schedule("s")["created_at"]
    tick_once(store, t0 + 95, since=t0 + 95)  # the loop starts late: 10..90 s were missed
    rows = _fires("s")
    assert sum(f["status"] == "Succeeded" for f in rows) == fired
    assert sum(f["status"] == "Skipped" for f in rows) == skipped
    if catchup == "last":
        assert rows[-1]["due_ms"] == int(t0 * 1000) + 90_000
        assert rows[-1]["detail"]["missed_not_run"] == 8
    tick_once(store, t0 + 100.5, since=t0 + 95)  # 100 s: due during the tenure
    assert _fires("s")[-1]["due_ms"] == int(t0 * 1000) + 100_000
    assert _fires("s")[-1]["status"] == "Succeeded"
    assert len(notify.list_notifications()) == fired + 1


def test_ticks_never_record_a_time_twice() -> None:
    _log_schedule("s", rate="1 second")
    store = open_store()
    t0 = store.get_schedule("s")["created_at"]
    for k in range(40):  # ticks at 0.25 s steps, some repeated
        tick_once(store, t0 + k / 4, since=t0)
        tick_once(store, t0 + k / 4, since=t0)
    due = [f["due_ms"] for f in _fires("s")]
    assert due == [int(t0 * 1000) + 1000 * i for i in range(1, 10)]
    assert len({n["id"] for n in notify.list_notifications()}) == 9


def _running_fire(owner: str) -> None:
    """A fire of ``owner`` held Running by a live process (this one)."""
    from stackyard.runtime import process_start_time

    store = open_store()
    fid, _ = store.add_fire({"source": "schedule", "owner": owner, "key": "busy", "due_ms": 0,
                             "target": {"kind": "notify", "channel": "audit"}, "params": {}})
    assert store.claim_fire(fid, os.getpid(), process_start_time(os.getpid()))


@pytest.mark.parametrize(("overlap", "status"),
                         [("skip", "Skipped"), ("queue", "Pending"), ("allow", "Succeeded")])
def test_overlap(overlap, status) -> None:
    _log_schedule("s", overlap=overlap)
    _running_fire("s")
    store = open_store()
    t0 = store.get_schedule("s")["created_at"]
    tick_once(store, t0 + 10.1, since=t0)
    (fire,) = [f for f in _fires("s") if f["key"] != "busy"]
    assert fire["status"] == status
    if overlap == "queue":  # the previous one ends: the queued fire starts
        busy = next(f for f in _fires("s") if f["key"] == "busy")
        store.finish_fire(busy["id"], "Succeeded")
        tick_once(store, t0 + 10.2, since=t0)
        assert store.get_fire(fire["id"])["status"] == "Succeeded"


def test_paused_schedule_does_not_fire_and_resume_skips_the_pause() -> None:
    _log_schedule("s", rate="1 second")
    store = open_store()
    t0 = store.get_schedule("s")["created_at"]
    triggers.pause_schedule("s")
    tick_once(store, t0 + 5, since=t0)
    assert _fires("s") == []
    row = triggers.resume_schedule("s")
    assert row["state"] == "ENABLED" and row["next_fire"]
    tick_once(store, time.time() + 1.01, since=t0)
    assert len(_fires("s")) == 1  # one time after the resume, none of the paused ones


PIPELINE = """
import os, time
from stackyard.workflow import Pipeline, ParameterString, step

@step(name="Note")
def note(v):
    with open(MARKS, "a") as f:
        f.write(v + "\\n")
    if v == "fail":
        raise ValueError("asked to fail")
    return v

v = ParameterString("V", default_value="none")
pipeline = Pipeline("note-it", parameters=[v], steps=[note(v)])
"""


def _pipeline(sy, marks: Path) -> Path:
    return sy.write("note.py", PIPELINE, MARKS=str(marks))


def test_two_launchers_for_one_fire_run_it_once(sy, reaper) -> None:
    marks = sy.tmp / "marks.txt"
    _pipeline(sy, marks)
    store = open_store()
    target = triggers.pipeline_target(sy.work / "note.py", ["V=once"])
    fid, _ = store.add_fire({"source": "schedule", "owner": "s", "key": "k", "due_ms": 0,
                             "target": target, "params": {}})
    cmd = [sys.executable, "-m", "stackyard.triggers._launch", str(fid)]
    procs = [subprocess.Popen(cmd, cwd=sy.work) for _ in range(3)]
    assert sorted(p.wait(120) for p in procs) == [0, 0, 0]
    assert marks.read_text().splitlines() == ["once"]
    fire = store.get_fire(fid)
    assert fire["status"] == "Succeeded" and fire["detail"]["run_id"]


def test_a_launcher_killed_mid_run_is_failed_not_restarted(sy, reaper) -> None:
    marks = sy.tmp / "marks.txt"
    sy.write("slow.py", """
        import time
        from stackyard.workflow import Pipeline, step

        @step(name="Wait")
        def wait():
            open(MARKS, "a").write("started\\n")
            time.sleep(60)

        pipeline = Pipeline("slow", steps=[wait()])
    """, MARKS=str(marks))
    store = open_store()
    fid, _ = store.add_fire({"source": "schedule", "owner": "s", "key": "k", "due_ms": 0,
                             "target": triggers.pipeline_target(sy.work / "slow.py"),
                             "params": {}})
    triggers.start_pending(store)
    fire = store.get_fire(fid)
    reaper.watch(fire["launcher_pid"])
    sy.wait_until(lambda: marks.exists(), timeout=60, what="the step to start")
    os.kill(fire["launcher_pid"], signal.SIGKILL)
    sy.wait_until(lambda: not sy.pid_alive(fire["launcher_pid"]), what="the launcher to die")
    assert triggers.start_pending(store) == []
    fire = store.get_fire(fid)
    assert fire["status"] == "Failed" and "killed?" in fire["reason"]
    assert marks.read_text().splitlines() == ["started"]


def test_run_failed_rule_posts_the_event_to_a_webhook(sy, webhook) -> None:
    marks = sy.tmp / "marks.txt"
    path = _pipeline(sy, marks)
    notify.create_channel("ops", webhook=webhook.url)
    triggers.create_rule("failures", on="run-failed", target=triggers.notify_target("ops"),
                         pattern={"detail": {"pipeline": [{"prefix": "note-"}]}})
    triggers.create_rule("other", on="run-failed", target=triggers.notify_target("ops"),
                         pattern={"detail": {"pipeline": ["diabetes"]}})
    from stackyard.workflow import load_pipeline

    pipe = load_pipeline(path)
    ok = pipe.start({"V": "fine"})
    ok.wait()
    bad = pipe.start({"V": "fail"})
    bad.wait()
    assert bad.describe()["PipelineExecutionStatus"] == "Failed"
    store = open_store()
    for _ in range(2):  # a second look at the same events records nothing more
        tick_once(store, time.time(), since=time.time())
    notify.deliver_pending()
    (body,) = webhook.received
    event = body["event"]
    assert event["detail-type"] == "run-failed" and event["source"] == "stackyard"
    detail = event["detail"]
    assert detail["run_id"] == bad.run_id and detail["pipeline"] == "note-it"
    assert detail["status"] == "Failed" and "asked to fail" in detail["failure_reason"]
    assert body["subject"] == "stackyard: run-failed"
    assert [f["status"] for f in _fires("failures")] == ["Succeeded"]
    assert _fires("other") == []


def test_file_arrived_passes_the_uri_to_the_pipeline(sy, reaper) -> None:
    marks = sy.tmp / "marks.txt"
    _pipeline(sy, marks)
    inbox = sy.tmp / "In Box ü"
    inbox.mkdir()
    (inbox / "old.csv").write_text("before the rule\n")
    os.utime(inbox / "old.csv", (1, 1))
    triggers.create_rule("arrivals", on="file-arrived", watch=str(inbox),
                         target=triggers.pipeline_target(sy.work / "note.py", parameter="V"),
                         pattern={"detail": {"uri": [{"suffix": ".csv"}]}})
    store, watched = open_store(), {}
    (inbox / "day 1.csv").write_text("a,b\n")
    (inbox / "notes.txt").write_text("not a csv\n")
    tick_once(store, time.time(), since=0, watched=watched)  # first sight: not yet stable
    assert _fires("arrivals") == []
    tick_once(store, time.time(), since=0, watched=watched)
    tick_once(store, time.time(), since=0, watched=watched)
    (fire,) = _fires("arrivals")
    reaper.watch(store.get_fire(fire["id"])["launcher_pid"])
    sy.wait_until(lambda: store.get_fire(fire["id"])["status"] == "Succeeded", timeout=60,
                  what="the pipeline")
    (uri,) = marks.read_text().splitlines()
    assert uri == (inbox / "day 1.csv").as_uri()
    from stackyard._checks import uri_to_path

    assert uri_to_path(uri) == inbox / "day 1.csv"


LOOP = textwrap.dedent("""
    import signal, sys, threading
    from stackyard import triggers
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("ready", flush=True)
    triggers.serve(stop, owner=sys.argv[1], tick=0.05, lease_ttl=0.5)
""")


def _loop(sy, owner: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", LOOP, owner], stdout=subprocess.PIPE,
                         text=True, cwd=sy.work, env=sy.cli_env())
    assert p.stdout.readline().strip() == "ready"
    return p


def _contiguous(name: str, period_ms: int) -> list[int]:
    due = [f["due_ms"] for f in _fires(name)]
    assert len(due) == len(set(due)), "a time fired twice"
    assert due == list(range(due[0], due[-1] + 1, period_ms)), "a time was lost"
    return due


@pytest.mark.slow
def test_two_loops_fire_each_time_once(sy) -> None:
    _log_schedule("s", rate="1 second", catchup="all")
    loops = [_loop(sy, "a"), _loop(sy, "b")]
    sy.wait_until(lambda: len(_fires("s")) >= 4, timeout=60, what="four fires")
    for p in loops:
        p.send_signal(signal.SIGTERM)
    assert [p.wait(30) for p in loops] == [0, 0]
    due = _contiguous("s", 1000)
    assert {f["status"] for f in _fires("s")} == {"Succeeded"}
    assert len(notify.list_notifications(limit=1000)) == len(due)
    assert open_store().get_lease("scheduler") is None  # released on the way out


@pytest.mark.slow
def test_kill_9_loses_no_fire_and_doubles_none(sy) -> None:
    """Loops are killed with -9 at odd moments, three times over; the last one catches up
    (catchup all) and every time between the first and the last fire ran exactly once."""
    import random

    _log_schedule("s", rate="1 second", catchup="all")
    rng = random.Random(12)
    for _ in range(3):
        p = _loop(sy, f"victim-{_}")
        time.sleep(rng.uniform(0.3, 1.8))  # when to kill (an odd moment), not a wait for a result
        p.kill()
        p.wait(30)
    survivor = _loop(sy, "survivor")
    start = len(_fires("s"))
    sy.wait_until(lambda: len(_fires("s")) >= start + 2 and
                  all(f["status"] != "Pending" for f in _fires("s")), timeout=60,
                  what="the survivor to catch up")
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(30) == 0
    due = _contiguous("s", 1000)
    assert {f["status"] for f in _fires("s")} == {"Succeeded"}
    ids = [n["id"] for n in notify.list_notifications(limit=1000)]
    assert len(ids) == len(due) == len(set(ids))


def test_serve_stops_promptly_and_releases_its_lease() -> None:
    stop = threading.Event()
    t = threading.Thread(target=triggers.serve, args=(stop,),
                         kwargs={"owner": "me", "tick": 0.05})
    t.start()
    deadline = time.monotonic() + 30
    while open_store().get_lease("scheduler") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert open_store().get_lease("scheduler")["owner"] == "me"
    stop.set()
    t.join(30)
    assert not t.is_alive() and open_store().get_lease("scheduler") is None


def test_a_link_in_a_watched_folder_is_no_arrival(sy) -> None:
    """Only regular files arrive: a symlink (to a file outside, or to one inside) would
    hand its resolved target to the pipeline as the new file."""
    from stackyard.triggers._rules import new_files

    inbox = sy.tmp / "In Box ü"
    inbox.mkdir()
    secret = sy.tmp / "secret.txt"
    secret.write_text("not for the pipeline\n")
    (inbox / "day 1.csv").write_text("a,b\n")
    (inbox / "leak.csv").symlink_to(secret)
    (inbox / "again.csv").symlink_to(inbox / "day 1.csv")
    rule, seen = {"watch": {"uri": inbox.as_uri()}, "created_at": 0.0}, {}
    assert new_files(rule, seen) == []          # first sight: not yet stable
    assert [u for u, _, _ in new_files(rule, seen)] == [(inbox / "day 1.csv").as_uri()]
