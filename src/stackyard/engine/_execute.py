"""Execute one attempt of one step, by type. Each executor returns the step's recorded
properties (what later steps can reference) or raises ``StepFailed``."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import io
import json
import pickle
import re
import tarfile
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackyard import artifacts, runtime
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


def job_name(run_id: str, step: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", f"{step}-{run_id}")[:63].strip("-")


def _pack_model(model_dir: Path) -> bytes:
    """A reproducible ``model.tar.gz``: same files, same bytes, same content address."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(model_dir.rglob("*")):
            info = tar.gettarinfo(str(p), arcname=p.relative_to(model_dir).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if p.is_file():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            elif p.is_dir():
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def _run_job(a: Attempt, spec: runtime.JobSpec) -> runtime.JobResult:
    if a.adopt is not None:
        pid, start = a.adopt.get("pid"), a.adopt.get("pid_start")
        pidfile = a.job_dir / "launcher.pid"
        if not pid and pidfile.exists():
            pid_s, start = pidfile.read_text().split()
            pid = int(pid_s)
        if (a.job_dir / "exit.json").exists() or runtime.alive(pid, start):
            return runtime.wait(a.job_dir, None, pid, start, a.on_log)
    runtime.prepare(spec, a.job_dir)
    proc = runtime.start(a.job_dir)
    started = runtime.process_start_time(proc.pid) or ""
    a.store.set_attempt_pid(a.run_id, a.step.name, a.n, proc.pid, started)
    return runtime.wait(a.job_dir, proc, None, None, a.on_log)


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
        uri = artifacts.put_tree(local)
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
    log = (a.job_dir / "log.txt").read_text(errors="replace") if (
        a.job_dir / "log.txt").exists() else ""
    series = runtime.parse_log(log, spec.metric_definitions)
    a.store.put_metrics(a.run_id, a.step.name, a.n, series)
    _check(result)
    model = artifacts.put_bytes(_pack_model(host_path(a.job_dir, "/opt/ml/model")),
                                "model.tar.gz")
    data = artifacts.put_tree(host_path(a.job_dir, "/opt/ml/output/data"))
    dest = req.get("OutputDataConfig", {}).get("S3OutputPath")
    if dest:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, name, "output").mkdir(parents=True)
            Path(tmp, name, "output", "model.tar.gz").write_bytes(
                artifacts.uri_to_path(model).read_bytes())
            artifacts.export(artifacts.put_tree(Path(tmp)), str(dest))
    final = {m: {"MetricName": m, "Value": v[-1]} for m, v in series.items() if v}
    return {"TrainingJobName": name, "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model},
            "OutputDataConfig": {"S3OutputPath": data},
            "HyperParameters": req.get("HyperParameters", {}),
            "FinalMetricDataList": final}


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
    except Exception as e:  # noqa: BLE001 - the user's exception is the step's failure
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
        return pickle.loads(path.read_bytes())  # noqa: S301 - hash verified just above
    return outputs.get("Result")


def run_fail(a: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
    raise StepFailed(str(resolved.get("ErrorMessage") or "FailStep reached"), "FailStep")
