"""Distributed ``Map`` over a local folder: ``ItemReader``, ``ItemBatcher``, child
executions and ``ResultWriter``, as Step Functions runs them over S3.

S3 maps onto the file system like this: a ``Bucket`` is a local folder, given as an
absolute path or a ``file://`` URI (never relative: a resumed driver may run elsewhere);
a ``Key`` or ``Prefix`` is a ``/``-separated path inside it, which may not leave it.
``s3:listObjectsV2`` lists the files under the bucket whose key starts with ``Prefix``
(a string prefix, as S3 compares it), sorted by key, each as S3 describes an object
(``Key``, ``Size``, ``LastModified``, ``Etag``, ``StorageClass``); ``s3:getObject`` reads
one file as ``ReaderConfig.InputType`` says: ``JSON`` (an array), ``JSONL`` (a value a
line) or ``CSV`` (an object a row, keyed by the first row or ``CSVHeaders``, values as
text). ``ResultWriter`` writes ``<Prefix>/<map run id>/manifest.json`` with
``SUCCEEDED_0.json`` and ``FAILED_0.json`` beside it, in AWS's shapes.

Each item (or batch) runs as a child execution of its own, named by the Map's attempt and
the item's index, so a resumed driver finds the children it created and carries them on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackyard import _checks
from stackyard.errors import UsageError
from stackyard.states import _errors as E
from stackyard.states._errors import StatesError
from stackyard.states._executor import (
    ACCOUNT,
    FINAL,
    REGION,
    ROLE,
    Aborted,
    Driver,
    _tolerance,
    check_size,
    execution_arn,
    iso,
    machine_arn,
)
from stackyard.states._paths import effective_input, items, payload, select

if TYPE_CHECKING:
    from stackyard.states._executor import Flow

S3 = "arn:aws:states:::s3:"
DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


def is_distributed(state: dict[str, Any]) -> bool:
    processor = state.get("ItemProcessor") or {}
    return (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"


def bucket_folder(bucket: Any) -> Path:
    """The local folder a ``Bucket`` names (an absolute path or ``file://`` URI)."""
    text = str(bucket or "")
    if not (text.startswith("file://") or Path(text).is_absolute()):
        raise UsageError(f"Bucket {text!r}: give a local folder as an absolute path or a "
                         "file:// URI")
    return _checks.uri_to_path(text)


def _key_path(folder: Path, key: str) -> Path:
    return _checks.inside(folder, key, "Key")


def _etag(path: Path) -> str:
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    return f'"{digest}"'


def list_objects(bucket: Any, prefix: str = "") -> list[dict[str, Any]]:
    """``ListObjectsV2`` over a local folder: every file whose key starts with ``prefix``."""
    folder = bucket_folder(bucket)
    if not folder.is_dir():
        raise UsageError(f"Bucket {str(bucket)!r} is not a folder")
    out = []
    for path in folder.rglob("*"):
        key = path.relative_to(folder).as_posix()
        if path.is_file() and not path.is_symlink() and key.startswith(prefix):
            st = path.stat()
            out.append({"Etag": _etag(path), "Key": key, "LastModified": int(st.st_mtime),
                        "Size": st.st_size, "StorageClass": "STANDARD"})
    return sorted(out, key=lambda o: o["Key"].encode())


def get_object(bucket: Any, key: str, config: dict[str, Any]) -> list[Any]:
    """``GetObject`` of one file, read as ``config["InputType"]`` says."""
    text = _key_path(bucket_folder(bucket), key).read_text(encoding="utf-8")
    kind = config.get("InputType")
    if kind == "JSON":
        value = json.loads(text)
        if not isinstance(value, list):
            raise UsageError(f"{key}: a JSON input must hold an array")
        return value
    if kind == "JSONL":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if kind != "CSV":
        raise UsageError(f"ReaderConfig.InputType {kind!r}: one of CSV, JSON, JSONL")
    rows = list(csv.reader(io.StringIO(text), delimiter=DELIMITERS[
        config.get("CSVDelimiter", "COMMA")]))
    if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
        header = list(config.get("CSVHeaders") or [])
    else:
        header, rows = (rows[0] if rows else []), rows[1:]
    return [dict(zip(header, row, strict=False)) for row in rows if row]


def read_items(state: dict[str, Any], data: Any, ctx: dict[str, Any]) -> list[Any]:
    """The Map's items: from its ``ItemReader`` (``States.ItemReaderFailed`` when that
    cannot be read), else ``ItemsPath`` over its input; at most ``MaxItems``."""
    value = effective_input(state, data, ctx)
    reader = state.get("ItemReader")
    if reader is None:
        return items(state, value)
    params = payload(reader.get("Parameters") or {}, value, ctx)
    config = reader.get("ReaderConfig") or {}
    limit = config.get("MaxItems")
    if "MaxItemsPath" in config:
        limit = select(config["MaxItemsPath"], value)
    try:
        if reader["Resource"] == S3 + "listObjectsV2":
            found = list_objects(params.get("Bucket"), str(params.get("Prefix") or ""))
        else:
            found = get_object(params.get("Bucket"), str(params.get("Key") or ""), config)
    except (UsageError, OSError, ValueError, KeyError) as e:
        raise StatesError(E.ITEM_READER_FAILED, f"The item reader could not read the "
                          f"items: {e}") from None
    return found[:int(limit)] if limit else found


def batches(state: dict[str, Any], selected: list[Any], data: Any, ctx: dict[str, Any]
            ) -> list[Any]:
    """Each child's input: one item each, or ``{"Items": [...], "BatchInput": ...}`` per
    batch of at most ``MaxItemsPerBatch`` items and ``MaxInputBytesPerBatch`` bytes."""
    batcher = state.get("ItemBatcher")
    if batcher is None:
        return selected
    per = int(batcher.get("MaxItemsPerBatch") or 0) or len(selected) or 1
    max_bytes = int(batcher.get("MaxInputBytesPerBatch") or 0) or 256 * 1024
    extra = payload(batcher["BatchInput"], data, ctx) if "BatchInput" in batcher else None
    out: list[Any] = []
    current: list[Any] = []
    size = 0
    for item in selected:
        n = len(json.dumps(item, separators=(",", ":")).encode())
        if current and (len(current) == per or size + n > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        out.append(current)
    return [{"Items": b, **({"BatchInput": extra} if extra is not None else {})}
            for b in out]


def _write(path: Path, value: Any) -> int:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(text)
    tmp.replace(path)
    return len(text)


def write_results(writer: dict[str, Any], data: Any, ctx: dict[str, Any], map_run: str,
                  children: list[dict[str, Any]]) -> dict[str, Any]:
    """``ResultWriter``: the children's results in files; the Map's output names them."""
    params = payload(writer.get("Parameters") or {}, data, ctx)
    prefix = str(params.get("Prefix") or "").strip("/")
    base = f"{prefix}/{map_run.rsplit(':', 1)[-1]}" if prefix else map_run.rsplit(":", 1)[-1]
    try:
        folder = bucket_folder(params.get("Bucket"))
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [],
                                                  "SUCCEEDED": []}
        for status in ("SUCCEEDED", "FAILED"):
            rows = [c for c in children if (c["Status"] == "SUCCEEDED") == (
                status == "SUCCEEDED")]
            if rows:
                key = f"{base}/{status}_0.json"
                files[status].append({"Key": key,
                                      "Size": _write(_key_path(folder, key), rows)})
        manifest = f"{base}/manifest.json"
        _write(_key_path(folder, manifest), {"DestinationBucket": params.get("Bucket"),
                                             "MapRunArn": map_run, "ResultFiles": files})
    except (UsageError, OSError) as e:
        raise StatesError(E.RESULT_WRITER_FAILED, f"The result writer could not write the "
                          f"results: {e}") from None
    return {"MapRunArn": map_run,
            "ResultWriterDetails": {"Bucket": params.get("Bucket"), "Key": manifest}}


class DistributedMap:
    """One attempt of a distributed Map state, run by the execution's driver."""

    def __init__(self, driver: Driver, th: Flow, name: str, state: dict[str, Any],
                 data: Any, key: str) -> None:
        self.d, self.th, self.name, self.state, self.data, self.key = (
            driver, th, name, state, data, key)
        seed = hashlib.sha256(f"{driver.arn}|{th.path}|{key}".encode()).hexdigest()
        self.run_id = str(uuid.UUID(seed[:32]))
        machine = driver.row["machine"]
        label = state.get("Label") or name
        self.machine = f"{machine}/{label}"
        self.map_run = f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:{self.machine}:{self.run_id}"

    def run(self) -> tuple[Any, list]:
        store, th = self.d.store, self.th
        ctx = self.d.context(th, self.name)
        phase = th.row.get("phase") or ""
        if not phase.startswith(f"dmap:{self.key}:"):
            inputs = self._inputs(ctx)
            arns = [self._child(i, value) for i, value in enumerate(inputs)]
            phase = f"dmap:{self.key}:{len(arns)}"
            store.transition(self.d.arn, [(th.path, "MapRunStarted",
                                           {"mapRunArn": self.map_run})],
                             {th.path: {"phase": phase}})
            th.row["phase"] = phase
        n = int(phase.rsplit(":", 1)[1])
        arns = [self._arn(i) for i in range(n)]
        try:
            self._drive(arns, ctx)
        except StatesError as e:
            self.d.emit(th.path, "MapRunFailed", {"error": e.error, "cause": e.cause})
            raise
        results = [self._result(a) for a in arns]
        if "ResultWriter" in self.state:
            value = effective_input({"InputPath": self.state.get("InputPath", "$")},
                                    self.data, ctx)
            out: Any = write_results(self.state["ResultWriter"], value, ctx, self.map_run,
                                     results)
        else:
            out = [json.loads(r["Output"]) if r["Status"] == "SUCCEEDED" else
                   {"Error": r.get("Error"), "Cause": r.get("Cause")} for r in results]
        return out, [("MapRunSucceeded", None)]

    def _inputs(self, ctx: dict[str, Any]) -> list[Any]:
        found = read_items(self.state, self.data, ctx)
        selected = [effective_input(self.state, self.data, {
            **ctx, "Map": {"Item": {"Index": i, "Value": v}}}) for i, v in enumerate(found)]
        return batches(self.state, selected, effective_input(
            {"InputPath": self.state.get("InputPath", "$")}, self.data, ctx), ctx)

    def _arn(self, i: int) -> str:
        return execution_arn(self.machine, f"{self.run_id[:18]}-{i}")

    def _child(self, i: int, value: Any) -> str:
        """Record child execution ``i`` (once: a resumed driver finds it again)."""
        arn = self._arn(i)
        text = check_size(value, f"input of item {i} of state '{self.name}'")
        processor = {k: v for k, v in self.state["ItemProcessor"].items()
                     if k in ("StartAt", "States")}
        created = self.d.store.create_execution(
            {"arn": arn, "machine": self.machine, "name": arn.rsplit(":", 1)[1],
             "version": self.d.row["version"], "definition": json.dumps(processor),
             "input": text, "parent": self.d.arn, "start_time": time.time()},
            processor["StartAt"], {"input": text, "inputDetails": {"truncated": False},
                                   "roleArn": ROLE,
                                   "stateMachineArn": machine_arn(self.machine)})
        if not created and (self.d.store.get_execution(arn) or {}).get("parent") != self.d.arn:
            raise StatesError(E.RUNTIME, f"child execution {arn} belongs to another execution")
        return arn

    def _drive(self, arns: list[str], ctx: dict[str, Any]) -> None:
        """Drive the children, at most MaxConcurrency (and the CPU count) at once; stop
        the rest once more have failed than the Map tolerates."""
        store, th = self.d.store, self.th
        limit = int(self.state.get("MaxConcurrency") or 0) or self.d.cpus
        tolerated = _tolerance(self.state, self.data, len(arns)) or 0.0
        todo = [a for a in arns if (store.get_execution(a) or {}).get("status") not in FINAL]
        failed = sum(1 for a in arns if (store.get_execution(a) or {}).get("status") in (
            "FAILED", "TIMED_OUT", "ABORTED"))
        exceeded = failed > tolerated
        running: dict[Future, str] = {}
        cancel = threading.Event()
        with ThreadPoolExecutor(max_workers=max(1, min(limit, self.d.cpus, len(todo) or 1)),
                                thread_name_prefix="sfn-dmap") as pool:
            while (todo and not exceeded) or running:
                while todo and not exceeded and not th.cancel.is_set() and len(running) < min(
                        limit, self.d.cpus):
                    arn = todo.pop(0)
                    running[pool.submit(_run_child, store, arn)] = arn
                if th.cancel.is_set() or exceeded:
                    if not cancel.is_set():
                        cancel.set()
                        for arn in running.values():
                            store.request_stop_execution(arn, "States.Aborted",
                                                         "the Map run was stopped")
                    todo.clear()
                if not running:
                    break
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    if fut.result() != "SUCCEEDED":
                        failed += 1
                        exceeded = exceeded or failed > tolerated
        if th.cancel.is_set():
            raise Aborted
        if exceeded:
            raise StatesError(E.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                              "The specified tolerated failure threshold was exceeded")

    def _result(self, arn: str) -> dict[str, Any]:
        """One child as ``DescribeExecution`` shows it in ``SUCCEEDED_0.json``."""
        row = self.d.store.get_execution(arn) or {}
        out = {"ExecutionArn": arn, "Input": row.get("input"),
               "InputDetails": {"Included": True}, "Name": row.get("name"),
               "RedriveCount": 0, "RedriveStatus": "NOT_REDRIVABLE",
               "StartDate": iso(row["start_time"]),
               "StateMachineArn": machine_arn(self.machine), "Status": row.get("status"),
               "StopDate": iso(row["stop_time"]) if row.get("stop_time") else None}
        if row.get("status") == "SUCCEEDED":
            out.update(Output=row.get("output"), OutputDetails={"Included": True})
        else:
            out.update(Error=row.get("error"), Cause=row.get("cause"))
        return out


def _run_child(store: Any, arn: str) -> str:
    """Drive one child execution here; if another process drives it (a user's `states
    resume` of the child), wait for that one instead."""
    try:
        return Driver(arn, store).run()
    except UsageError:
        while (row := store.get_execution(arn)) is not None and row["status"] not in FINAL:
            time.sleep(0.2)
        return str(row["status"]) if row else "FAILED"
