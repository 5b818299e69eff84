"""Event rules: ``--on EVENT [--filter PATTERN] --then pipeline|state-machine|notify``.

Domains write events to the store's event log as they happen (a run ends, a version is
registered or approved, a check finds drift); the loop turns each new event into an
EventBridge-shaped event (``source``, ``detail-type``, ``time``, ``detail``) and records
one fire per matching rule. ``file-arrived`` rules watch a folder or an fsspec prefix
instead, and pass the new file's URI to the pipeline parameter the rule names.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackyard._checks import check_name, is_remote, to_uri, uri_to_path
from stackyard.errors import NotFoundError, UsageError
from stackyard.store import open_store
from stackyard.triggers import _targets
from stackyard.triggers._patterns import check_pattern, matches

FILE_ARRIVED = "file-arrived"
# rule event -> (the event log's kind, a test on its payload, the payload key whose value a
# pipeline parameter receives)
EVENTS: dict[str, tuple[str, Any, str]] = {
    "model-approved": ("model.approval", lambda p: p.get("to") == "Approved", "ref"),
    "model-registered": ("model.registered", None, "ref"),
    "run-succeeded": ("run.succeeded", None, "run_id"),
    "run-failed": ("run.failed", None, "run_id"),
    "drift-detected": ("drift.detected", None, "run_id"),
}
ON = (*EVENTS, FILE_ARRIVED)


def to_event(row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(rule event name, EventBridge-shaped event) of an event-log row, or None when no
    rule can react to it."""
    for on, (kind, test, _) in EVENTS.items():
        if row["kind"] == kind and (test is None or test(row["payload"])):
            return on, make_event(on, row["payload"], row["ts"], str(row["id"]))
    return None


def make_event(on: str, detail: dict[str, Any], ts: float, eid: str) -> dict[str, Any]:
    return {"version": "0", "id": eid, "source": "stackyard", "detail-type": on,
            "time": datetime.fromtimestamp(ts, UTC).isoformat(), "detail": detail}


def event_value(on: str, detail: dict[str, Any]) -> Any:
    """What a rule's ``--parameter`` receives: the model reference, run id or file URI."""
    if on == FILE_ARRIVED:
        return detail["uri"]
    value = detail.get(EVENTS[on][2])
    return value if value is not None else detail.get("monitoring_run")


def _watch(path: str) -> dict[str, Any]:
    if is_remote(path):
        import fsspec

        protocol = path.split("://", 1)[0]
        try:
            fsspec.get_filesystem_class(protocol)
        except (ImportError, ValueError) as e:
            raise UsageError(f"--watch {path!r}: {e}") from None
        return {"uri": path.rstrip("/") + "/"}
    folder = uri_to_path(path)
    if not folder.is_dir():
        raise UsageError(f"--watch {path!r}: no such folder")
    return {"uri": to_uri(folder)}


def create_rule(name: str, *, on: str, target: dict[str, Any],
                pattern: dict[str, Any] | None = None, watch: str | None = None
                ) -> dict[str, Any]:
    """Create rule ``name``: every ``on`` event that matches ``pattern`` (EventBridge
    syntax, against ``{"source", "detail-type", "time", "detail": {...}}``) fires
    ``target``. ``file-arrived`` needs ``watch`` (a folder or fsspec prefix), and a pipeline
    target then needs a ``parameter`` to receive each new file's URI."""
    name = check_name(name, "rule")
    if on not in ON:
        raise UsageError(f"--on {on!r}: write one of {', '.join(ON)}")
    if pattern is not None:
        check_pattern(pattern, "--filter")
    if (on == FILE_ARRIVED) != (watch is not None):
        raise UsageError("--watch FOLDER goes with --on file-arrived, and file-arrived needs it")
    if on == FILE_ARRIVED and target["kind"] == _targets.PIPELINE and not target["parameter"]:
        raise UsageError("a file-arrived rule passes the new file's URI to a pipeline "
                         "parameter: add --parameter NAME")
    if not open_store().add_rule(name, on, pattern or {}, target,
                                 None if watch is None else _watch(watch)):
        raise UsageError(f"rule {name!r} exists; delete it first or pick another name")
    return describe_rule(name)


def _entry(row: dict[str, Any], fires: int = 0) -> dict[str, Any]:
    from stackyard.triggers._schedules import fire_entry

    out = {"name": row["name"], "on": row["event"], "filter": row["pattern"] or None,
           "watch": (row["watch"] or {}).get("uri"), "target": row["target"],
           "does": _targets.describe(row["target"]), "created_at": row["created_at"]}
    if fires:
        out["fires"] = [fire_entry(f) for f in
                        open_store().list_fires("rule", row["name"], limit=fires)]
    return out


def _row(name: str) -> dict[str, Any]:
    row = open_store().get_rule(check_name(name, "rule"))
    if row is None:
        raise NotFoundError(f"no rule {name!r}; see `stackyard rules list`")
    return row


def list_rules() -> list[dict[str, Any]]:
    return [_entry(r) for r in open_store().list_rules()]


def describe_rule(name: str, fires: int = 20) -> dict[str, Any]:
    return _entry(_row(name), fires)


def delete_rule(name: str) -> None:
    if not open_store().delete_rule(_row(name)["name"]):
        raise NotFoundError(f"no rule {name!r}")


def rule_fires(rule: dict[str, Any], on: str, event: dict[str, Any], key: str
               ) -> dict[str, Any] | None:
    """The fire row ``rule`` records for ``event`` (None: the rule does not react)."""
    if rule["event"] != on or not matches(rule["pattern"] or {}, event):
        return None
    target = rule["target"]
    params = {}
    if target["kind"] == _targets.PIPELINE and target.get("parameter"):
        params[target["parameter"]] = event_value(on, event["detail"])
    return {"source": "rule", "owner": rule["name"], "key": key,
            "due_ms": int(time.time() * 1000), "target": target, "params": params,
            "detail": {"event": event}}


def new_files(rule: dict[str, Any], seen: dict[str, tuple[int, int]]
              ) -> list[tuple[str, int, int]]:
    """Files under the rule's watched folder that are new since the rule was created and
    unchanged since the previous scan (``seen``: uri -> (size, mtime_ns), updated here):
    (uri, size, mtime_ns) of each that is ready."""
    uri = rule["watch"]["uri"]
    listing: dict[str, tuple[int, int]] = {}
    if is_remote(uri):
        import fsspec

        fs, root = fsspec.core.url_to_fs(uri)
        for info in fs.ls(root, detail=True):
            if info.get("type") == "file":
                mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
                stamp = int(mtime.timestamp() * 1e9) if isinstance(mtime, datetime) else \
                    int(float(mtime or 0) * 1e9)
                full = info["name"]
                listing[f"{fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol}"
                        f"://{full}"] = (int(info.get("size") or 0), stamp)
    else:
        folder = uri_to_path(uri)
        try:
            entries = list(Path(folder).iterdir())
        except OSError:
            return []
        for p in entries:
            # a link is no arrival: it would pass its target (any file the server can
            # read, /etc/… included) to the pipeline as if it had been put in the folder
            if p.name.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            st = p.stat()
            listing[to_uri(p)] = (st.st_size, st.st_mtime_ns)
    ready = []
    since_ns = int(rule["created_at"] * 1e9)
    for u, (size, mtime) in listing.items():
        if mtime >= since_ns and seen.get(u) == (size, mtime):
            ready.append((u, size, mtime))
    seen.clear()
    seen.update(listing)
    return ready
