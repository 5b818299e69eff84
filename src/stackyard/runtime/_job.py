"""Run one job as a subprocess in its own folder, or adopt one a dead runner left behind.

The job folder holds ``ml/`` (what the job sees as ``/opt/ml``), ``job.json`` (what the
launcher runs), ``log.txt``, and ``exit.json`` (how it ended). Everything the engine needs
to finish a job's step after a crash is in that folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stackyard import _home, artifacts
from stackyard.errors import StepFailed
from stackyard.runtime._spec import OPT_ML, JobResult, JobSpec
from stackyard.runtime._venv import ensure_venv

LAUNCHER = str(Path(__file__).with_name("_launch.py"))
POLL = 0.01


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against a recycled pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def alive(pid: int | None, start: str | None) -> bool:
    """The process that had this pid and start time still runs (a zombie does not)."""
    if not pid or start is None or process_start_time(pid) != start:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)  # our own child: reap it
        except ChildProcessError:
            pass
        return False
    return True


def host_path(job_dir: Path, container: str) -> Path:
    return job_dir / "ml" / Path(container).relative_to(OPT_ML)


def _interpreter(argv0: str, python: str) -> str:
    return python if argv0 in ("python", "python3", sys.executable) else argv0


_SKIP_DIRS = {"__pycache__", ".git", ".venv", ".stackyard", ".pytest_cache"}


def _ignore_in_code(folder: str, names: list[str]) -> set[str]:
    """What a source_dir copy leaves out: caches, VCS data, and stackyard's own state
    (which may live inside the source folder and would otherwise copy into itself)."""
    home = _home.home()
    return {n for n in names if n in _SKIP_DIRS or Path(folder, n).resolve() == home}


def code_hash(path: str | Path) -> str:
    """The hash of code as a job receives it (same files left out as by the copy)."""
    p = Path(str(path).removeprefix("file://"))
    return artifacts.tree_digest(p, _ignore_in_code) if p.is_dir() else artifacts.sha256_file(p)


def prepare(spec: JobSpec, job_dir: Path) -> dict:
    """Lay out the job folder: inputs, code, config files, empty output folders."""
    if job_dir.exists():  # a crashed earlier try at this attempt: start clean
        shutil.rmtree(job_dir)
    (job_dir / "ml").mkdir(parents=True)
    log_path = job_dir / "log.txt"
    with open(log_path, "ab") as log:
        for uri, container in spec.inputs:
            try:
                artifacts.fetch(uri, host_path(job_dir, container))
            except Exception as e:
                raise StepFailed(f"cannot fetch input {uri}: {e}", "InputError") from e
        for src, container in spec.code:
            dest = host_path(job_dir, container)
            if Path(src).is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True, ignore=_ignore_in_code)
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / Path(src).name)
        for container, doc in spec.config_files.items():
            p = host_path(job_dir, container)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(doc, indent=1))
        for container in spec.outputs.values():
            host_path(job_dir, container).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        if spec.requirements:
            python = ensure_venv(Path(spec.requirements), log)
    argv = [_interpreter(spec.argv[0], python), *spec.argv[1:]]
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
    job = {"argv": argv, "env": env, "cwd": spec.cwd, "log": str(log_path),
           "exit": str(job_dir / "exit.json"), "stash": str(job_dir / ".stash"),
           "mounts": {OPT_ML: str(job_dir / "ml")}, "sandbox": _home.sandbox_mode(),
           "max_runtime": spec.max_runtime}
    (job_dir / "job.json").write_text(json.dumps(job))
    return job


def start(job_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-S", LAUNCHER, str(job_dir / "job.json")],
                            start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(pid: int | None, start_time: str | None) -> None:
    """Ask a job's launcher to end the job (it kills the job's group, then records it)."""
    if alive(pid, start_time):
        try:
            os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
        except ProcessLookupError:
            pass


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
    """Run a job to its end, or with ``adopt`` finish one a dead caller left behind.

    Adoption trusts the recorded pid only with its kernel start time; where no pid was
    recorded (the caller died between spawning and recording), the launcher's own
    ``launcher.pid`` names it. A job that ended meanwhile has its ``exit.json``; only a job
    that is neither alive nor finished is started again — never a second live copy.
    ``on_started`` hears the launcher's pid (to record it, or to stop the job later);
    ``before_start`` may raise to cancel a job whose inputs were still being fetched."""
    if adopt:
        pid, started_at = recorded
        pidfile = job_dir / "launcher.pid"
        if not pid and pidfile.exists():
            pid_s, started_at = pidfile.read_text().split()
            pid = int(pid_s)
        if (job_dir / "exit.json").exists() or alive(pid, started_at):
            if on_started is not None and pid:
                on_started(pid, started_at)
            return wait(job_dir, None, pid, started_at, on_log)
    prepare(spec, job_dir)
    if before_start is not None:
        before_start()
    proc = start(job_dir)
    if on_started is not None:
        on_started(proc.pid, process_start_time(proc.pid))
    return wait(job_dir, proc, None, None, on_log)


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
    """Wait for the launcher (our child, or an adopted orphan), streaming its log."""
    exit_path = job_dir / "exit.json"
    log_path = job_dir / "log.txt"
    offset, partial = 0, b""
    delay = POLL
    while True:
        done = proc.poll() is not None if proc is not None else (
            exit_path.exists() or not alive(pid, pid_start))
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
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)
    if on_log is not None and partial:
        on_log(partial.decode(errors="replace"))
    if not exit_path.exists():
        return JobResult(False, "Killed", "the job's launcher died before recording an exit "
                         "status" + _tail_note(log_path), 0.0, {})
    record = json.loads(exit_path.read_text())
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
