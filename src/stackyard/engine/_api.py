"""The engine's public operations: register, start, resume, stop and describe runs.

No server: whichever process calls ``start_run``/``resume_run`` is the engine for that
run, and the store plus the run lock make that safe across processes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackyard.engine._params import resolve_parameters
from stackyard.engine.steps import step_type
from stackyard.errors import ConflictError, NotFoundError, UsageError
from stackyard.store import open_store

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef
    from stackyard.engine._runner import Event

# The runner, the job runtime and the SDK are imported where a run starts, resumes or stops:
# the read functions below (what `stackyard runs list` calls) need only the store.


def _digest(definition: dict[str, Any]) -> str:
    from stackyard.artifacts import json_digest  # hashlib & co.: not for read commands

    return json_digest(definition)


def register_pipeline(definition: dict[str, Any]) -> int:
    from stackyard.engine._definition import compile_definition

    compile_definition(definition)
    return open_store().upsert_pipeline(
        definition["Name"], json.dumps(definition, sort_keys=True), _digest(definition))


def _snapshot_code(pdef: PipelineDef) -> dict[str, str]:
    """Store the source file of every ``@step`` function, keyed by its path, so a resumed
    run (a new process) runs the code the run started with even if the file is edited."""
    from stackyard import artifacts

    files = {f for s in pdef.steps.values() for f in step_type(s.type).code_files(s)}
    return {f: artifacts.put_file(Path(f)) for f in sorted(files)}


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class RunHandle:
    def __init__(self, run_id: str, thread: threading.Thread | None) -> None:
        self.run_id = run_id
        self.thread = thread
        self.error: BaseException | None = None

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
        if self.error is not None:
            raise self.error


def start_run(
    definition: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    functions: dict[str, Callable] | None = None,
    background: bool = False,
    on_event: Callable[[Event], None] | None = None,
    max_parallel: int | None = None,
    run_id: str | None = None,
) -> RunHandle:
    """Validate everything, then record the run, then execute it.

    Nothing is written to the store unless the definition and parameters are valid.
    ``run_id`` names the run instead of a fresh id: a caller that recorded the id first
    (a Step Functions task) finds the run again after a crash.
    """
    from stackyard.engine._definition import compile_definition
    from stackyard.engine._runner import Runner
    from stackyard.runtime import selected

    pdef = compile_definition(definition)
    params = resolve_parameters(pdef.parameters, parameters)
    store = open_store()
    version = store.upsert_pipeline(pdef.name, json.dumps(definition, sort_keys=True),
                                    _digest(definition))
    run_id = run_id or new_run_id()
    snapshots = _snapshot_code(pdef)
    if snapshots:  # recorded with the run, not the pipeline version
        definition = {**definition, "Metadata": {**definition.get("Metadata", {}),
                                                 "CodeSnapshots": snapshots}}
    store.create_run(run_id, pdef.name, version, json.dumps(definition, sort_keys=True), params,
                     backend=selected().record())
    runner = Runner(store, run_id, pdef, params, functions, on_event)
    if max_parallel is not None:  # this execution only; the definition stays as it is
        runner.max_parallel = max(1, int(max_parallel))
    if not background:
        runner.run()
        return RunHandle(run_id, None)
    handle = RunHandle(run_id, None)

    def target() -> None:
        try:
            runner.run()
        except BaseException as e:  # noqa: BLE001 - handed to the caller by join()
            handle.error = e

    handle.thread = threading.Thread(target=target, name=f"run-{run_id}", daemon=True)
    handle.thread.start()
    return handle


def _run_or_raise(run_id: str) -> dict[str, Any]:
    run = open_store().get_run(run_id)
    if run is None:
        raise NotFoundError(f"no run {run_id!r}; see `stackyard runs list`")
    return run


def _resume_backend(run: dict[str, Any], backend: str | None, address: str | None,
                    resources: Any) -> None:
    """New jobs of a resumed run go where the run started (its recorded backend, address
    and resources), unless told otherwise; then the new choice is recorded for the next
    resume. Checked before anything runs (``UsageError``)."""
    from stackyard import runtime

    if backend is None and address is None and resources is None:
        runtime.use_recorded(run.get("backend"))
        return
    recorded = run.get("backend") or {}
    name = backend or recorded.get("name")
    sel = runtime.use_backend(name, address if address is not None else (
        recorded.get("address") if name == recorded.get("name") == "ray" else None),
        resources)
    open_store().set_run_backend(run["run_id"], sel.record())


def resume_run(
    run_id: str,
    on_event: Callable[[Event], None] | None = None,
    functions: dict[str, Callable] | None = None,
    *,
    backend: str | None = None,
    address: str | None = None,
    resources: Any = None,
) -> str:
    """Finish a run: adopt live jobs, keep what succeeded, rerun what did not finish. New
    jobs go to the backend the run started on unless ``backend``/``address``/``resources``
    say otherwise."""
    from stackyard.engine._definition import compile_definition
    from stackyard.engine._runner import RunLock, Runner

    run = _run_or_raise(run_id)
    if run["status"] == "Succeeded":
        return "Succeeded"
    store = open_store()
    definition = json.loads(run["definition"])
    pdef = compile_definition(definition)
    if RunLock(run_id).held_elsewhere():
        raise ConflictError(f"run {run_id} is still being driven by a live process")
    _resume_backend(run, backend, address, resources)
    store.reopen_run(run_id)
    return Runner(store, run_id, pdef, run["parameters"], _same_code(pdef, functions),
                  on_event).run()


RESUMABLE = ("Executing", "Failed", "Stopped")   # resume: a runner died, or it ended badly
RETRYABLE = ("Failed", "Stopped")               # retry: it ended badly


def resume_detached(run_id: str, *, retry: bool = False) -> int:
    """``resume_run`` in a process of its own, for callers that must not wait (the HTTP API,
    the web UI): it outlives the caller, and it reads nothing from ``STACKYARD_URL`` (a
    server whose environment names itself must not hand the resume back to itself).
    Refused (``ConflictError``) when the run is not ``RESUMABLE`` (``RETRYABLE`` for a
    retry) or a live process drives it. Returns the new process's pid; its output goes to
    ``resume-<time>.log`` in the run's folder."""
    import sys

    from stackyard.engine._runner import RunLock, run_dir
    from stackyard.runtime import start_detached

    action, allowed = ("retry", RETRYABLE) if retry else ("resume", RESUMABLE)
    status = _run_or_raise(run_id)["status"]
    if status not in allowed:
        raise ConflictError(f"run {run_id} is {status}; {action} applies to a run that is "
                            f"{' or '.join(allowed)}")
    if RunLock(run_id).held_elsewhere():
        raise ConflictError(f"run {run_id} is still being driven by a live process; stop it "
                            "first or wait")
    log = run_dir(run_id) / f"{action}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    proc = start_detached([sys.executable, "-m", "stackyard.engine._api", run_id], log)
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it when it ends
    return proc.pid


def _resume_main(run_id: str) -> int:
    """What ``resume_detached`` runs: the resume, its steps as they end, the final status."""
    def show(e: Event) -> None:   # step and run transitions; job logs have their files
        if e.get("type") in ("step", "run"):
            print(f"{time.strftime('%H:%M:%S')} {e.get('step') or 'run'} {e['status']}",
                  flush=True)

    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} resuming run {run_id}", flush=True)
    try:
        status = resume_run(run_id, on_event=show)
    except (ConflictError, UsageError) as e:   # another process took it meanwhile
        print(f"not resumed: {e}", flush=True)
        return 2
    print(f"run {run_id} ended: {status}", flush=True)
    return 0 if status == "Succeeded" else 1


def continue_run(run_id: str, wait: float = 0) -> str:
    """Drive a run whose runner died on from exactly where it stood, as that runner would
    have: unlike ``resume_run`` nothing failed or stopped is reopened, and a run that ended
    meanwhile is left as it is (an answered callback wakes its run this way, detached).
    Waits up to ``wait`` s for another driver to let go; then ``UsageError``."""
    from stackyard.engine._definition import compile_definition
    from stackyard.engine._runner import Runner
    from stackyard.runtime import use_recorded

    run = _run_or_raise(run_id)
    pdef = compile_definition(json.loads(run["definition"]))
    use_recorded(run.get("backend"))
    return Runner(open_store(), run_id, pdef, run["parameters"]).run(wait, unless_ended=True)


def _same_code(pdef: PipelineDef, functions: dict[str, Callable] | None
               ) -> dict[str, Callable]:
    """The live functions handed to a resume that are still the code the run recorded;
    the others are left out, so those steps load the run's own snapshot instead."""
    from stackyard.engine.steps.function import same_code

    return {name: f for name, f in (functions or {}).items()
            if name in pdef.steps and same_code(pdef.steps[name], f)}


def _job_dir(attempt: dict[str, Any]) -> Path | None:
    return Path(attempt["job_dir"]) if attempt.get("job_dir") else None


def stop_run(run_id: str) -> str:
    """Ask the run's runner to stop; with no live runner, stop its jobs here."""
    from stackyard import runtime
    from stackyard.engine._runner import RunLock

    run = _run_or_raise(run_id)
    if run["status"] in ("Succeeded", "Failed", "Stopped"):
        return run["status"]
    store = open_store()
    store.request_stop(run_id)
    lock = RunLock(run_id)
    if lock.held_elsewhere():
        return "Stopping"
    types = {s["Name"]: s["Type"] for s in json.loads(run["definition"])["Steps"]}
    with lock:
        for a in store.get_attempts(run_id):
            if a["status"] == "Executing":
                runtime.stop(a["pid"], a["pid_start"], _job_dir(a))
                if a["step"] in types:  # the step's own jobs, e.g. a TuningStep's trials
                    step_type(types[a["step"]]).stop(run_id, a["step"], a["n"])
                store.finish_attempt(run_id, a["step"], a["n"], "Stopped", "Stopped",
                                     "stopped by request")
        for s in store.get_steps(run_id):
            if s["status"] == "Executing":
                store.set_step(run_id, s["name"], status="Stopped", end_time=time.time(),
                               failure_reason="stopped by request")
        store.finish_run(run_id, "Stopped", "stopped by request")
    return "Stopped"


def describe_run(run_id: str) -> dict[str, Any]:
    run = _run_or_raise(run_id)
    store = open_store()
    steps = []
    for s in store.get_steps(run_id):
        steps.append({
            "name": s["name"], "status": s["status"], "attempts": s["attempts"],
            "cache_hit": s["cache_hit"], "cache_source": s["cache_source"],
            "start_time": s["start_time"],
            "end_time": s["end_time"], "outputs": s["outputs"],
            "failure_reason": s["failure_reason"],
        })
    return {"run_id": run_id, "pipeline": run["pipeline"], "status": run["status"],
            "parameters": run["parameters"], "start_time": run["start_time"],
            "end_time": run["end_time"], "failure_reason": run["failure_reason"],
            "pipeline_version": run["version"], "steps": steps}


def list_runs(pipeline: str | None = None, limit: int = 100, **filters: Any
              ) -> list[dict[str, Any]]:
    """Runs newest first; ``filters``: ``status``, ``since``/``until`` (start time, epoch
    seconds) and ``offset`` (a page of ``limit`` rows after it)."""
    return open_store().list_runs(pipeline, limit, **filters)


def count_runs(pipeline: str | None = None, **filters: Any) -> int:
    """How many runs ``list_runs`` would page through (same filters, no ``offset``)."""
    return open_store().count_runs(pipeline, **filters)


def describe_pipeline(name: str) -> dict[str, Any]:
    versions = open_store().pipeline_versions(name)
    if not versions:
        raise NotFoundError(f"no pipeline {name!r}; see `stackyard pipelines list`")
    return {"name": name, "latest_version": versions[-1]["version"],
            "versions": [{"version": v["version"], "created_at": v["created_at"],
                          "digest": v["digest"], "definition": json.loads(v["definition"])}
                         for v in versions]}


def list_pipelines() -> list[dict[str, Any]]:
    return open_store().list_pipelines()


def step_result(run_id: str, step: str) -> Any:
    from stackyard.engine.steps.function import load_result

    for s in open_store().get_steps(_run_or_raise(run_id)["run_id"]):
        if s["name"] == step:
            if s["status"] != "Succeeded":
                raise UsageError(f"step {step!r} is {s['status']}; it has no result")
            return load_result(s["outputs"])
    raise NotFoundError(f"run {run_id} has no step {step!r}")


def step_logs(run_id: str, step: str | None = None) -> list[tuple[str, int, Path]]:
    """(step, attempt, log path) for every job attempt, oldest first."""
    _run_or_raise(run_id)
    out = []
    for a in open_store().get_attempts(run_id, step):
        if a["job_dir"]:
            p = Path(a["job_dir"]) / "log.txt"
            if p.exists():
                out.append((a["step"], a["n"], p))
    if step is not None and not out and not open_store().get_attempts(run_id, step):
        raise NotFoundError(f"run {run_id} has no step {step!r} with attempts")
    return out


if __name__ == "__main__":   # resume_detached's process
    import sys

    sys.exit(_resume_main(sys.argv[1]))
