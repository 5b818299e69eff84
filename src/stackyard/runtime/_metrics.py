"""Metric definitions (``{"Name", "Regex"}``) turn log lines into time series."""

from __future__ import annotations

import re
from typing import Any

from stackyard.errors import DefinitionError


def compile_metrics(defs: Any) -> list[tuple[str, re.Pattern[str]]]:
    """The one check of ``metric_definitions`` (SDK, definition and runtime alike): a list
    of ``{"Name": str, "Regex": str}`` whose regexes compile; else ``DefinitionError``."""
    if not isinstance(defs, list):
        raise DefinitionError(f"metric_definitions must be a list, not {defs!r}")
    out = []
    for d in defs:
        if not (isinstance(d, dict) and isinstance(d.get("Name"), str)
                and isinstance(d.get("Regex"), str)):
            raise DefinitionError(f"metric definition {d!r} needs a 'Name' and a 'Regex' "
                                  "(both strings)")
        try:
            out.append((d["Name"], re.compile(d["Regex"])))
        except re.error as e:
            raise DefinitionError(f"metric {d['Name']!r}: bad regex {d['Regex']!r}: {e}"
                                  ) from None
    return out


def parse_line(line: str, compiled: list[tuple[str, re.Pattern[str]]]) -> list[tuple[str, float]]:
    found = []
    for name, rx in compiled:
        for m in rx.finditer(line):
            text = m.group(1) if m.groups() else m.group(0)
            try:
                found.append((name, float(text)))
            except (TypeError, ValueError):
                continue
    return found


def parse_log(text: str, defs: list[dict[str, str]]) -> dict[str, list[float]]:
    compiled = compile_metrics(defs)
    series: dict[str, list[float]] = {}
    for line in text.splitlines():
        for name, value in parse_line(line, compiled):
            series.setdefault(name, []).append(value)
    return series
