"""Processes stackyard starts and later finds again.

A process is known by its pid *and* its kernel start time, so a recycled pid is never
mistaken for ours; waiting for one blocks on a pidfd (the kernel wakes us the moment it
exits) instead of sleeping and polling; a detached process gets its own session, no stdin,
and a private log. The environment a process inherits is passed through at start and never
written down.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path
from typing import Self

from stackyard.errors import UsageError


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


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """A file descriptor on ``path``, created readable by its owner only (0600): job specs,
    logs and exit records may name things other users have no business reading."""
    return os.open(path, flags, 0o600)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (created or truncated, mode 0600)."""
    with os.fdopen(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as f:
        f.write(text)


def start_detached(argv: list[str], log: Path, env: dict[str, str] | None = None,
                   cwd: str | Path | None = None) -> subprocess.Popen:
    """Start ``argv`` in a session of its own (it outlives its caller and a Ctrl-C aimed
    at the caller), stdin closed, stdout and stderr appended to ``log`` (mode 0600).

    ``env`` holds only the variables to set on top of what this process inherited; the
    inherited rest is passed through here, at start, and never persisted."""
    fd = open_private(log)
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fd,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=cwd, env={**os.environ, **env} if env else None)
    finally:
        os.close(fd)


class ExitWatch:
    """Wait for a process to end without polling: a pidfd becomes readable when it exits.

    ``wait(timeout)`` returns True once the process is gone (``timeout=None`` blocks).
    Where pidfds are unavailable (kernels before 5.3) it falls back to short sleeps."""

    def __init__(self, pid: int, start: str | None) -> None:
        self.pid, self.start = pid, start
        self.fd: int | None = None
        try:
            self.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.gone = True
            return
        except (AttributeError, OSError):  # no pidfd on this system
            pass
        # opened first, checked second: a pid recycled in between is caught here
        self.gone = not alive(pid, start)

    def wait(self, timeout: float | None) -> bool:
        if self.gone:
            return True
        if self.fd is not None:
            poller = select.poll()
            poller.register(self.fd, select.POLLIN)
            self.gone = bool(poller.poll(None if timeout is None else timeout * 1000))
            return self.gone
        end = None if timeout is None else time.monotonic() + timeout
        while end is None or time.monotonic() < end:
            if not alive(self.pid, self.start):
                self.gone = True
                return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class DriverLock:
    """Exclusive right to drive one run or execution from ``folder``; the kernel drops it when
    the holder dies, so a kill -9 never leaves it stuck.

    The holder writes its pid next to the lock so a refused caller can name it. ``wait``:
    seconds to wait for a holder to let go before refusing with ``refusal`` (what it is and
    what to do, e.g. "this run … stop it with `stackyard runs stop`").
    """

    def __init__(self, folder: Path, what: str, hint: str, wait: float = 0) -> None:
        from filelock import FileLock  # here: read commands import runtime, never a lock

        folder.mkdir(parents=True, exist_ok=True)
        self.lock = FileLock(folder / ".lock")
        self.holder = folder / ".driver"
        self.what, self.hint, self.wait = what, hint, wait

    def __enter__(self) -> Self:
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=self.wait)
        except Timeout:
            try:
                holder = f"pid {self.holder.read_text().strip()}"
            except OSError:
                holder = "another process"
            raise UsageError(f"{self.what} is being driven by {holder}; {self.hint}") from None
        self.holder.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def held_elsewhere(self) -> bool:
        from filelock import Timeout

        try:
            self.lock.acquire(blocking=False)
        except Timeout:
            return True
        self.lock.release()
        return False
