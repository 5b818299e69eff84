"""``run_transform``: a CreateTransformJob-shaped request in, DescribeTransformJob-like
properties out, durable per input file.

The job folder holds the request, a lock (one process drives a job at a time), the log,
``work/`` (one part file per unit, written to a temp name and renamed when whole) and
``output/`` (one ``<input name>.out`` per input file, renamed into place when all its parts
are there). A call on a folder where an earlier call was killed skips every file whose
``.out`` exists and every unit whose part exists, and removes temp files: nothing finished
is redone and nothing half-written is ever read. When every file is done the output folder
goes into the content-addressed store and is published to ``S3OutputPath`` (which only adds
files there).
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from stackyard import _home, artifacts, runtime
from stackyard._checks import check_name, check_number, json_safe
from stackyard.errors import StepFailed, UsageError
from stackyard.transform._inputs import input_files, line_number, units_of
from stackyard.transform._jsonpath import parse
from stackyard.transform._models import resolve_model
from stackyard.transform._pool import Worker, worker_env

CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines", "application/x-npy")
_CHOICES = {"BatchStrategy": ("MultiRecord", "SingleRecord"), "SplitType": ("None", "Line"),
            "CompressionType": ("None", "Gzip"), "AssembleWith": ("None", "Line"),
            "JoinSource": ("None", "Input")}


class TransformError(StepFailed):
    """The transform job failed: ``failures`` has one ``file:line: reason`` per failed
    file; files that finished keep their output."""

    def __init__(self, reason: str, failures: list[str] | None = None) -> None:
        super().__init__(reason, "JobError")
        self.failures = failures or []


class JobRunning(UsageError):
    """Another process is driving this transform job right now."""


def check_choice(value: Any, key: str) -> str:
    """``value`` (None meaning "None") if it is one of SageMaker's values for ``key``
    (``BatchStrategy``, ``SplitType``, ``CompressionType``, ``AssembleWith``,
    ``JoinSource``)."""
    value = "None" if value is None else value
    if value not in _CHOICES[key]:
        raise UsageError(f"{key} {value!r}: use one of {', '.join(_CHOICES[key])}")
    return value


def _number(value: Any, default: int, what: str, hi: int | None = None) -> int:
    return default if value is None else int(check_number(value, what, lo=1, hi=hi,
                                                          integer=True))


def check_request(request: dict[str, Any]) -> dict[str, Any]:
    """The request's settings, checked and with SageMaker's defaults filled in; every
    problem is a ``UsageError`` naming the value, raised before anything is written."""
    inp = request.get("TransformInput") or {}
    out = request.get("TransformOutput") or {}
    proc = request.get("DataProcessing") or {}
    res = request.get("TransformResources") or {}
    source = (inp.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise UsageError(f"S3DataType {source.get('S3DataType')!r}: only S3Prefix inputs (a "
                         "folder, a file, or a remote prefix) are supported")
    if not isinstance(source.get("S3Uri"), str) or not source["S3Uri"]:
        raise UsageError("the transform needs an input: TransformInput.DataSource."
                         "S3DataSource.S3Uri")
    content_type = str(inp.get("ContentType") or "text/csv").split(";")[0].strip().lower()
    if content_type not in CONTENT_TYPES:
        raise UsageError(f"content_type {content_type!r}: use one of {', '.join(CONTENT_TYPES)}")
    accept = out.get("Accept")
    split = check_choice(inp.get("SplitType"), "SplitType")
    if split == "Line" and content_type == "application/x-npy":
        raise UsageError("application/x-npy input cannot be split into lines; use "
                         "split_type='None'")
    plan = {
        "content_type": content_type,
        "accept": str(accept).split(";")[0].strip().lower() if accept else None,
        "strategy": check_choice(request.get("BatchStrategy") or "MultiRecord", "BatchStrategy"),
        "max_payload_mb": _number(request.get("MaxPayloadInMB"), 6, "max_payload (MB)",
                                  hi=100),
        "input_filter": parse(proc.get("InputFilter") or "$", "input_filter").expr,
        "output_filter": parse(proc.get("OutputFilter") or "$", "output_filter").expr,
        "join_source": check_choice(proc.get("JoinSource"), "JoinSource"),
        "assemble_with": check_choice(out.get("AssembleWith"), "AssembleWith"),
    }
    hosts = _number(res.get("InstanceCount"), 1, "instance_count")
    concurrency = _number(request.get("MaxConcurrentTransforms"), 1,
                          "max_concurrent_transforms")
    env = request.get("Environment") or {}
    if not isinstance(env, dict):
        raise UsageError(f"env {env!r}: a dict of variable names to strings")
    return {"plan": plan, "input": source["S3Uri"], "split_line": split == "Line",
            "gzip": check_choice(inp.get("CompressionType"), "CompressionType") == "Gzip",
            "output_path": out.get("S3OutputPath"), "workers": hosts * concurrency,
            "hosts": hosts, "concurrency": concurrency,
            "instance_type": res.get("InstanceType"),
            "environment": {str(k): str(v) for k, v in env.items()}}


def _check_types(model: dict[str, Any], plan: dict[str, Any]) -> None:
    """The content type must be one the model takes and the accept one it answers in;
    without an accept, the content type when the model answers in it, else its first."""
    takes = model["content_types"] or list(CONTENT_TYPES)
    answers = model["response_types"] or list(CONTENT_TYPES)
    if plan["content_type"] not in takes:
        raise UsageError(f"model {model['name']} takes {', '.join(takes)}; content_type "
                         f"{plan['content_type']!r} is not one of them")
    if plan["accept"] is None:
        plan["accept"] = plan["content_type"] if plan["content_type"] in answers else answers[0]
    if plan["accept"] not in answers:
        raise UsageError(f"model {model['name']} answers in {', '.join(answers)}; accept "
                         f"{plan['accept']!r} is not one of them")


def _stored_request(job_dir: Path, request: dict[str, Any]) -> None:
    """Record the request in a new job folder; a folder that holds another request is
    refused (its parts belong to that job)."""
    path = job_dir / "request.json"
    text = json.dumps(request, sort_keys=True, indent=1, default=str)
    if path.exists():
        if path.read_text() != text:
            raise UsageError(f"{job_dir} holds another transform request; use a new folder "
                             "(or the same request to resume it)")
        return
    tmp = path.with_name(".request.json.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class _Log:
    def __init__(self, path: Path, on_log: Callable[[str], None] | None) -> None:
        self.file = open(path, "ab")  # noqa: SIM115 - the workers' stderr too, closed at the end
        self.on_log = on_log
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        text = f"{time.strftime('%H:%M:%S')} {line}"
        with self.lock:
            self.file.write(text.encode() + b"\n")
            self.file.flush()
        if self.on_log is not None:
            self.on_log(text)


def _assemble(units: list[dict[str, Any]], target: Path) -> None:
    """The file's parts, in order, into ``target`` (temp name, renamed when whole)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if len(units) == 1:
        Path(units[0]["part"]).replace(tmp)
    else:
        with open(tmp, "wb") as out:
            for u in units:
                with open(u["part"], "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
    tmp.replace(target)
    shutil.rmtree(Path(units[0]["part"]).parent, ignore_errors=True)


def _clean(folder: Path) -> None:
    """Temp files of a killed attempt (a worker's part, an assembly, a part coming back
    from a Ray host) go: never resumed."""
    for pattern in (".*.tmp", ".*.part"):
        for p in folder.rglob(pattern):
            p.unlink(missing_ok=True)


def _run_units(pending: dict[str, list[dict[str, Any]]], todo: list[dict[str, Any]],
               model: dict[str, Any], settings: dict[str, Any], out_dir: Path, log: _Log
               ) -> list[str]:
    """Hand ``todo`` to the workers; assemble each file when its last unit is done; return
    one failure message per failed file."""
    left = {rel: sum(1 for u in todo if u["file"] == rel) for rel in pending}
    failures: dict[str, str] = {}
    for rel, n in left.items():  # every part already there from an earlier attempt
        if n == 0:
            _assemble(pending[rel], out_dir / f"{rel}.out")
            log(f"{rel}: done (from an earlier attempt's parts)")
    if not todo:
        return []
    work: queue.Queue[dict[str, Any]] = queue.Queue()
    for u in todo:
        work.put(u)
    results: queue.Queue[tuple[dict[str, Any], dict[str, Any]]] = queue.Queue()
    fatal: list[str] = []
    hosts = None
    if runtime.selected().name == "ray":  # the same workers, on the cluster's nodes
        from stackyard.transform._ray import Hosts

        try:
            hosts = Hosts(model, settings, todo, log)
        except UsageError as e:
            raise TransformError(str(e)) from e
        workers: list[Any] = hosts.workers
        where = f"on {len(hosts.actors)} Ray host(s)"
    else:
        n_workers = min(settings["workers"], len(todo))
        env = worker_env(model["environment"], settings["environment"], n_workers)
        workers = [Worker(env, log.file) for _ in range(n_workers)]
        where = "on this machine"
    log(f"{len(todo)} units of {len(pending)} files on {len(workers)} worker process(es) "
        f"{where}")

    def drive(w: Any) -> None:
        hello = w.ask({"model": model, "plan": settings["plan"]})
        if not hello or not hello.get("ready"):
            fatal.append(hello["fatal"] if hello else "a worker exited while loading the model")
            return
        while not fatal:
            try:
                unit = work.get_nowait()
            except queue.Empty:
                return
            if unit["file"] in failures:
                results.put((unit, {"ok": False, "skipped": True}))
                continue
            reply = w.ask({"unit": unit})
            if reply is None:
                results.put((unit, {"ok": False, "index": None, "error": w.gone()}))
                return
            results.put((unit, reply))

    threads = [threading.Thread(target=drive, args=(w,), daemon=True) for w in workers]
    finished = False
    try:
        for t in threads:
            t.start()
        done = 0
        while done < len(todo) and not fatal:
            try:
                unit, reply = results.get(timeout=0.2)
            except queue.Empty:
                if not any(t.is_alive() for t in threads):
                    break
                continue
            done += 1
            rel = unit["file"]
            if reply["ok"]:
                left[rel] -= 1
                if left[rel] == 0 and rel not in failures:
                    _assemble(pending[rel], out_dir / f"{rel}.out")
                    log(f"{rel}: done")
            elif not reply.get("skipped") and rel not in failures:
                line = line_number(unit, reply["index"])
                failures[rel] = f"{rel}{'' if line is None else f':{line}'}: {reply['error']}"
                log(f"FAILED {failures[rel]}")
        finished = True
    finally:  # an interrupt or a model that cannot load: stop the workers at once
        for w in workers:
            w.close(kill=bool(fatal) or not finished)
        if hosts is not None:
            hosts.close(kill=bool(fatal) or not finished)
        for t in threads:
            t.join()
    if fatal:
        raise TransformError(f"the model failed to load: {fatal[0]}")
    for rel, n in left.items():
        if n and rel not in failures:  # every worker died before finishing it
            failures[rel] = f"{rel}: not transformed: no worker was left"
    for rel in failures:  # a failed file's parts are never resumed: its data will change
        shutil.rmtree(Path(pending[rel][0]["part"]).parent, ignore_errors=True)
    return list(failures.values())


def run_transform(request: dict[str, Any], job_dir: Path,
                  on_log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run (or resume) the transform ``request`` describes in ``job_dir``; returns its
    DescribeTransformJob-like properties. Raises ``UsageError`` before writing anything
    when the request or its model cannot be used (a Rejected version, an unknown model, a
    content type the model does not take), ``TransformError`` when files failed."""
    settings = check_request(request)
    model = resolve_model(request.get("ModelName"), bool(request.get("AllowUnapproved")))
    _check_types(model, settings["plan"])
    job_dir = Path(job_dir)
    name = request.get("TransformJobName") or job_dir.name
    job_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(job_dir / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise JobRunning(f"transform job {name} is running in another process") from None
    try:
        _stored_request(job_dir, request)
        started = time.time()
        log = _Log(job_dir / "log.txt", on_log)
        try:
            out_dir, work_dir = job_dir / "output", job_dir / "work"
            out_dir.mkdir(exist_ok=True)
            work_dir.mkdir(exist_ok=True)
            _clean(out_dir)
            _clean(work_dir)
            files = input_files(settings["input"], job_dir / "input")
            pending: dict[str, list[dict[str, Any]]] = {}
            for rel, path in files:
                if not (out_dir / f"{rel}.out").exists():
                    pending[rel] = units_of(rel, path, settings["split_line"],
                                            settings["gzip"], settings["workers"], work_dir)
            log(f"transform job {name}: model {model['name']}, {len(files)} input files, "
                f"{len(files) - len(pending)} already done")
            todo = [u for units in pending.values() for u in units
                    if not Path(u["part"]).exists()]
            failures = _run_units(pending, todo, model, settings, out_dir, log)
            if failures:
                more = f" (and {len(failures) - 1} more failed files)" if len(failures) > 1 else ""
                raise TransformError(f"transform job {name} failed: {failures[0]}{more}",
                                     failures)
            stored = artifacts.put_tree(out_dir)
            destination = settings["output_path"]
            if destination:
                artifacts.publish(stored, str(destination))
            log(f"transform job {name}: completed; output {destination or stored}")
        finally:
            log.file.close()
    finally:
        lock.release()
    return json_safe({
        "TransformJobName": name, "TransformJobStatus": "Completed",
        "ModelName": request.get("ModelName"),
        "TransformInput": request.get("TransformInput"),
        "TransformOutput": {**(request.get("TransformOutput") or {}),
                            "S3OutputPath": destination or stored,
                            "Accept": settings["plan"]["accept"]},
        "TransformResources": request.get("TransformResources"),
        "DataProcessing": request.get("DataProcessing"),
        "BatchStrategy": settings["plan"]["strategy"],
        "MaxPayloadInMB": settings["plan"]["max_payload_mb"],
        "OutputUri": stored, "InputFiles": len(files),
        "TransformStartTime": started, "TransformEndTime": time.time(),
    })


# --- a transform job outside a pipeline: recorded in the store ------------------------------
def run_transform_job(request: dict[str, Any],
                      on_log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the job now, durably: the model is checked first (a Rejected version writes
    nothing), then the job is recorded and run in ``$STACKYARD_HOME/transform/<name>``.
    Calling again with the same name and request resumes a job that was killed or failed
    (finished files are kept) and returns a completed job's recorded result."""
    from stackyard.store import open_store

    check_request(request)
    resolve_model(request.get("ModelName"), bool(request.get("AllowUnapproved")))
    name = check_name(request.get("TransformJobName"), "job")
    store = open_store()
    job_dir = _home.home() / "transform" / name
    if not store.create_transform_job(name, request, str(job_dir)):
        row = store.get_transform_job(name)
        if row["request"] != json.loads(json.dumps(request, sort_keys=True)):
            raise UsageError(f"a transform job named {name} exists with other arguments; "
                             "choose another job_name")
        if row["status"] == "Completed":
            return row["outputs"]
    store.set_transform_job(name, status="InProgress", failure_reason=None, end_time=None)
    try:
        outputs = run_transform(request, job_dir, on_log)
    except JobRunning:
        raise
    except Exception as e:  # an interrupt leaves it InProgress: resumable, not failed
        store.set_transform_job(name, status="Failed", failure_reason=str(e),
                                end_time=time.time())
        raise
    store.set_transform_job(name, status="Completed", outputs=outputs, end_time=time.time())
    return outputs


def resume_transform_job(name: str, on_log: Callable[[str], None] | None = None
                         ) -> dict[str, Any]:
    """Finish a recorded transform job that was killed or failed, from its stored
    request."""
    from stackyard.errors import NotFoundError
    from stackyard.store import open_store

    row = open_store().get_transform_job(name)
    if row is None:
        raise NotFoundError(f"no transform job named {name!r}")
    return run_transform_job(row["request"], on_log)


def describe_transform_job(name: str) -> dict[str, Any]:
    """The recorded job: status, failure reason, request and (when completed) outputs."""
    from stackyard.errors import NotFoundError
    from stackyard.store import open_store

    row = open_store().get_transform_job(name)
    if row is None:
        raise NotFoundError(f"no transform job named {name!r}")
    return {"TransformJobName": name, "TransformJobStatus": row["status"],
            "FailureReason": row["failure_reason"], "Request": row["request"],
            "Outputs": row["outputs"], "JobDir": row["job_dir"],
            "CreationTime": row["created_at"], "TransformEndTime": row["end_time"]}
