"""One unit of work: a byte range of a line file (or a whole file, or some Parquet row
groups) in, its transformed records out, in input order, in a part file of its own.

Records are read one at a time and grouped into mini-batches no larger than
``max_payload``; each mini-batch is one call through the model's inference contract
(``ModelHandler.invoke``: bytes in, bytes out, as an endpoint answers), so memory stays
bounded by the mini-batch, never by the file. A mini-batch never spans units, and units
never span files. When a mini-batch fails, its records are tried one by one to name the
first one the model cannot take. While the model predicts one mini-batch, a thread reads
and decodes the next (see ``_prefetched``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackyard.artifacts import atomic_file
from stackyard.transform._jsonpath import JsonPath, RecordError, parse

CSV, JSON, JSONLINES = "text/csv", "application/json", "application/jsonlines"
NPY = "application/x-npy"
PARQUET_BATCH_ROWS = 4096
_PIECE = 1 << 20


class UnitFailure(Exception):
    """A record of the unit cannot be transformed; ``index`` counts records (lines, rows)
    from the start of the unit, 0-based."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.message = message


# --- CSV rows as JSON arrays ----------------------------------------------------------------
def parse_csv(record: bytes) -> list[str]:
    """A CSV line as its fields (RFC 4180 quoting), the shape JSONPath filters see."""
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("the record is not UTF-8 text") from None
    if "\n" in text.strip():
        raise RecordError("a CSV record must be one line (use split_type='Line')")
    if '"' not in text:
        return text.split(",")
    return next(csv.reader([text]))


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_csv(fields: Any) -> bytes:
    row = fields if isinstance(fields, list) else [fields]
    return ",".join(_field(f) for f in row).encode()


def _parse_json(record: bytes) -> Any:
    try:
        return json.loads(record)
    except (ValueError, RecursionError) as e:
        raise RecordError(f"the record is not valid JSON ({e})") from None


def _dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


# --- reading a unit: blocks of whole lines ---------------------------------------------------
def _pieces(unit: dict[str, Any], content_type: str) -> Iterator[bytes]:
    """The unit's bytes in pieces of about a megabyte: a byte range of a plain file, a gzip
    file decompressed, or Parquet row groups converted to lines of ``content_type``."""
    path, kind = Path(unit["path"]), unit["kind"]
    if kind == "parquet":
        yield from _parquet_lines(path, unit["row_groups"], content_type)
    elif kind == "gzip":
        with gzip.open(path, "rb") as f:
            while piece := f.read(_PIECE):
                yield piece
    else:
        with open(path, "rb") as f:
            f.seek(unit["start"])
            left = unit["end"] - unit["start"]
            while left > 0 and (piece := f.read(min(_PIECE, left))):
                left -= len(piece)
                yield piece


def _parquet_lines(path: Path, row_groups: list[int], content_type: str) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if content_type not in (CSV, JSON, JSONLINES):
        raise UnitFailure(0, f"Parquet rows are sent as {CSV} or {JSONLINES}, not "
                             f"{content_type}")
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=row_groups):
            if content_type == CSV:
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buf,
                                pacsv.WriteOptions(include_header=False))
                yield buf.getvalue()
            else:
                yield b"".join(_dump_json(r) + b"\n" for r in batch.to_pylist())


def _blocks(pieces: Iterator[bytes], max_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(index of its first line, block): the pieces regrouped into blocks of whole lines,
    each at most ``max_bytes`` (a mini-batch's budget). Line indexes count every line,
    blank ones too, so they stay the file's physical line numbers."""
    buf = bytearray()
    index = 0
    for piece in pieces:
        buf += piece
        while len(buf) >= max_bytes:
            cut = buf.rfind(b"\n", 0, max_bytes) + 1
            if cut == 0:
                raise UnitFailure(index, f"the record is more than max_payload "
                                         f"({max_bytes >> 20} MB)")
            block = bytes(buf[:cut])
            del buf[:cut]
            yield index, block
            index += block.count(b"\n")
    if buf:
        yield index, bytes(buf)


def _records(index: int, block: bytes) -> list[tuple[int, bytes]]:
    """(line index, record) of every line of a block that is not blank."""
    return [(index + i, line.rstrip(b"\r")) for i, line in enumerate(block.split(b"\n"))
            if line and not line.isspace()]


# --- the plan: what every unit of a job does ------------------------------------------------
class Plan:
    """The request's data-processing settings, parsed once per worker."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.content_type: str = spec["content_type"]
        self.accept: str = spec["accept"]
        self.single = spec["strategy"] == "SingleRecord"
        self.max_bytes = int(spec["max_payload_mb"]) << 20
        self.input_filter: JsonPath = parse(spec["input_filter"], "input_filter")
        self.output_filter: JsonPath = parse(spec["output_filter"], "output_filter")
        self.join = spec["join_source"] == "Input"
        self.line = spec["assemble_with"] == "Line"
        self.in_csv = self.content_type == CSV

    @property
    def per_record(self) -> bool:
        """Whether answers must be split into one per record (to join or filter them)."""
        return self.join or not self.output_filter.is_root

    def model_input(self, record: bytes) -> bytes:
        if self.input_filter.is_root:
            return record
        if self.in_csv:
            return format_csv(self.input_filter.apply(parse_csv(record)))
        return _dump_json(self.input_filter.apply(_parse_json(record)))


def _answers(body: bytes, content_type: str, n: int) -> tuple[list[Any], bool]:
    """The model's answer to a mini-batch of ``n`` records as one value per record, and
    whether they are CSV rows."""
    ct = content_type.split(";")[0].strip().lower()
    try:
        if ct == CSV:
            items: list[Any] = [parse_csv(ln) for ln in body.splitlines() if ln.strip()]
        elif ct == JSONLINES:
            items = [json.loads(ln) for ln in body.splitlines() if ln.strip()]
        elif ct == JSON:
            doc = json.loads(body)
            if isinstance(doc, dict) and isinstance(doc.get("predictions"), list):
                doc = doc["predictions"]
            items = doc if isinstance(doc, list) and (n > 1 or len(doc) == 1) else [doc]
        else:
            raise RecordError(f"cannot take answers in {ct} apart into records; use an "
                              f"accept of {CSV}, {JSON} or {JSONLINES}")
    except (ValueError, RecursionError) as e:
        raise RecordError(f"the model's {ct} answer is not valid ({e})") from None
    if len(items) != n:
        raise RecordError(f"the model answered {len(items)} records for a mini-batch of {n}; "
                          "join_source and output_filter need one answer per record")
    return items, ct == CSV


def _joined(plan: Plan, record: bytes, answer: Any, out_csv: bool) -> tuple[Any, bool]:
    """SageMaker's join: CSV input and answer as one row (the answer's columns appended);
    otherwise the input JSON object with the answer under ``SageMakerOutput``, or, when the
    input is not an object, ``{"SageMakerInput": ..., "SageMakerOutput": ...}``."""
    if plan.in_csv and out_csv:
        return parse_csv(record) + answer, True
    value = parse_csv(record) if plan.in_csv else _parse_json(record)
    if out_csv and len(answer) == 1:
        answer = answer[0]
    if isinstance(value, dict):
        return {**value, "SageMakerOutput": answer}, False
    return {"SageMakerInput": value, "SageMakerOutput": answer}, False


# --- one unit -------------------------------------------------------------------------------
Item = tuple[int, bytes, bytes]  # (line index, record as read, what the model gets of it)


class Batch:
    """One mini-batch: the request body, and its records (worked out only when needed: to
    filter, join or split answers, or to find the record that failed)."""

    def __init__(self, body: bytes, index: int, block: bytes | None = None,
                 items: list[Item] | None = None) -> None:
        self.body, self.index, self.block, self._items = body, index, block, items

    @property
    def items(self) -> list[Item]:
        if self._items is None:
            self._items = [(i, r, r) for i, r in _records(self.index, self.block or b"")]
        return self._items


def _batches(plan: Plan, unit: dict[str, Any]) -> Iterator[Batch]:
    if unit["kind"] == "whole":
        opener = gzip.open if unit.get("gzip") else open
        with opener(unit["path"], "rb") as f:
            record = f.read()
        model_in = _filtered(plan, 0, record)
        if len(model_in) > plan.max_bytes:
            raise UnitFailure(0, f"the file is {len(model_in)} bytes, more than max_payload "
                                 f"({plan.max_bytes >> 20} MB)")
        yield Batch(model_in, 0, items=[(0, record, model_in)])
        return
    for index, block in _blocks(_pieces(unit, plan.content_type), plan.max_bytes):
        if plan.single or not plan.input_filter.is_root:
            items = [(i, r, _filtered(plan, i, r)) for i, r in _records(index, block)]
            if plan.single:
                yield from (Batch(m + b"\n", i, items=[(i, r, m)]) for i, r, m in items)
            elif items:
                yield Batch(b"\n".join(m for _, _, m in items) + b"\n", index, items=items)
        elif b"\r" in block or b"\n\n" in block or block.startswith(b"\n"):
            items = [(i, r, r) for i, r in _records(index, block)]
            if items:
                yield Batch(b"\n".join(r for _, r, _ in items) + b"\n", index, items=items)
        elif block.strip():
            yield Batch(block if block.endswith(b"\n") else block + b"\n", index, block)


def _filtered(plan: Plan, index: int, record: bytes) -> bytes:
    try:
        return plan.model_input(record)
    except RecordError as e:
        raise UnitFailure(index, f"input_filter: {e}") from None


_END = object()


def _prefetched(handler: Any, plan: Plan, unit: dict[str, Any]
                ) -> Iterator[tuple[Batch, tuple[Any, ...] | None]]:
    """The unit's mini-batches, each with ``handler.check``'s result for it (its decoded
    rows), or None where the handler cannot check apart from answering or the check failed
    (``_invoke`` then repeats it and names the record). A thread reads and decodes the next
    mini-batch while the caller predicts this one: the CSV parser and the model libraries
    release the GIL, so a worker keeps a second core busy when one is free. Only stackyard's
    decoding runs in the thread, never model code; at most two mini-batches wait, so memory
    stays bounded by ``max_payload``."""
    from stackyard.inference import InputError

    if not hasattr(handler, "answer") or unit["kind"] == "whole":
        yield from ((b, None) for b in _batches(plan, unit))
        return
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in _batches(plan, unit):
                if stop.is_set():
                    return
                try:
                    checked = handler.check(batch.body, plan.content_type, plan.accept)
                except InputError:
                    checked = None
                ready.put((batch, checked))
            ready.put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the caller, in order
            ready.put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:  # a failed mini-batch ends the unit early: unblock the thread and let it end
        stop.set()
        while thread.is_alive():
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass


def _invoke(handler: Any, plan: Plan, batch: Batch, lines: bool,
            checked: tuple[Any, ...] | None = None) -> tuple[bytes, str]:
    from stackyard.inference import InputError, ModelError

    def call(items: list[Item]) -> tuple[bytes, str]:
        body = b"\n".join(m for _, _, m in items) + b"\n" if lines else items[0][2]
        return handler.invoke(body, plan.content_type, plan.accept)

    def first_bad(items: list[Item]) -> UnitFailure | None:
        """Bisect to the first record the model cannot take (about 2x the batch's rows in
        all, instead of one call per record)."""
        try:
            call(items)
            return None
        except (InputError, ModelError) as e:
            if len(items) == 1:
                return UnitFailure(items[0][0], str(e))
            half = len(items) // 2
            return first_bad(items[:half]) or first_bad(items[half:]) or UnitFailure(
                items[0][0], f"the mini-batch starting here failed ({e}), though its halves "
                             "alone succeed")

    try:
        if checked is not None:
            return handler.answer(batch.body, *checked)
        return handler.invoke(batch.body, plan.content_type, plan.accept)
    except (InputError, ModelError) as e:
        failure = first_bad(batch.items) if len(batch.items) > 1 else UnitFailure(
            batch.items[0][0] if batch.items else batch.index, str(e))
    raise failure or UnitFailure(batch.index, "the mini-batch failed once, then succeeded")


def transform_unit(handler: Any, plan: Plan, unit: dict[str, Any]) -> int:
    """Transform one unit into its part file (written to a temp name, renamed when whole);
    returns how many mini-batches it took. Raises ``UnitFailure`` naming the record."""
    part = Path(unit["part"])
    part.parent.mkdir(parents=True, exist_ok=True)
    calls = 0
    with atomic_file(part) as out:
        for batch, checked in _prefetched(handler, plan, unit):
            body, ct = _invoke(handler, plan, batch, unit["kind"] != "whole", checked)
            calls += 1
            if not plan.per_record:
                out.write(body)
                if plan.line and body and not body.endswith(b"\n"):
                    out.write(b"\n")
                continue
            try:
                answers, out_csv = _answers(body, ct, len(batch.items))
            except RecordError as e:
                raise UnitFailure(batch.index, str(e)) from None
            for (i, rec, _), answer in zip(batch.items, answers, strict=True):
                try:
                    value, as_csv = (_joined(plan, rec, answer, out_csv) if plan.join
                                     else (answer, out_csv))
                    value = plan.output_filter.apply(value)
                except RecordError as e:
                    raise UnitFailure(i, f"{'join/' if plan.join else ''}output_filter: "
                                         f"{e}") from None
                out.write(format_csv(value) if as_csv else _dump_json(value))
                if plan.line:
                    out.write(b"\n")
    return calls
