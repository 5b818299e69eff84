"""Execute one attempt of one step, by type. Each executor returns the step's recorded
properties (what later steps can reference) or raises ``StepFailed``."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle
import re
import shutil
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackyard import _checks, artifacts, runtime
from stackyard.engine._definition import StepDef
from stackyard.errors import StepFailed
from stackyard.runtime._job import host_path
from stackyard.store import Store


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
            artifacts.export(uri, str(out["S3Output"]["S3Uri"]))
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


def load_function(ref: dict[str, str]) -> Callable:
    """Import a ``@step`` function again (a resumed run lives in a new process)."""
    obj: Any = None
    module = ref.get("Module", "")
    if module and not module.startswith("__"):
        try:
            obj = importlib.import_module(module)
        except ImportError:
            obj = None
    if obj is None:
        if not ref.get("File"):
            raise StepFailed(f"cannot find function {ref.get('Name')}: it was defined "
                             "interactively; define it in a file to resume this run",
                             "DefinitionError")
        mod_name = "stackyard_user_" + re.sub(r"\W", "_", ref["File"])
        spec = importlib.util.spec_from_file_location(mod_name, ref["File"])
        assert spec and spec.loader
        obj = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(obj)
    for part in ref["Name"].split("."):
        obj = getattr(obj, part)
    return getattr(obj, "__stackyard_function__", obj)


def run_function(a: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
    func = a.functions.get(a.step.name) or load_function(a.step.arguments["Function"])
    try:
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
