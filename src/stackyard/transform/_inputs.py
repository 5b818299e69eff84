"""The input files of a transform and how they are cut into units of work.

A unit is a byte range of a line file that starts and ends at line starts, a group of
Parquet row groups, or a whole file (``split_type="None"``, or gzip, which cannot be
entered in the middle). Large files are cut into about ``UNITS_PER_WORKER`` units per worker
(between 1 and 64 MB a unit): workers take units as they free up, so one that started late
or drew slower rows is never left with a large share at the end while the others idle. The
cut depends only on the file and the request, so a resumed job finds the parts an earlier
attempt finished under the same names.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path
from typing import Any

from stackyard import artifacts
from stackyard.errors import NotFoundError, UsageError

UNIT_MIN, UNIT_MAX = 1 << 20, 64 << 20
UNITS_PER_WORKER = 4
_CHUNK = 1 << 20


def input_files(uri: str, fetch_dir: Path) -> list[tuple[str, Path]]:
    """(name relative to the input prefix, path) of every input file, sorted. A local
    folder gives all its files (dot files left out: editors' and tools' droppings); a file
    gives itself. A remote URI is copied into ``fetch_dir`` first (once: a resumed job
    reuses the copy)."""
    if artifacts.is_remote(uri):
        if not fetch_dir.is_dir():
            with artifacts.building(fetch_dir) as tmp:
                artifacts.fetch(uri, tmp)
        root = fetch_dir
    else:
        root = artifacts.uri_to_path(uri)
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise NotFoundError(f"transform input {uri} does not exist")
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                   if p.is_file() and not any(s.startswith(".") for s in
                                              p.relative_to(root).parts))
    if not files:
        raise UsageError(f"transform input {uri} holds no files")
    return files


def _line_start(f: Any, pos: int, size: int) -> int:
    """The first line start at or after ``pos``."""
    f.seek(pos - 1)
    while chunk := f.read(_CHUNK):
        nl = chunk.find(b"\n")
        if nl >= 0:
            return f.tell() - len(chunk) + nl + 1
    return size


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PAR1"


def _fingerprint(rel: str, path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:20]


def units_of(rel: str, path: Path, split_line: bool, gzip: bool, workers: int,
             work_dir: Path) -> list[dict[str, Any]]:
    """The units of one input file; each names the part file it writes, in a folder keyed
    by the file's name, size and modification time (a changed file never meets the parts
    of its earlier content)."""
    folder = work_dir / _fingerprint(rel, path)
    base = {"file": rel, "path": str(path)}

    def unit(kind: str, key: str, **extra: Any) -> dict[str, Any]:
        return {**base, "kind": kind, "part": str(folder / f"{key}.part"), **extra}

    if not split_line:
        return [unit("whole", "whole", gzip=gzip)]
    if gzip:
        return [unit("gzip", "gzip")]
    if _is_parquet(path):
        import pyarrow.parquet as pq

        with pq.ParquetFile(path) as pf:
            meta = pf.metadata
            sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)]
            rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        target = min(UNIT_MAX, max(UNIT_MIN, math.ceil(sum(sizes) / (workers
                                                                     * UNITS_PER_WORKER))))
        out, group, first, size = [], [], 0, 0
        for i in range(len(rows)):
            group.append(i)
            size += sizes[i]
            if size >= target or i == len(rows) - 1:
                out.append(unit("parquet", f"rg-{group[0]:06d}-{group[-1]:06d}",
                                row_groups=group, first_row=first))
                first += sum(rows[g] for g in group)
                group, size = [], 0
        return out or [unit("parquet", "rg-empty", row_groups=[], first_row=0)]
    size = path.stat().st_size
    step = min(UNIT_MAX, max(UNIT_MIN, math.ceil(size / (workers * UNITS_PER_WORKER))))
    bounds = [0]
    with open(path, "rb") as f:
        pos = step
        while pos < size:
            b = _line_start(f, pos, size)
            if bounds[-1] < b < size:
                bounds.append(b)
            pos = max(pos + step, b + 1)
    bounds.append(size)
    return [unit("lines", f"{a:016d}-{b:016d}", start=a, end=b)
            for a, b in itertools.pairwise(bounds)]


def line_number(unit: dict[str, Any], index: int | None) -> int | None:
    """The 1-based line (row, for Parquet) of record ``index`` of ``unit`` in its file: for
    a byte range, the newlines before it are counted (only when an error needs it)."""
    if index is None:
        return None
    if unit["kind"] == "parquet":
        return unit["first_row"] + index + 1
    if unit["kind"] != "lines":
        return index + 1
    before = 0
    with open(unit["path"], "rb") as f:
        left = unit["start"]
        while left > 0 and (chunk := f.read(min(_CHUNK, left))):
            before += chunk.count(b"\n")
            left -= len(chunk)
    return before + index + 1
