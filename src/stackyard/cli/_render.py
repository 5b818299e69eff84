"""Output helpers shared by every CLI noun: JSON or tables, times, live run events."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from stackyard._checks import json_safe


class _LazyConsole:
    """A ``rich`` console created on first use: ``--json``, ``--help`` and errors never
    import rich (about 20 ms of every command's start-up)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            options = dict(self._options)
            if not options.get("stderr"):
                options["width"] = None if sys.stdout.isatty() else 160
            self._console = Console(highlight=False, soft_wrap=True, **options)
        return getattr(self._console, name)


out = _LazyConsole()
err = _LazyConsole(stderr=True)


def escape(value: Any) -> str:
    """``value`` as text that rich prints literally (user-given names may contain ``[/]``)."""
    from rich.markup import escape as _escape

    return _escape(str(value))

STATUS_STYLE = {"Succeeded": "green", "Failed": "red", "Executing": "cyan", "Skipped": "dim",
                "Stopped": "yellow", "Stopping": "yellow", "Delivered": "green",
                "Pending": "cyan"}


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def duration(start: float | None, end: float | None) -> str:
    if not start:
        return "-"
    return f"{(end or time.time()) - start:.1f}s"


class Markup(str):
    """Text that is rich markup on purpose; ``table`` prints every other cell literally."""


def status(s: str) -> Markup:
    return Markup(f"[{STATUS_STYLE.get(s, 'white')}]{escape(s)}[/]")


def print_json(value: Any) -> None:
    """The one ``--json`` printer: always valid JSON (non-finite floats become ``null``)."""
    sys.stdout.write(json.dumps(json_safe(value), indent=2, sort_keys=True, default=str,
                                allow_nan=False) + "\n")


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    from rich.table import Table

    t = Table(title=escape(title) if title else None, show_edge=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[x if isinstance(x, Markup) else escape(x) if x is not None else "-"
                    for x in r])
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
                out.print(f"[dim]{stamp}[/] ▶ {escape(name)} {status(st)}")
            else:
                extra = " [dim](cache hit)[/]" if e.get("cache_hit") else ""
                took = f" in {time.time() - started[name]:.1f}s" if name in started else ""
                mark = {"Succeeded": "✓", "Failed": "✗", "Skipped": "↷"}.get(st, "■")
                out.print(f"[dim]{stamp}[/] {mark} {escape(name)} {status(st)}{took}{extra}")
                if st == "Failed" and e.get("failure_reason"):
                    first = str(e["failure_reason"]).splitlines()[0]
                    out.print(f"           [red]{escape(first)}[/]")
        elif kind == "retry":
            out.print(f"[dim]{stamp}[/] ↻ {escape(e['step'])} attempt {e['attempt']} failed "
                      f"({e['error_type']}); retrying in {e['delay']:.1f}s")
        elif kind == "log" and show_logs:
            out.print(f"  {e['step']} | {e['line']}", markup=False, style="dim")
        elif kind == "run":
            out.print(f"[dim]{stamp}[/] run {e['run_id']} {status(e['status'])}")

    return on_event
