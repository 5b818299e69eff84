"""Dataset formats (SageMaker's ``DatasetFormat`` / ``MonitoringDatasetFormat`` dicts) and
the one chunked reader every profile reads through.

Why chunks: a baseline is computed over a training set and a check over a day of traffic;
neither should need the file to fit in memory. Every reader yields ``pyarrow`` tables of at
most a few MiB each, and the profiler's sketches merge across them.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from stackyard._checks import is_remote, uri_to_path
from stackyard.errors import UsageError

BLOCK_BYTES = 4 << 20
JSON_CHUNK_ROWS = 50_000
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class DatasetFormat:
    """Formats of a baselining dataset (SageMaker SDK v2 ``DatasetFormat``)."""

    @staticmethod
    def csv(header: bool = True, output_columns_position: str = "START") -> dict[str, Any]:
        if output_columns_position not in ("START", "END"):
            raise UsageError(f"output_columns_position {output_columns_position!r}: "
                             "use START or END")
        return {"csv": {"header": bool(header),
                        "output_columns_position": output_columns_position}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        return {"json": {"lines": bool(lines)}}

    @staticmethod
    def sagemaker_capture_json() -> dict[str, Any]:
        return {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
                                                               "endpointOutput"]}}


class MonitoringDatasetFormat:
    """Formats of the data a monitoring run reads (``MonitoringDatasetFormat``)."""

    @staticmethod
    def csv(header: bool = True) -> dict[str, Any]:
        return {"csv": {"header": bool(header)}}

    @staticmethod
    def json(lines: bool = True) -> dict[str, Any]:
        return {"json": {"lines": bool(lines)}}

    @staticmethod
    def parquet() -> dict[str, Any]:
        return {"parquet": {}}


def format_kind(dataset_format: Any) -> tuple[str, dict[str, Any]]:
    """``("csv"|"json"|"parquet"|"sagemakerCaptureJson", options)``, or ``UsageError``."""
    if isinstance(dataset_format, dict) and len(dataset_format) == 1:
        kind, options = next(iter(dataset_format.items()))
        if kind in ("csv", "json", "parquet", "sagemakerCaptureJson") and isinstance(
                options, dict | None):
            return kind, dict(options or {})
    raise UsageError(f"dataset_format {dataset_format!r}: use DatasetFormat.csv(header=...), "
                     ".json(lines=...), .sagemaker_capture_json() or "
                     "MonitoringDatasetFormat.parquet()")


@contextmanager
def local_files(uri: str | Path | list[Path]) -> Iterator[list[Path]]:
    """The files of a dataset (a list of files, a file, or every file under a folder in name
    order); remote URIs are copied to a temp folder first."""
    if isinstance(uri, list):
        yield [Path(p) for p in uri]
        return
    with tempfile.TemporaryDirectory(prefix="stackyard-monitor-") as tmp:
        if is_remote(str(uri)):
            from stackyard import artifacts

            artifacts.fetch(str(uri), Path(tmp))
            root = Path(tmp)
        else:
            root = uri_to_path(uri)
        if root.is_file():
            files = [root]
        elif root.is_dir():
            files = sorted(p for p in root.rglob("*")
                           if p.is_file() and not any(part.startswith(".")
                                                      for part in p.relative_to(root).parts))
        else:
            raise UsageError(f"dataset {uri} does not exist")
        if not files:
            raise UsageError(f"dataset {uri} is an empty folder; it holds no files to read")
        yield files


def read_chunks(uri: str | Path | list[Path], dataset_format: Any) -> Iterator[pa.Table]:
    """Tables of at most a few MiB each, every column named. CSV values arrive as strings
    (so each value's type can be inferred the way Deequ does); JSON and Parquet keep theirs.
    An empty dataset, or a header that is data, is a ``UsageError``."""
    kind, options = format_kind(dataset_format)
    with local_files(uri) as files:
        rows = 0
        for path in files:
            if kind == "csv":
                chunks = _csv(path, bool(options.get("header", True)))
            elif kind == "parquet":
                chunks = _parquet(path)
            elif kind == "json":
                chunks = _json(path, bool(options.get("lines", True)))
            else:
                from stackyard.monitor._capture import capture_chunks

                chunks = capture_chunks(path)
            for table in chunks:
                rows += table.num_rows
                if table.num_rows:
                    yield table
        if rows == 0:
            raise UsageError(f"dataset {uri} holds no rows")


def _csv(path: Path, header: bool) -> Iterator[pa.Table]:
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        first = next(csv.reader(f), None)
    if first is None:
        raise UsageError(f"{path} is empty" + (": a header row was declared (header=True)"
                                               if header else ""))
    if header:
        if all(_NUMBER.fullmatch(c.strip()) for c in first):
            raise UsageError(f"{path}: header=True but the first row {first[:5]!r} is data; "
                             "pass header=False or add a header row")
        names = [c.strip() for c in first]
        dupes = sorted({n for n in names if names.count(n) > 1 or not n})
        if dupes:
            raise UsageError(f"{path}: header names must be unique and non-empty; "
                             f"check {dupes!r}")
    else:
        names = [f"_c{i}" for i in range(len(first))]
    try:  # open_csv reads the first block: its errors (e.g. bytes not UTF-8) count too
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0,
                                           block_size=BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                strings_can_be_null=True))
        for batch in reader:
            yield pa.Table.from_batches([batch])
    except pa.ArrowInvalid as e:
        raise UsageError(f"{path}: not valid CSV for {len(names)} columns ({e})") from None


def _parquet(path: Path) -> Iterator[pa.Table]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=65_536):
            yield pa.Table.from_batches([batch])
    except (pa.ArrowInvalid, OSError) as e:
        raise UsageError(f"{path} is not a Parquet file ({e})") from None


def _json(path: Path, lines: bool) -> Iterator[pa.Table]:
    """JSON lines (one object per line) in chunks; a whole JSON document (a list of
    objects) is read at once, as SageMaker does."""
    def table(records: list[Any]) -> pa.Table:
        if not all(isinstance(r, dict) for r in records):
            raise UsageError(f"{path}: each JSON record must be an object of feature: value")
        names = list(dict.fromkeys(k for r in records for k in r))
        return pa.table({n: _json_column([r.get(n) for r in records]) for n in names})

    if not lines:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{path} is not valid JSON ({e})") from None
        yield table(doc if isinstance(doc, list) else [doc])
        return
    records: list[Any] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError as e:
                raise UsageError(f"{path} line {n} is not valid JSON ({e})") from None
            if len(records) >= JSON_CHUNK_ROWS:
                yield table(records)
                records = []
    if records:
        yield table(records)


def _json_column(values: list[Any]) -> pa.Array:
    """Numbers stay numbers; a column that mixes kinds becomes text (so the profiler sees
    each value's own type)."""
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int} and kinds:
        try:
            return pa.array(values, type=pa.int64())
        except OverflowError:
            pass
    if kinds <= {int, float} and kinds:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v)
                     for v in values], type=pa.string())
