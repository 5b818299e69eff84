"""Execute one attempt of one step, by type. Each executor returns the step's recorded
properties (what later steps can reference) or raises ``StepFailed``."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from stackyard import _checks, artifacts, runtime
from stackyard.engine._definition import StepDef
from stackyard.engine._environ import scoped_environ
from stackyard.errors import IntegrityError, StepFailed, UsageError
from stackyard.runtime._job import host_path
from stackyard.store import Store
from stackyard.workflow._function import function_ref


@dataclass
class Attempt:
    store: Store
    run_id: str
    step: StepDef
    n: int
    job_dir: Path
    adopt: dict[str, Any] | None          # the attempt row of a job a dead runner left
    on_log: Callable[[str], None] | None
    functions: dict[str, Callable]
    stopping: threading.Event


def job_name(run_id: str, step: str) -> str:
    """The SageMaker job name of a step's job: unique per run (the run id is never cut)."""
    return _checks.job_name(step, run_id)


def _run_job(a: Attempt, spec: runtime.JobSpec) -> runtime.JobResult:
    def record(pid: int, start: str | None) -> None:
        a.store.set_attempt_pid(a.run_id, a.step.name, a.n, pid, start or "")

    def not_stopped() -> None:  # a stop that came while inputs were fetched
        if a.stopping.is_set():
            raise StepFailed("stopped by request before the job started", "Stopped")

    recorded = ((a.adopt or {}).get("pid"), (a.adopt or {}).get("pid_start"))
    return runtime.run(spec, a.job_dir, adopt=a.adopt is not None, recorded=recorded,
                       on_started=record, before_start=not_stopped,
                       on_log=a.on_log)


def _check(result: runtime.JobResult) -> None:
    if not result.ok:
        raise StepFailed(result.reason or "the job failed", result.error_type or "JobError")


def run_processing(a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
    name = job_name(a.run_id, a.step.name)
    spec = runtime.processing_spec(name, req)
    _check(_run_job(a, spec))
    outputs: dict[str, Any] = {}
    for out in req.get("ProcessingOutputConfig", {}).get("Outputs", []):
        local = host_path(a.job_dir, out["S3Output"]["LocalPath"])
        try:
            uri = artifacts.put_tree(local)
        except (OSError, shutil.Error) as e:
            raise StepFailed(f"cannot store output {out['OutputName']!r}: {e}",
                             "JobError") from e
        if out["S3Output"].get("S3Uri"):
            try:  # adds the output's files; never removes what is there
                artifacts.publish(uri, str(out["S3Output"]["S3Uri"]))
            except UsageError as e:
                raise StepFailed(str(e), "JobError") from e
        outputs[out["OutputName"]] = {"OutputName": out["OutputName"], "S3Output": {
            "S3Uri": uri, "LocalPath": out["S3Output"]["LocalPath"],
            "Destination": out["S3Output"].get("S3Uri")}}
    props = {pf["PropertyFileName"]: {"OutputName": pf["OutputName"], "FilePath": pf["FilePath"]}
             for pf in a.step.raw.get("PropertyFiles", [])}
    return {"ProcessingJobName": name, "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": outputs}, "PropertyFiles": props}


def run_training(a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
    name = job_name(a.run_id, a.step.name)
    spec = runtime.training_spec(name, req)
    result = _run_job(a, spec)
    series = runtime.job_metrics(a.job_dir, spec.metric_definitions)
    a.store.put_metrics(a.run_id, a.step.name, a.n, series)
    _check(result)
    return runtime.training_outputs(a.job_dir, name, req, series)


_snapshots: dict[str, ModuleType] = {}   # sha256 of a code snapshot -> module run from it
_snapshots_lock = threading.Lock()


def _snapshot_module(uri: str, file: str, module_name: str) -> ModuleType:
    """Execute a stored snapshot of a ``@step`` function's file as a module, once per
    process; the bytes executed are the bytes whose sha256 the store recorded."""
    try:
        path = artifacts.verify(uri)
        data = path.read_bytes()
    except (IntegrityError, OSError) as e:
        raise StepFailed(f"the code snapshot of {file}: {e}", "IntegrityError") from e
    digest = path.parent.name                      # objects/<sha256>/<name>
    if hashlib.sha256(data).hexdigest() != digest:  # changed since verify() looked
        raise StepFailed(f"the code snapshot of {file} changed in the store; refusing to "
                         "run it", "IntegrityError")
    with _snapshots_lock:
        module = _snapshots.get(digest)
        if module is None:
            module = ModuleType(f"stackyard_snapshot_{digest[:16]}")
            module.__file__ = file   # paths relative to the file still resolve as they did
            module.__package__ = module_name.rpartition(".")[0]
            sys.modules[module.__name__] = module   # pickle and dataclasses look here
            if str(Path(file).parent) not in sys.path:  # its sibling modules, as at start
                sys.path.insert(0, str(Path(file).parent))
            try:
                exec(compile(data, str(path), "exec"), module.__dict__)  # noqa: S102
            except Exception as e:
                del sys.modules[module.__name__]
                raise StepFailed(f"the snapshot of {file} taken when the run started raised "
                                 f"while loading: {type(e).__name__}: {e}",
                                 "DefinitionError") from e
            _snapshots[digest] = module
    return module


def load_function(ref: dict[str, str], snapshot: str | None) -> Callable:
    """A ``@step`` function for a run in a new process (a resume): from the snapshot of its
    file taken when the run started, so the run goes on with the code it started with, not
    with whatever the file holds now. The function must be the one the definition names
    (same source hash), else the step fails rather than run other code."""
    if snapshot is None:
        why = ("it was defined interactively (no file to snapshot); pass the function to "
               "resume_run(functions=...)" if not ref.get("File") else
               f"the run recorded no snapshot of {ref['File']}; start a new run")
        raise StepFailed(f"cannot load @step function {ref.get('Name')}: {why}",
                         "DefinitionError")
    obj: Any = _snapshot_module(snapshot, ref["File"], ref.get("Module", ""))
    try:
        for part in ref["Name"].split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise StepFailed(f"the snapshot of {ref['File']} taken when the run started has no "
                         f"function {ref['Name']}", "DefinitionError") from None
    func = getattr(obj, "__stackyard_function__", obj)
    if function_ref(func)["CodeHash"] != ref["CodeHash"]:
        raise StepFailed(
            f"@step function {ref['Name']} in {ref['File']} changed between defining the "
            "pipeline and starting the run, so the code recorded at start is not the code "
            "the run began with; start a new run", "DefinitionError")
    return func


def run_function(a: Attempt, resolved: dict[str, Any], snapshot: str | None) -> dict[str, Any]:
    func = a.functions.get(a.step.name) or load_function(a.step.arguments["Function"], snapshot)
    try:
        with scoped_environ(resolved.get("Environment")):
            value = func(*resolved.get("Args", []), **resolved.get("Kwargs", {}))
    except Exception as e:
        tb = "".join(traceback.format_exception(e)[-6:])
        err = StepFailed(f"{type(e).__name__}: {e}\n{tb}", type(e).__name__)
        err.error_types = [c.__name__ for c in type(e).__mro__]  # type: ignore[attr-defined]
        raise err from e
    try:
        text = json.dumps(value)
        if json.loads(text) == value:
            return {"Result": value}
    except (TypeError, ValueError):
        pass
    # Not JSON: keep it as a pickle in the content-addressed store; it is only ever
    # unpickled after its hash is checked (see ``load_result``).
    uri = artifacts.put_bytes(pickle.dumps(value, protocol=5), "result.pkl")
    return {"ResultUri": uri}


def load_result(outputs: dict[str, Any]) -> Any:
    if "ResultUri" in outputs:
        path = artifacts.verify(outputs["ResultUri"])
        return pickle.loads(path.read_bytes())
    return outputs.get("Result")


def run_fail(a: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
    raise StepFailed(str(resolved.get("ErrorMessage") or "FailStep reached"), "FailStep")
