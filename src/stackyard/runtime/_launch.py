"""The job launcher: the first process of every job, run by file path (``python -I -S``)
with no stackyard imports and nothing from the standard library that is slow to import
(no ``json``, ``re`` or ``subprocess``: ``_json``'s C scanner reads ``job.json``), so it
starts in about the time of a bare interpreter.

It (1) gives the job its own view of ``/opt/ml`` when the OS allows (a private mount
namespace that binds the job folder there; as root, or in an unprivileged user namespace),
else rewrites container paths to host paths and says so in the log; (2) runs the job
command in a process group of its own; (3) enforces the runtime limit by killing the whole
group; (4) records how it ended in ``exit.json`` (written atomically), so a runner that died
meanwhile can adopt the job's outcome later. It waits in ``waitpid`` and wakes on signals
only (SIGTERM to stop, SIGALRM for the runtime limit): no polling.

The environment is inherited from whoever started the launcher, with the job spec's
variables on top: ``job.json`` holds only what the spec sets, never the parent's secrets.
``PYTHONPATH`` from the spec goes in front of an inherited one instead of replacing it.
Every file the launcher writes is private to its owner (0600).

Usage: python _launch.py JOB_JSON (the runtime imports it instead, so its bytecode is
cached rather than compiled on every start; see ``_job.start``).
"""

import _signal as signal  # the C module behind ``signal``, which would import ``enum``
import ctypes
import os
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc, src, target, fstype, flags):
    if libc.mount(src, target.encode(), fstype, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _ensure_mountpoint(libc, target, stash):
    """Make ``target`` exist. Without write access to its parent (unprivileged), lay a
    tmpfs over the parent and bind its original entries back in."""
    if os.path.isdir(target):
        return
    try:
        os.makedirs(target, exist_ok=True)
        return
    except PermissionError:
        pass
    parent = os.path.dirname(target)
    os.makedirs(stash, exist_ok=True)
    _mount(libc, parent.encode(), stash, None, MS_BIND | MS_REC)
    _mount(libc, b"tmpfs", parent, b"tmpfs", 0)
    for entry in os.listdir(stash):
        src, dst = os.path.join(stash, entry), os.path.join(parent, entry)
        if os.path.isdir(src):
            os.mkdir(dst)
        else:
            open(dst, "w").close()
        _mount(libc, src.encode(), dst, None, MS_BIND | MS_REC)
    os.makedirs(target, exist_ok=True)


def enter_sandbox(mounts, stash):
    """Private mount namespace with each host folder bound at its container path."""
    libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) refused")
    else:
        if libc.unshare(CLONE_NEWNS | CLONE_NEWUSER) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER|CLONE_NEWNS) refused")
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    _mount(libc, b"none", "/", None, MS_REC | MS_PRIVATE)
    for target, host in sorted(mounts.items()):
        _ensure_mountpoint(libc, target, stash)
        _mount(libc, host.encode(), target, None, MS_BIND | MS_REC)


def _rewrite(value, mounts):
    """Container path -> host path, also inside JSON values such as SM_TRAINING_ENV."""
    for target, host in mounts.items():
        if value == target or value.startswith(target + "/"):
            return host + value[len(target):]
        if value[:1] in "{[" and f'"{target}' in value:
            value = value.replace(f'"{target}"', f'"{host}"').replace(f'"{target}/', f'"{host}/')
    return value


def _read_json(path):
    """``json.load`` without importing ``json`` (whose ``re`` import costs more than the
    rest of the launcher): the C scanner behind it, fed the same settings."""
    try:
        from _json import make_scanner
    except ImportError:  # an interpreter without the C accelerator
        from json.scanner import make_scanner

    class Settings:
        strict, object_hook, object_pairs_hook = True, None, None
        parse_float, parse_int, parse_constant, memo = float, int, None, {}

    with open(path, encoding="utf-8") as f:
        return make_scanner(Settings())(f.read(), 0)[0]


def _json_value(v):
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, (int, float)):
        return repr(v)
    from _json import encode_basestring_ascii

    return encode_basestring_ascii(v)


def _write_private(path, text, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _write_exit(path, record):
    """Written to a temp file and renamed, so a reader sees all of it or nothing. Not
    fsynced: after a power loss the job counts as unfinished and runs again."""
    body = ", ".join(f'"{k}": {_json_value(v)}' for k, v in record.items())
    _write_private(path + ".tmp", "{" + body + "}")
    os.replace(path + ".tmp", path)


def _job_env(spec_env):
    """The inherited environment plus the spec's variables (``PYTHONPATH`` prepended)."""
    env = dict(os.environ)
    inherited_path = env.get("PYTHONPATH")
    env.update(spec_env)
    if "PYTHONPATH" in spec_env and inherited_path:
        env["PYTHONPATH"] = spec_env["PYTHONPATH"] + os.pathsep + inherited_path
    return env


def _spawn(argv, env, cwd, log_fd, libc=None):
    """fork + exec the job as the leader of a new session (its own process group). With
    ``libc``, the job is killed when the launcher dies (even by SIGKILL)."""
    pid = os.fork()
    if pid == 0:  # the child: only async-signal-safe work until exec
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if libc is not None:
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.setsid()
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            os.write(2, f"stackyard: cannot start {argv[0]!r}: {e}\n".encode())
        finally:
            os._exit(127)
    return pid


def main(job_json):
    job = _read_json(job_json)
    with open("/proc/self/stat") as st:
        # pid and kernel start time: lets a resumed runner find (and trust) this process
        me = f"{os.getpid()} {st.read().rsplit(')', 1)[1].split()[19]}"
    _write_private(os.path.join(os.path.dirname(job_json), "launcher.pid"), me)
    log = os.open(job["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    mounts = job["mounts"]
    argv, env, cwd = job["argv"], _job_env(job["env"]), job["cwd"]
    mode = job.get("sandbox", "auto")
    record = {"exit_code": None, "signal": None, "error_type": None, "sandboxed": False}
    state = {"pid": None, "term_at": None}

    def end_group(reason):
        """SIGTERM the job's whole group now; SIGKILL it 5 s later if it is still there."""
        record["error_type"] = record["error_type"] or reason
        if state["term_at"] is None:
            state["term_at"] = time.time()
            signal.setitimer(signal.ITIMER_REAL, 5)
        if state["pid"] is not None:
            try:
                os.killpg(state["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    def on_alarm(*_):
        if state["term_at"] is None:
            os.write(log, f"stackyard: max runtime of {limit}s reached; stopping the job\n"
                     .encode())
            end_group("Timeout")
        elif state["pid"] is not None:  # it ignored SIGTERM
            try:
                os.killpg(state["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass

    limit = job.get("max_runtime")
    signal.signal(signal.SIGTERM, lambda *_: end_group("Stopped"))
    signal.signal(signal.SIGALRM, on_alarm)
    # With die_with_parent (a job on a Ray worker): SIGTERM, handled above, when whoever
    # started the launcher dies, and SIGKILL for the job when the launcher itself is killed
    # (Ray SIGKILLs a dead worker's children), so no job runs on unwatched.
    tied = _libc() if job.get("die_with_parent") else None
    if tied is not None:
        tied.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # it died before the request took effect
            end_group("Killed")
    if mode == "auto" and mounts:
        try:
            enter_sandbox(mounts, job["stash"])
            record["sandboxed"] = True
        except OSError as e:
            os.write(log, f"stackyard: no private mount namespace ({e}); the job sees host "
                     "paths instead of /opt/ml (STACKYARD_OPT_ML names the job's /opt/ml)\n"
                     .encode())
    if not record["sandboxed"] and mounts:
        argv = [_rewrite(a, mounts) for a in argv]
        env = {k: _rewrite(v, mounts) for k, v in env.items()}
        cwd = _rewrite(cwd, mounts)
        env["STACKYARD_OPT_ML"] = mounts.get("/opt/ml", "")
        env["STACKYARD_PATH_MAP"] = "{" + ", ".join(
            f"{_json_value(k)}: {_json_value(v)}" for k, v in mounts.items()) + "}"
        if mode == "off":
            os.write(log, b"stackyard: sandbox off; /opt/ml paths are rewritten to host paths\n")
    env["STACKYARD_SANDBOXED"] = "1" if record["sandboxed"] else "0"
    started = time.time()
    # the job gets a process group of its own, so a stop or a timeout ends every process
    # it started, and nothing else
    state["pid"] = pid = _spawn(argv, env, cwd, log, tied)
    if state["term_at"] is not None:  # stopped while the sandbox was being set up
        os.killpg(pid, signal.SIGTERM)
    elif limit:
        signal.setitimer(signal.ITIMER_REAL, max(float(limit), 0.001))
    _, status = os.waitpid(pid, 0)  # signal handlers run inside; the wait resumes after
    signal.setitimer(signal.ITIMER_REAL, 0)
    code = os.waitstatus_to_exitcode(status)
    try:  # leftovers of the job's group (daemons it forked) go with it
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    record["duration"] = time.time() - started
    record["exit_code"] = code
    if code < 0:
        record["signal"] = -code
        record["error_type"] = record["error_type"] or "Killed"
    elif code != 0:
        record["error_type"] = record["error_type"] or "JobError"
    os.close(log)
    _write_exit(job["exit"], record)
    return 0


def launch(job_json):
    """Run the job, then leave at once: the launcher holds nothing that needs flushing, and
    interpreter teardown would only delay the exit the runner is waiting for."""
    os._exit(main(job_json))


if __name__ == "__main__":
    launch(sys.argv[1])
