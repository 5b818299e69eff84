"""An endpoint update's steps: each recorded once, in order, as an ``endpoint.update`` event,
and shown by ``endpoints describe`` (text and JSON): a real server process on loopback, and
the store's once-only rules on their own (fast)."""

from __future__ import annotations

import threading

import httpx
import pytest
from serving_helpers import wait_until

from stackyard import serving
from stackyard.store import open_store

CONFIG = {"variants": [{"name": "A", "model": {"ref": "g/1"}, "weight": 1.0}],
          "host": "127.0.0.1", "port": 1}


def variant(ref: str) -> list[dict]:
    return [{"name": "A", "model": {"ref": ref}}]


def steps(update: dict) -> list[tuple[str, float | None]]:
    return [(s["step"], s["share"]) for s in update["steps"]]


@pytest.mark.slow
def test_canary_steps_then_a_rollback_are_recorded_in_order(register, sy) -> None:
    v1 = register("g", [1, 1, 1], 0)
    v2 = register("g", [1, 1, 1], 100)
    broken = register("g", [1, 1, 1], 0, fail_nonzero=True)
    d = serving.create_endpoint("bake", variant(v1))
    first = d["generation"] + 1
    res = serving.update_endpoint("bake", variant(v2), traffic="canary:25%", bake_seconds=0.3)
    assert res["deployment"]["status"] == "Completed"
    [update] = res["updates"]
    assert update["generation"] == first and update["status"] == "Completed"
    assert steps(update) == [
        ("planned", None), ("loading", None), ("healthy", None),
        ("shifted", 0.25), ("bake-started", 0.25), ("bake-ended", 0.25),
        ("shifted", 1.0), ("bake-started", 1.0), ("bake-ended", 1.0),
        ("old-fleet-stopped", None), ("completed", 1.0)]
    times = [s["at"] for s in update["steps"]]
    assert times == sorted(times)
    assert f"A={v2}" in update["steps"][0]["text"] and "canary:25%" in update["steps"][0]["text"]
    assert update["steps"][3]["text"] == "traffic shifted: 25% to the new fleet"
    # one event per step, even though the server polls and reports from a thread
    events = open_store().events("endpoint.update")
    assert [(e["payload"]["step"], e["payload"].get("share")) for e in events] == \
        steps(update)

    # a broken version passes its health check (zeros) but fails under traffic
    stop = threading.Event()

    def client() -> None:
        with httpx.Client() as c:
            while not stop.is_set():
                c.post(f"{d['url']}/invocations", content=b"1,2,3",
                       headers={"Content-Type": "text/csv"})

    t = threading.Thread(target=client)
    t.start()
    try:
        res = serving.update_endpoint("bake", variant(broken), traffic="all", bake_seconds=30)
    finally:
        stop.set()
        t.join()
    assert res["deployment"]["status"] == "RolledBack"
    [update] = res["updates"]  # the latest ended: it alone
    assert update["generation"] == first + 1 and update["status"] == "RolledBack"
    names = [s["step"] for s in update["steps"]]
    assert names == ["planned", "loading", "healthy", "shifted", "bake-started", "alarm",
                     "rolled-back"]
    alarm = update["steps"][5]["text"]
    assert alarm.startswith("alarm at 100%:") and "above 5%" in alarm
    assert "error rate" in update["steps"][6]["text"]

    # an update in progress is shown with the last one that ended
    serving.update_endpoint("bake", variant(v1), bake_seconds=60, wait=False)
    wait_until(lambda: [s["step"] for s in serving.describe_endpoint("bake")["updates"][0][
        "steps"]][-1] == "bake-started")
    shown = sy.cli_json("endpoints", "describe", "bake")["updates"]
    assert [(u["generation"], u["status"]) for u in shown] == [
        (first + 2, "Shifting"), (first + 1, "RolledBack")]
    text = sy.cli("endpoints", "describe", "bake", env=sy.cli_env(COLUMNS="200")).stdout
    assert f"update {first + 2}: Shifting" in text
    assert "bake started: 60s at 100%" in text


@pytest.mark.slow
def test_two_workers_record_each_step_once_and_both_serve_the_new_fleet(register) -> None:
    """Both workers carry out the plan. Two ways one of them kept answering with the old
    model: it rolled its own new fleet back when it saw the other's Completed, or it started
    after the plan was written (``create`` returns at the first worker's /ping) and never
    looked at it."""
    v1 = register("g", [1, 1, 1], 0)
    v2 = register("g", [1, 1, 1], 100)
    d = serving.create_endpoint("two", variant(v1), workers=2)
    res = serving.update_endpoint("two", variant(v2), traffic="canary:50%", bake_seconds=0.3)
    assert res["deployment"]["status"] == "Completed"
    assert [s for s, _ in steps(res["updates"][0])] == [
        "planned", "loading", "healthy", "shifted", "bake-started", "bake-ended", "shifted",
        "bake-started", "bake-ended", "old-fleet-stopped", "completed"]

    def only_new() -> bool:  # fresh connections, so both workers answer
        return {float(httpx.post(f"{d['url']}/invocations", content=b"1,2,3", headers={
            "Content-Type": "text/csv"}).text) for _ in range(30)} == {106.0}

    wait_until(only_new)


def test_each_step_is_recorded_once_and_never_after_the_update_ended() -> None:
    """Every worker of a server carries out the same plan: the first to reach a step
    records it; a step after the end (a worker that lost the race) or of a replaced update
    is dropped; an endpoint made again under the same name starts with no steps."""
    store = open_store()
    assert store.create_endpoint("twice", CONFIG)
    gen = store.start_deployment("twice", {"config": CONFIG, "status": "Pending"},
                                 {"traffic": "all"})
    assert store.deployment_step("twice", gen, "shifted", {"share": 0.5}, "Shifting")
    assert not store.deployment_step("twice", gen, "shifted", {"share": 0.5}, "Shifting")
    assert store.deployment_step("twice", gen, "shifted", {"share": 1.0}, "Shifting")
    assert not store.deployment_step("twice", gen - 1, "loading", {}, "Loading")
    assert store.deployment_step("twice", gen, "completed", {"share": 1.0}, "Completed",
                                 {**CONFIG, "port": 2})
    row = store.get_endpoint("twice")
    assert row["status"] == "InService" and row["config"]["port"] == 2
    assert row["deployment"]["status"] == "Completed"
    assert not store.deployment_step("twice", gen, "rolled-back", {"reason": "late"},
                                     "RolledBack")
    assert store.get_endpoint("twice")["deployment"]["status"] == "Completed"
    d = serving.describe_endpoint("twice")
    assert [(u["generation"], u["status"]) for u in d["updates"]] == [(gen, "Completed")]
    assert steps(d["updates"][0]) == [("planned", None), ("shifted", 0.5), ("shifted", 1.0),
                                      ("completed", 1.0)]
    store.delete_endpoint("twice")
    assert store.create_endpoint("twice", CONFIG)
    assert serving.describe_endpoint("twice")["updates"] == []
