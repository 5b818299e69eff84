"""Output helpers shared by every CLI noun: JSON or tables, times, live run events."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, soft_wrap=True)

STATUS_STYLE = {"Succeeded": "green", "Failed": "red", "Executing": "cyan", "Skipped": "dim",
                "Stopped": "yellow", "Stopping": "yellow"}


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def duration(start: float | None, end: float | None) -> str:
    if not start:
        return "-"
    return f"{(end or time.time()) - start:.1f}s"


def status(s: str) -> str:
    return f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]"


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    t = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[str(x) if x is not None else "-" for x in r])
    out.print(t)


def live_events(show_logs: bool = True) -> Callable[[dict[str, Any]], None]:
    """Print step transitions (and job log lines) as they happen."""
    started: dict[str, float] = {}

    def on_event(e: dict[str, Any]) -> None:
        kind = e.get("type")
        stamp = time.strftime("%H:%M:%S")
        if kind == "step":
            name, st = e["step"], e["status"]
            if st == "Executing":
                started[name] = time.time()
                out.print(f"[dim]{stamp}[/] ▶ {name} {status(st)}")
            else:
                extra = " [dim](cache hit)[/]" if e.get("cache_hit") else ""
                took = f" in {time.time() - started[name]:.1f}s" if name in started else ""
                mark = {"Succeeded": "✓", "Failed": "✗", "Skipped": "↷"}.get(st, "■")
                out.print(f"[dim]{stamp}[/] {mark} {name} {status(st)}{took}{extra}")
                if st == "Failed" and e.get("failure_reason"):
                    first = str(e["failure_reason"]).splitlines()[0]
                    out.print(f"           [red]{first}[/]")
        elif kind == "retry":
            out.print(f"[dim]{stamp}[/] ↻ {e['step']} attempt {e['attempt']} failed "
                      f"({e['error_type']}); retrying in {e['delay']:.1f}s")
        elif kind == "log" and show_logs:
            out.print(f"  {e['step']} | {e['line']}", markup=False, style="dim")
        elif kind == "run":
            out.print(f"[dim]{stamp}[/] run {e['run_id']} {status(e['status'])}")

    return on_event
