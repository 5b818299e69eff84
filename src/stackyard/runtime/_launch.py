"""The job launcher: the first process of every job, run by file path with no stackyard
imports so it starts in a few tens of milliseconds.

It (1) gives the job its own view of ``/opt/ml`` when the OS allows (a private mount
namespace that binds the job folder there; as root, or in an unprivileged user namespace),
else rewrites container paths to host paths and says so in the log; (2) runs the job
command in this process group; (3) enforces the runtime limit by killing the whole group;
(4) records how it ended in ``exit.json`` (written atomically), so a runner that died
meanwhile can adopt the job's outcome later.

Usage: python _launch.py JOB_JSON
"""

import ctypes
import json
import os
import signal
import subprocess
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18


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


def _write_exit(path, record):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(job_json):
    with open(job_json) as f:
        job = json.load(f)
    with open(os.path.join(os.path.dirname(job_json), "launcher.pid"), "w") as f:
        # pid and kernel start time: lets a resumed runner find (and trust) this process
        with open("/proc/self/stat") as st:
            f.write(f"{os.getpid()} {st.read().rsplit(')', 1)[1].split()[19]}")
    log = open(job["log"], "ab", buffering=0)
    mounts = job["mounts"]
    argv, env, cwd = job["argv"], dict(job["env"]), job["cwd"]
    mode = job.get("sandbox", "auto")
    sandboxed = False
    if mode == "auto" and mounts:
        try:
            enter_sandbox(mounts, job["stash"])
            sandboxed = True
        except OSError as e:
            log.write(f"stackyard: no private mount namespace ({e}); the job sees host paths "
                      "instead of /opt/ml (STACKYARD_OPT_ML names the job's /opt/ml)\n".encode())
    if not sandboxed and mounts:
        argv = [_rewrite(a, mounts) for a in argv]
        env = {k: _rewrite(v, mounts) for k, v in env.items()}
        cwd = _rewrite(cwd, mounts)
        env["STACKYARD_OPT_ML"] = mounts.get("/opt/ml", "")
        env["STACKYARD_PATH_MAP"] = json.dumps(mounts)
        if mode == "off":
            log.write(b"stackyard: sandbox off; /opt/ml paths are rewritten to host paths\n")
    env["STACKYARD_SANDBOXED"] = "1" if sandboxed else "0"
    started = time.time()
    record = {"exit_code": None, "signal": None, "error_type": None, "sandboxed": sandboxed}
    try:
        # the job gets a process group of its own, so a stop or a timeout ends every
        # process it started, and nothing else
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        log.write(f"stackyard: cannot start {argv[0]!r}: {e}\n".encode())
        record.update(exit_code=127, error_type="JobError", duration=0.0)
        _write_exit(job["exit"], record)
        return 0
    with open(job["exit"] + ".child", "w") as f:
        f.write(str(proc.pid))

    term_at = []

    def end_group(reason):
        record["error_type"] = record["error_type"] or reason
        if not term_at:
            term_at.append(time.time())
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, lambda *_: end_group("Stopped"))
    limit = job.get("max_runtime")
    code = None
    while code is None:
        try:
            code = proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            now = time.time()
            if limit and now - started >= limit and not term_at:
                log.write(f"stackyard: max runtime of {limit}s reached; stopping the job\n"
                          .encode())
                end_group("Timeout")
            if term_at and now - term_at[0] > 5:  # it ignored SIGTERM
                os.killpg(proc.pid, signal.SIGKILL)
    try:  # leftovers of the job's group (daemons it forked) go with it
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    record["duration"] = time.time() - started
    record["exit_code"] = code
    if code < 0:
        record["signal"] = -code
        record["error_type"] = record["error_type"] or "Killed"
    elif code != 0:
        record["error_type"] = record["error_type"] or "JobError"
    log.close()
    _write_exit(job["exit"], record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
