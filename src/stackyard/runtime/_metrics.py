"""Metric definitions (``{"Name", "Regex"}``) turn log lines into time series."""

from __future__ import annotations

import re

from stackyard.errors import DefinitionError


def compile_metrics(defs: list[dict[str, str]]) -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for d in defs:
        try:
            out.append((d["Name"], re.compile(d["Regex"])))
        except re.error as e:
            raise DefinitionError(f"metric {d['Name']!r}: bad regex {d['Regex']!r}: {e}") from e
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
