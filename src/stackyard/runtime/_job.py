"""Run one job as a subprocess in its own folder, or adopt one a dead runner left behind.

The job folder holds ``ml/`` (what the job sees as ``/opt/ml``), ``job.json`` (what the
launcher runs), ``log.txt``, and ``exit.json`` (how it ended). Everything the engine needs
to finish a job's step after a crash is in that folder, and none of it holds the caller's
environment: ``job.json`` records only the variables the job spec sets, the launcher
inherits the rest when it starts, and a job adopted after a crash needs no environment at
all. The files are private to their owner (0600).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stackyard import _checks, _home, artifacts
from stackyard.errors import StepFailed
from stackyard.runtime._backend import RAY_MARKER, Handle, backend_for
from stackyard.runtime._process import (
    ExitWatch,
    alive,
    open_private,
    process_start_time,
    start_detached,
    write_private,
)
from stackyard.runtime._spec import OPT_ML, JobResult, JobSpec
from stackyard.runtime._venv import ensure_venv

# The launcher is imported from this folder (appended to sys.path, after the standard
# library) rather than run as a script: an imported module's bytecode is cached, a script
# is compiled again on every start.
_BOOT = "import sys; sys.path.append(sys.argv[1]); import _launch; _launch.launch(sys.argv[2])"
LOG_POLL = 0.05  # how often a live log is read while the job runs


def host_path(job_dir: Path, container: str) -> Path:
    """Where a container path lives in the job folder; a path that would leave ``/opt/ml``
    (``/opt/ml/processing/../../../x``) is refused, never followed."""
    rel = Path(_checks.container_path(container, OPT_ML)).relative_to(OPT_ML)
    return _checks.inside(job_dir / "ml", rel, "container path")


def _interpreter(argv0: str, python: str) -> str:
    return python if argv0 in ("python", "python3", sys.executable) else argv0


def prepare(spec: JobSpec, job_dir: Path, die_with_parent: bool = False) -> dict:
    """Lay out the job folder: inputs, code, config files, empty output folders. With
    ``die_with_parent`` the job ends when the process that started its launcher dies (a
    Ray actor whose node went away), instead of running on unwatched."""
    if job_dir.exists():  # a crashed earlier try at this attempt: start clean
        shutil.rmtree(job_dir)
    (job_dir / "ml").mkdir(parents=True)
    log_path = job_dir / "log.txt"
    with os.fdopen(open_private(log_path), "ab") as log:
        for uri, container in spec.inputs:
            try:
                artifacts.fetch(uri, host_path(job_dir, container))
            except Exception as e:
                raise StepFailed(f"cannot fetch input {uri}: {e}", "InputError") from e
        for src, container in spec.code:
            dest = host_path(job_dir, container)
            if Path(src).is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True, ignore=artifacts.ignore_in_code)
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / Path(src).name)
        for container, doc in spec.config_files.items():
            p = host_path(job_dir, container)
            p.parent.mkdir(parents=True, exist_ok=True)
            write_private(p, json.dumps(doc, indent=1))
        for container in spec.outputs.values():
            host_path(job_dir, container).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        if spec.requirements:
            python = ensure_venv(Path(spec.requirements), log)
    argv = [_interpreter(spec.argv[0], python), *spec.argv[1:]]
    job = {"argv": argv, "env": {**spec.env, "PYTHONUNBUFFERED": "1"}, "cwd": spec.cwd,
           "log": str(log_path), "exit": str(job_dir / "exit.json"),
           "stash": str(job_dir / ".stash"), "mounts": {OPT_ML: str(job_dir / "ml")},
           "sandbox": _home.sandbox_mode(), "max_runtime": spec.max_runtime,
           "die_with_parent": die_with_parent}
    write_private(job_dir / "job.json", json.dumps(job))
    return job


def start(job_dir: Path) -> subprocess.Popen:
    """Start the launcher detached, as ``python -I -S`` (no site, no user paths, no
    ``PYTHON*`` variables: it imports only the standard library). It inherits this
    process's environment, which is how a job sees it without it being written down; should
    the launcher itself fail, its traceback lands in the job's log."""
    return start_detached([sys.executable, "-I", "-S", "-c", _BOOT, str(Path(__file__).parent),
                           str(job_dir / "job.json")], job_dir / "log.txt")


def stop(pid: int | None, start_time: str | None, job_dir: Path | None = None) -> None:
    """Ask a job to end (its launcher kills the job's group, then records it). With
    ``job_dir``, a job that runs on another backend (its folder says so) is stopped there."""
    if job_dir is not None and (Path(job_dir) / RAY_MARKER).exists():
        backend_for(None, Path(job_dir), adopting=True).kill(Path(job_dir), pid, start_time)
        return
    LocalBackend().kill(Path(job_dir or "."), pid, start_time)


class LocalBackend:
    """A job as a subprocess of this machine (its launcher detached, in a session of its
    own): the code path stackyard always had."""

    name = "local"

    def start(self, spec: JobSpec, job_dir: Path,
              before_start: Callable[[], None] | None) -> Handle:
        prepare(spec, job_dir)
        if before_start is not None:
            before_start()
        proc = start(job_dir)
        return Handle(job_dir, proc.pid, process_start_time(proc.pid), proc)

    def wait(self, handle: Handle, on_log: Callable[[str], None] | None) -> JobResult:
        return wait(handle.job_dir, handle.proc, handle.pid, handle.pid_start, on_log)

    def kill(self, job_dir: Path, pid: int | None, pid_start: str | None) -> None:
        if alive(pid, pid_start):
            try:
                os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
            except ProcessLookupError:
                pass

    def adopt(self, job_dir: Path, recorded: tuple[int | None, str | None]) -> Handle | None:
        """Trusts the recorded pid only with its kernel start time; where none was recorded
        (the caller died between spawning and recording), the launcher's own
        ``launcher.pid`` names it. None: neither alive nor finished (start it again)."""
        pid, started_at = recorded
        pidfile = job_dir / "launcher.pid"
        if not pid and pidfile.exists():
            pid_s, started_at = pidfile.read_text().split()
            pid = int(pid_s)
        if (job_dir / "exit.json").exists() or alive(pid, started_at):
            return Handle(job_dir, pid, started_at)
        return None


def run(
    spec: JobSpec,
    job_dir: Path,
    *,
    adopt: bool = False,
    recorded: tuple[int | None, str | None] = (None, None),
    on_started: Callable[[int, str | None], None] | None = None,
    before_start: Callable[[], None] | None = None,
    on_log: Callable[[str], None] | None = None,
) -> JobResult:
    """Run a job to its end on its backend, or with ``adopt`` finish one a dead caller left
    behind. A job that ended meanwhile is collected; only a job that is neither alive nor
    finished is started again — never a second live copy. ``on_started`` hears a local
    launcher's pid (to record it, or to stop the job later); ``before_start`` may raise to
    cancel a job whose inputs were still being fetched."""
    backend = backend_for(spec, job_dir, adopting=adopt)
    handle = backend.adopt(job_dir, recorded) if adopt else None
    if handle is None:
        handle = backend.start(spec, job_dir, before_start)
    if on_started is not None and handle.pid:
        on_started(handle.pid, handle.pid_start)
    return backend.wait(handle, on_log)


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait(
    job_dir: Path,
    proc: subprocess.Popen | None,
    pid: int | None,
    pid_start: str | None,
    on_log: Callable[[str], None] | None = None,
) -> JobResult:
    """Wait for the launcher (our child, or an adopted orphan), streaming its log.

    The wait blocks on the launcher's pidfd, so the job's end is seen at once; with a log
    to stream it wakes every ``LOG_POLL`` seconds to read new lines."""
    log_path = job_dir / "log.txt"
    if proc is not None:
        pid, pid_start = proc.pid, process_start_time(proc.pid)
    watch = ExitWatch(pid, pid_start) if pid else None
    offset, partial = 0, b""
    try:
        while True:
            done = watch is None or watch.wait(LOG_POLL if on_log is not None else None)
            if on_log is not None and log_path.exists():
                with open(log_path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines:
                    on_log(line.decode(errors="replace"))
            if done:
                break
    finally:
        if watch is not None:
            watch.close()
    if proc is not None:
        proc.wait()
    if on_log is not None and partial:
        on_log(partial.decode(errors="replace"))
    return outcome(job_dir)


def outcome(job_dir: Path) -> JobResult:
    """How a finished job ended, from its folder: ``exit.json``, the failure file the job
    may have written, and its log's tail."""
    exit_path = job_dir / "exit.json"
    log_path = job_dir / "log.txt"
    try:
        record = json.loads(exit_path.read_text())
    except (OSError, ValueError):  # missing, or cut short by a power loss
        return JobResult(False, "Killed", "the job's launcher died before recording an exit "
                         "status" + _tail_note(log_path), 0.0, {})
    ok = record["exit_code"] == 0 and not record.get("error_type")
    reason = None
    if not ok:
        failure = job_dir / "ml" / "output" / "failure"
        head = {"Timeout": "the job ran past max_runtime_in_seconds and was stopped",
                "Stopped": "the job was stopped",
                "Killed": f"the job was killed by signal {record.get('signal')}"}.get(
            record["error_type"], f"the job exited with code {record['exit_code']}")
        detail = failure.read_text(errors="replace").strip() if failure.is_file() else ""
        reason = head + (f": {detail}" if detail else "") + _tail_note(log_path)
    return JobResult(ok, None if ok else record["error_type"], reason,
                     float(record.get("duration", 0.0)), {},
                     sandboxed=bool(record.get("sandboxed")))


def _tail_note(log_path: Path) -> str:
    tail = _log_tail(log_path)
    return f"\n--- last lines of {log_path.name} ---\n{tail}" if tail else ""
