"""Schedules: create, list, describe, pause, resume, delete, trigger (run now).

A schedule is a row; the trigger loop (``serve``) records its fire times and starts them.
Creating one needs no server: the loop picks it up whenever one runs, following the
schedule's ``catchup`` for times that passed meanwhile.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stackyard._checks import check_name, check_timezone, parse_schedule_expression
from stackyard.errors import NotFoundError, UsageError
from stackyard.store import open_store
from stackyard.triggers import _targets
from stackyard.triggers._fires import ALLOW, QUEUE, SKIP
from stackyard.triggers._times import Timing

CATCHUP = ("none", "last", "all")
OVERLAP = (SKIP, QUEUE, ALLOW)


def _instant(value: Any, tz: str, what: str) -> int | None:
    """An ISO 8601 time (``2026-01-31T02:00``; no offset: the schedule's time zone), or a
    ``datetime``, as epoch ms."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{what} {value[:40]!r}: write an ISO 8601 time such as "
                             "2026-01-31T02:00") from None
    if not isinstance(value, datetime):
        raise UsageError(f"{what}: give an ISO 8601 time or a datetime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return int(value.timestamp() * 1000)


def create_schedule(name: str, *, target: dict[str, Any], expression: str,
                    timezone: str = "UTC", catchup: str = "last", overlap: str = ALLOW,
                    start_at: Any = None, end_at: Any = None) -> dict[str, Any]:
    """Create schedule ``name`` firing ``target`` (see ``_targets``) at ``expression``
    (cron, AWS cron/rate, seconds rate). ``catchup``: what happens to times that passed
    while no loop ran (``none``: skipped, ``last``: the latest runs, ``all``: every one);
    ``overlap``: a fire due while the previous one still runs is skipped, queued or started
    anyway."""
    name = check_name(name, "schedule")
    parsed = parse_schedule_expression(expression, "schedule expression")
    timezone = check_timezone(timezone)
    if catchup not in CATCHUP:
        raise UsageError(f"--catchup {catchup!r}: write none, last or all")
    if overlap not in OVERLAP:
        raise UsageError(f"--overlap {overlap!r}: write skip, queue or allow")
    start_ms = _instant(start_at, timezone, "--start-at")
    end_ms = _instant(end_at, timezone, "--end-at")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise UsageError("--end-at must be after --start-at")
    spec = {"expression": expression, "parsed": parsed, "timezone": timezone,
            "catchup": catchup, "overlap": overlap, "start_ms": start_ms, "end_ms": end_ms}
    timing = Timing(parsed, timezone, int(time.time() * 1000), start_ms, end_ms)
    first = timing.first()
    if first is None:
        raise UsageError(f"schedule {name!r} would never fire (--end-at is before its first "
                         "time)")
    store = open_store()
    if not store.add_schedule(name, spec, target, None):
        raise UsageError(f"schedule {name!r} exists; delete it first or pick another name")
    return describe_schedule(name)


def _row(name: str) -> dict[str, Any]:
    row = open_store().get_schedule(check_name(name, "schedule"))
    if row is None:
        raise NotFoundError(f"no schedule {name!r}; see `stackyard schedules list`")
    return row


def _iso(ms: int | None, tz: str) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).isoformat()


def _entry(row: dict[str, Any], fires: int = 0) -> dict[str, Any]:
    spec = row["spec"]
    nxt = row["next_ms"]
    if nxt is None and row["state"] == "ENABLED":
        nxt = Timing.of(row).first()
    out = {"name": row["name"], "state": row["state"], "expression": spec["expression"],
           "timezone": spec["timezone"], "catchup": spec["catchup"], "overlap": spec["overlap"],
           "start_at": _iso(spec.get("start_ms"), spec["timezone"]),
           "end_at": _iso(spec.get("end_ms"), spec["timezone"]),
           "target": row["target"], "does": _targets.describe(row["target"]),
           "next_fire": _iso(nxt, spec["timezone"]) if row["state"] == "ENABLED" else None,
           "created_at": row["created_at"]}
    if fires:
        out["fires"] = [fire_entry(f) for f in
                        open_store().list_fires("schedule", row["name"], limit=fires)]
    return out


def fire_entry(f: dict[str, Any]) -> dict[str, Any]:
    """A fire record as shown by describe / --json."""
    return {"id": f["id"], "source": f["source"], "owner": f["owner"], "key": f["key"],
            "due": datetime.fromtimestamp(f["due_ms"] / 1000).astimezone().isoformat(),
            "status": f["status"], "reason": f["reason"], "detail": f["detail"],
            "started_at": f["started_at"], "ended_at": f["ended_at"]}


def list_schedules() -> list[dict[str, Any]]:
    return [_entry(r) for r in open_store().list_schedules()]


def describe_schedule(name: str, fires: int = 20) -> dict[str, Any]:
    """The schedule, its next fire time and its latest ``fires`` fire records."""
    return _entry(_row(name), fires)


def pause_schedule(name: str) -> dict[str, Any]:
    row = _row(name)
    open_store().set_schedule_state(row["name"], "PAUSED")
    return describe_schedule(row["name"])


def resume_schedule(name: str) -> dict[str, Any]:
    """Enable again from now on: times that passed while paused are not caught up."""
    row = _row(name)
    nxt = Timing.of(row).next_after(int(time.time() * 1000))
    open_store().set_schedule_state(row["name"], "ENABLED", nxt, reset_next=True)
    return describe_schedule(row["name"])


def delete_schedule(name: str) -> None:
    if not open_store().delete_schedule(_row(name)["name"]):
        raise NotFoundError(f"no schedule {name!r}")


def trigger_schedule(name: str) -> dict[str, Any]:
    """Fire the schedule's target now (whatever its state and overlap), from this process:
    no server needed."""
    from stackyard.runtime import process_start_time
    from stackyard.triggers._fires import launch

    row = _row(name)
    now_ms = int(time.time() * 1000)
    store = open_store()
    me = os.getpid()
    fid, _ = store.add_fire({"source": "schedule", "owner": row["name"],
                             "key": f"manual:{now_ms}", "due_ms": now_ms,
                             "target": row["target"], "params": {},
                             "detail": {"manual": True}, "launcher_pid": me,
                             "launcher_start": process_start_time(me)})
    fire = store.get_fire(fid)
    assert fire is not None
    launch(store, fire)
    return fire_entry(store.get_fire(fid) or fire)
