"""Starting recorded fires: a detached launcher for pipelines, checks and state machines,
an in-process ``publish`` for notifications; and noticing fires whose process died."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from stackyard import _home
from stackyard.triggers._targets import NOTIFY

SKIP, QUEUE, ALLOW = "skip", "queue", "allow"


def launch(store: Any, fire: dict[str, Any]) -> None:
    """Start ``fire``: a notification is recorded here; anything else gets a launcher."""
    if fire["target"]["kind"] == NOTIFY:
        _notify(store, fire)
        return
    from stackyard.runtime import process_start_time, start_detached

    logs = _home.home() / "triggers"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    cwd = fire["target"].get("cwd")
    proc = start_detached([sys.executable, "-m", "stackyard.triggers._launch", str(fire["id"])],
                          logs / f"fire-{fire['id']}.log",
                          cwd=cwd if cwd and os.path.isdir(cwd) else None)
    store.set_fire_launcher(fire["id"], proc.pid, process_start_time(proc.pid))
    _REAP.append(proc)


# launchers this process started: polled so they do not stay zombies while we live
_REAP: list[Any] = []


def reap_children() -> None:
    _REAP[:] = [p for p in _REAP if p.poll() is None]


def _notify(store: Any, fire: dict[str, Any]) -> None:
    from stackyard.notify import publish
    from stackyard.runtime import process_start_time

    me = os.getpid()
    if not store.claim_fire(fire["id"], me, process_start_time(me)):
        return
    event = (fire["detail"] or {}).get("event")
    try:
        nid = publish(fire["target"]["channel"], _summary(fire, event),
                      subject=_subject(fire, event), event=event, dedupe=f"fire:{fire['id']}",
                      deliver=False)
    except Exception as e:  # noqa: BLE001 - recorded on the fire, the loop goes on
        store.finish_fire(fire["id"], "Failed", f"{type(e).__name__}: {e}")
        return
    store.finish_fire(fire["id"], "Succeeded", None, {**(fire["detail"] or {}),
                                                      "notification": nid})


def _subject(fire: dict[str, Any], event: dict[str, Any] | None) -> str:
    what = event["detail-type"] if event else f"schedule {fire['owner']}"
    return f"stackyard: {what}"[:100]


def _summary(fire: dict[str, Any], event: dict[str, Any] | None) -> str:
    if not event:
        return f"schedule {fire['owner']} fired (due {time.ctime(fire['due_ms'] / 1000)})"
    d = event.get("detail") or {}
    subject = d.get("ref") or d.get("run_id") or d.get("uri") or d.get("source") or ""
    status = d.get("status") or d.get("to") or (
        f"{d['violations']} violation(s)" if d.get("violations") else "")
    reason = d.get("failure_reason")
    return " ".join(x for x in (f"{event['detail-type']}:", str(subject), str(status),
                                f"({reason})" if reason else "") if x)


def reap_dead(store: Any, fire: dict[str, Any]) -> None:
    """A ``Running`` fire whose process is gone: a notification is handed back (recording
    it again is idempotent); anything else is recorded ``Failed``, never restarted."""
    from stackyard.runtime import alive

    if alive(fire["pid"], fire["pid_start"]):
        return
    if fire["target"]["kind"] == NOTIFY:
        store.release_fire(fire["id"], fire["pid"])
        return
    store.finish_fire(fire["id"], "Failed", "the process running this fire ended before "
                                            "recording how it ended (killed?)")


def launcher_alive(fire: dict[str, Any]) -> bool:
    from stackyard.runtime import alive

    return alive(fire["launcher_pid"], fire["launcher_start"])
