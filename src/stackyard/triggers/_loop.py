"""The one trigger loop: fire due schedules, match new events against rules, watch
folders, start recorded fires, and deliver pending notifications.

Exactly once, across processes and kill -9:

* **One scheduler.** Each tick begins by taking or renewing the ``scheduler`` lease in the
  store; a loop that does not hold it only delivers notifications. A killed holder's lease
  runs out after ``lease_ttl`` and another loop takes over.
* **Recorded before started.** Due times are written as fire rows in the same transaction
  that moves the schedule's ``next_ms`` (compare-and-set), and rule matches in the one that
  moves the event cursor; ``UNIQUE(source, owner, key)`` forbids a second row for a time
  or an event. A kill between "recorded" and "started" leaves a ``Pending`` row that the
  next tick (of this loop or another) starts.
* **Claimed when started.** A fire starts only in a launcher that won ``claim_fire``; two
  launchers spawned for one fire (a loop killed right after spawning one) start it once.

Catch-up: times that came due before this loop's tenure began (``acquired_at`` of the
lease) were missed while no scheduler ran; they follow the schedule's ``catchup``. Times
that come due during the tenure always fire (then ``overlap`` decides whether a fire waits
for, skips, or runs beside a previous one still running).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from stackyard.store import open_store
from stackyard.triggers import _fires, _rules
from stackyard.triggers._times import Timing

log = logging.getLogger("stackyard.triggers")

LEASE = "scheduler"
CURSOR = "rules"
MAX_CATCHUP = 1000  # catchup=all fires at most this many missed times of one schedule
EVENTS_PER_TICK = 500


def serve(stop: threading.Event, *, owner: str, tick: float = 1.0,
          clock: Callable[[], float] = time.time, lease_ttl: float | None = None) -> None:
    """Run the loop until ``stop`` is set; ``owner`` names this process in the lease.

    ``clock`` is the one source of "now" (tests pass their own); ``lease_ttl`` (default
    ``max(5, 5 * tick)`` seconds) is how long a killed loop's lease blocks others.
    Notifications are delivered by a thread of their own, so a slow webhook never delays
    a fire. On return the lease is released, so another loop may take over at once."""
    ttl = lease_ttl if lease_ttl is not None else max(5.0, 5 * tick)
    store = open_store()
    delivery = threading.Thread(target=_deliver, args=(stop, tick, clock),
                                name="stackyard-notify", daemon=True)
    delivery.start()
    watched: dict[str, dict[str, tuple[int, int]]] = {}
    try:
        while not stop.is_set():
            now = clock()
            since = store.acquire_lease(LEASE, owner, now, ttl)
            if since is not None:
                try:
                    tick_once(store, now, since, watched)
                except Exception:  # one bad tick must not end the server
                    log.exception("trigger loop tick failed")
            stop.wait(tick)
    finally:
        store.release_lease(LEASE, owner)
        delivery.join(timeout=30)


def _deliver(stop: threading.Event, tick: float, clock: Callable[[], float]) -> None:
    from stackyard.notify import deliver_pending

    while not stop.is_set():
        try:
            deliver_pending(clock())
        except Exception:  # a broken channel is recorded per notification; keep going
            log.exception("notification delivery failed")
        stop.wait(tick)


def tick_once(store: Any, now: float, since: float,
              watched: dict[str, dict[str, tuple[int, int]]] | None = None) -> None:
    """One pass of the loop as the lease holder (``since``: when its tenure began)."""
    _fires.reap_children()
    _schedules(store, int(now * 1000), int(since * 1000))
    dispatch_events(store)
    if watched is not None:
        _files(store, watched)
    start_pending(store)


def _schedules(store: Any, now_ms: int, since_ms: int) -> None:
    for row in store.list_schedules():
        if row["state"] != "ENABLED":
            continue
        timing = Timing.of(row)
        expected = row["next_ms"]
        nxt = timing.first() if expected is None else expected
        if nxt is None or nxt > now_ms:
            if expected is None and nxt is not None:
                store.advance_schedule(row["name"], None, nxt, [])
            continue
        times, count, after = timing.due(nxt, now_ms, MAX_CATCHUP)
        fires = _catch_up(row, times, count, since_ms)
        store.advance_schedule(row["name"], expected, after, fires)


def _catch_up(row: dict[str, Any], times: list[int], count: int, since_ms: int
              ) -> list[dict[str, Any]]:
    """Fire rows for the due ``times`` (the last ones of ``count``): those due during this
    tenure all fire; those missed before it follow the schedule's ``catchup``."""
    missed = [t for t in times if t < since_ms]
    on_time = [t for t in times if t >= since_ms]
    dropped = count - len(times)  # older than the MAX_CATCHUP latest: not even listed
    n_missed = len(missed) + dropped
    policy = row["spec"]["catchup"]

    def fire(t: int, status: str = "Pending", reason: str | None = None,
             detail: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"source": "schedule", "owner": row["name"], "key": f"at:{t}", "due_ms": t,
                "target": row["target"], "params": {}, "status": status, "reason": reason,
                "detail": detail or {}}

    rows = []
    if missed:
        if policy == "all":
            rows += [fire(t, detail={"catchup": True}) for t in missed]
            if dropped:
                rows[0]["detail"]["older_missed_not_run"] = dropped
        elif policy == "last":
            rows.append(fire(missed[-1], detail={"catchup": True,
                                                 "missed_not_run": n_missed - 1}))
        else:
            rows.append(fire(missed[-1], "Skipped",
                             f"missed {n_missed} time(s) while no scheduler ran "
                             "(--catchup none)"))
    return rows + [fire(t) for t in on_time]


def dispatch_events(store: Any) -> int:
    """Match the events written since the cursor against every rule, recording one fire
    per match together with the cursor's move; returns how many fires were recorded. Safe
    to call from any process at any time (the CLI does after an approval)."""
    recorded = 0
    while True:
        cursor = store.get_cursor(CURSOR)
        rows = store.events(after=cursor or 0, limit=EVENTS_PER_TICK)
        if not rows:
            if cursor is None:
                store.advance_cursor(CURSOR, None, 0, [])
            return recorded
        rules = store.list_rules()
        fires = []
        for row in rows:
            shaped = _rules.to_event(row)
            if shaped is None:
                continue
            on, event = shaped
            for rule in rules:
                if row["ts"] < rule["created_at"]:
                    continue  # a rule reacts to what happens after it was made
                f = _rules.rule_fires(rule, on, event, f"event:{row['id']}")
                if f is not None:
                    fires.append(f)
        if not store.advance_cursor(CURSOR, cursor, rows[-1]["id"], fires):
            continue  # another process moved the cursor first: read again from there
        recorded += len(fires)


def _files(store: Any, watched: dict[str, dict[str, tuple[int, int]]]) -> None:
    rules = store.list_rules(_rules.FILE_ARRIVED)
    for gone in set(watched) - {r["name"] for r in rules}:
        del watched[gone]
    for rule in rules:
        try:
            ready = _rules.new_files(rule, watched.setdefault(rule["name"], {}))
        except Exception:  # an unreachable bucket must not stop the other rules
            log.exception("rule %s: cannot list %s", rule["name"], rule["watch"]["uri"])
            continue
        for uri, size, mtime in ready:
            event = _rules.make_event(_rules.FILE_ARRIVED, {
                "uri": uri, "size": size, "mtime_ns": mtime, "watch": rule["watch"]["uri"]},
                time.time(), f"{uri}@{mtime}")
            f = _rules.rule_fires(rule, _rules.FILE_ARRIVED, event, f"file:{uri}@{mtime}")
            if f is not None:
                store.add_fire(f)


def start_pending(store: Any, source: str | None = None) -> list[dict[str, Any]]:
    """Start every Pending fire (of ``source``, if given) that no live launcher holds,
    overlap permitting, and record Running fires whose process died; returns those started."""
    for f in store.open_fires():
        if f["status"] == "Running":
            _fires.reap_dead(store, f)
    open_ = store.open_fires()
    running: dict[tuple[str, str], int] = {}
    for f in open_:
        if f["status"] == "Running" or (f["launcher_pid"] and _fires.launcher_alive(f)):
            key = (f["source"], f["owner"])
            running[key] = running.get(key, 0) + 1
    started = []
    for f in open_:
        if f["status"] != "Pending" or (f["launcher_pid"] and _fires.launcher_alive(f)) or \
                (source is not None and f["source"] != source):
            continue
        key = (f["source"], f["owner"])
        overlap = _overlap(store, f)
        if running.get(key) and overlap != _fires.ALLOW:
            if overlap == _fires.SKIP:
                store.finish_fire(f["id"], "Skipped", "the previous fire was still running "
                                  "(--overlap skip)", expected="Pending")
            continue  # queue: waits until the previous one ends
        _fires.launch(store, f)
        running[key] = running.get(key, 0) + 1
        started.append(f)
    return started


def react_now() -> list[dict[str, Any]]:
    """Match new events against the rules and start the resulting fires, from this
    process: what a CLI command that just caused an event calls, so no server is needed.
    Returns the fires started."""
    store = open_store()
    dispatch_events(store)
    return start_pending(store, "rule")


def _overlap(store: Any, fire: dict[str, Any]) -> str:
    if fire["source"] != "schedule" or (fire["detail"] or {}).get("manual"):
        return _fires.ALLOW
    row = store.get_schedule(fire["owner"])
    return row["spec"]["overlap"] if row else _fires.ALLOW
