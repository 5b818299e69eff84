"""Property paths of a definition: ``{"Get": ...}`` references, their tokens, and which step
a ``Steps.`` reference names. Pure; shared by the compiler and the resolver."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from stackyard.errors import DefinitionError


def walk_gets(value: Any) -> list[str]:
    """Every ``{"Get": path}`` inside a JSON value (JsonGet's property-file Gets included)."""
    out: list[str] = []
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            return [value["Get"]]
        for v in value.values():
            out.extend(walk_gets(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(walk_gets(v))
    return out


_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_:]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or m.end() == pos:
            raise DefinitionError(f"cannot parse property path {path!r} at {path[pos:]!r}")
        if m.group(1) is not None:
            tokens.append(m.group(1))
        elif m.group(2) is not None:
            tokens.append(m.group(2))
        else:
            tokens.append(int(m.group(3)))
        pos = m.end()
    return tokens


def referenced_step(rest: str, names: Collection[str]) -> str | None:
    """The step a reference names, given the reference without its ``Steps.`` prefix.

    Step names may contain dots, so this is the longest name followed by ``.``, ``[`` or
    the end; found by trying each such prefix once (linear in the path, not in the number
    of steps, so compiling and resolving stay linear as pipelines grow).
    """
    found = rest if rest in names else None
    if found is None:
        for i in range(len(rest) - 1, 0, -1):
            if rest[i] in ".[" and rest[:i] in names:
                return rest[:i]
    return found
