"""Reading SageMaker data-capture files (what ``serving/_capture.py`` writes, or what an AWS
endpoint wrote): JSON lines of ``captureData.endpointInput/endpointOutput`` records, in
hourly folders ``<endpoint>/<variant>/YYYY/MM/DD/HH/*.jsonl``.

Requests are turned into columns ``_c0, _c1, ...`` (CSV text is split as text, so a stray
word in a numeric column shows as a type violation; other content types go through the
inference codecs). The first value of the answer becomes column ``_output``, which a
baseline built with the label first (``output_columns_position="START"``) names.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from stackyard.errors import UsageError

OUTPUT = "_output"
CHUNK_ROWS = 50_000


def _text(entry: dict[str, Any]) -> tuple[bytes, str]:
    data = entry.get("data", "")
    raw = base64.b64decode(data) if entry.get("encoding") == "BASE64" else str(data).encode()
    return raw, str(entry.get("observedContentType") or "text/csv")


def _rows(entry: dict[str, Any] | None) -> list[list[str]]:
    """One captured body as rows of text values."""
    if not entry:
        return []
    from stackyard.inference._codecs import CSV, InputError, base_type, decode

    raw, ct = _text(entry)
    if base_type(ct) == CSV:
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
        return [[v.strip() for v in line.split(",")] for line in text.split("\n") if line.strip()]
    try:
        return [[repr(float(v)) if not float(v).is_integer() else str(int(v)) for v in row]
                for row in decode(raw, ct)]
    except (InputError, ValueError, OverflowError):
        return [[raw.decode("utf-8", "replace")]]


def records(path: Path) -> Iterator[dict[str, Any]]:
    """Each capture line of ``path`` as ``{inference_id, event_id, time, inputs, outputs}``
    (``inputs``/``outputs``: rows of text values)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                data = doc["captureData"]
                meta = doc.get("eventMetadata") or {}
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"{path} line {n} is not a SageMaker capture record "
                                 "(JSON with captureData)") from None
            yield {"inference_id": meta.get("inferenceId") or None,
                   "event_id": meta.get("eventId") or None,
                   "time": meta.get("inferenceTime"),
                   "inputs": _rows(data.get("endpointInput")),
                   "outputs": _rows(data.get("endpointOutput"))}


def capture_chunks(path: Path) -> Iterator[pa.Table]:
    """The requests of a capture file as tables: ``_output`` (when answers were captured)
    then ``_c0..`` per request row."""
    rows: list[list[str | None]] = []
    width = 0

    def flush() -> pa.Table:
        names = [OUTPUT] + [f"_c{i}" for i in range(width)]
        cols = [[r[i] if i < len(r) else None for r in rows] for i in range(width + 1)]
        table = pa.table({n: pa.array(c, type=pa.string()) for n, c in zip(names, cols,
                                                                           strict=True)})
        return table if any(r[0] is not None for r in rows) else table.drop_columns([OUTPUT])

    for rec in records(path):
        outs = rec["outputs"]
        for i, row in enumerate(rec["inputs"]):
            out = outs[i][0] if i < len(outs) and outs[i] else None
            rows.append([out, *row])
            width = max(width, len(row))
        if len(rows) >= CHUNK_ROWS:
            yield flush()
            rows, width = [], 0
    if rows:
        yield flush()


def capture_files(root: Path, since: datetime | None) -> list[Path]:
    """Capture files under ``root`` (one endpoint) whose hour folder is not older than
    ``since``'s hour, oldest first."""
    files = []
    for p in sorted(root.glob("*/*/*/*/*/*.jsonl")):
        variant_rel = p.relative_to(root).parts
        try:
            hour = datetime(*map(int, variant_rel[1:5]), tzinfo=UTC)
        except ValueError:
            continue
        if since is None or hour >= since.replace(minute=0, second=0, microsecond=0):
            files.append(p)
    return files
