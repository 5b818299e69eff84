"""Shared fixtures for the stackyard foundation tests.

Everything here uses real parts: a real SQLite file under a per-test ``STACKYARD_HOME``,
real job subprocesses, and the real ``stackyard`` console script. Helpers are exposed as
fixtures (``sy``, ``reaper``) because test folders have no ``__init__.py``.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from waiting import wait_until

STACKYARD_BIN = Path(sys.executable).with_name("stackyard")
TABLES = ("pipelines", "pipeline_versions", "runs", "steps", "attempts")
REPO_ROOT = Path(__file__).resolve().parents[1]
# What pytest, hypothesis and ruff keep in the root themselves; anything else a run adds
# there was left behind by a test (catboost_info/ from an unconfigured CatBoost, a
# .stackyard/ from a test that escaped its STACKYARD_HOME, a stray output file).
TOOL_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache"}
_root_at_start: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _root_at_start.update(os.listdir(REPO_ROOT))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run when tests left files in the repository root (catboost_info/ always)."""
    now = set(os.listdir(REPO_ROOT))
    left = sorted((now - _root_at_start - TOOL_CACHES) | (now & {"catboost_info"}))
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", f"tests left {left} in {REPO_ROOT}; delete them and make "
                                    "the test write under tmp_path", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def stackyard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state folder (database, artifacts, runs, venvs)."""
    home = tmp_path / "home"
    monkeypatch.setenv("STACKYARD_HOME", str(home))
    monkeypatch.delenv("STACKYARD_SANDBOX", raising=False)
    return home


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Helpers:
    """Small conveniences bound to one test's temporary folder."""

    def __init__(self, tmp_path: Path, home: Path) -> None:
        self.tmp = tmp_path
        self.home = home
        self.work = tmp_path / "work"
        self.work.mkdir(exist_ok=True)

    # ---- files ---------------------------------------------------------------------
    def write(self, rel: str, text: str, **consts: Any) -> Path:
        """Write ``text`` (dedented) under the work folder; ``consts`` become
        ``NAME = repr(value)`` lines at the top (a safe way to hand scripts host paths)."""
        p = self.work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        head = "".join(f"{k} = {v!r}\n" for k, v in consts.items())
        p.write_text(head + textwrap.dedent(text).lstrip("\n"))
        return p

    def lines(self, path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    # ---- store -----------------------------------------------------------------------
    def db_counts(self, home: Path | None = None) -> dict[str, int]:
        """Row counts of the store's tables, read with a fresh sqlite3 connection
        (all zero when the database file does not exist)."""
        db = (home or self.home) / "stackyard.db"
        if not db.exists():
            return dict.fromkeys(TABLES, 0)
        con = sqlite3.connect(str(db))
        try:
            have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return {t: (con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] if t in have else 0)
                    for t in TABLES}
        finally:
            con.close()

    def db_query(self, sql: str, args: tuple = (), home: Path | None = None) -> list[tuple]:
        con = sqlite3.connect(str((home or self.home) / "stackyard.db"), timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def assert_nothing_written(self) -> None:
        assert self.db_counts() == dict.fromkeys(TABLES, 0)
        runs = self.home / "runs"
        assert not runs.exists() or not any(runs.iterdir())
        arts = self.home / "artifacts"
        assert not arts.exists() or not any(arts.rglob("*"))

    # ---- CLI -------------------------------------------------------------------------
    def cli_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(extra)
        return env

    def cli(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(STACKYARD_BIN), *map(str, args)], check=False,
                              capture_output=True,
                              text=True, timeout=timeout, env=env or self.cli_env(),
                              cwd=str(cwd or self.work))

    def cli_json(self, *args: str, **kw: Any) -> Any:
        r = self.cli(*args, "--json", **kw)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout)

    def cli_popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen([str(STACKYARD_BIN), *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=env or self.cli_env(), cwd=str(self.work))

    # ---- waiting ---------------------------------------------------------------------
    wait_until = staticmethod(wait_until)

    pid_alive = staticmethod(pid_alive)


@pytest.fixture
def sy(tmp_path: Path, stackyard_home: Path) -> Helpers:
    return Helpers(tmp_path, stackyard_home)


PR_SET_CHILD_SUBREAPER = 36


class OrphanReaper:
    """Make this test process the subreaper of its descendants, as a normal init would be.

    A runner killed with ``kill -9`` leaves its job launchers orphaned; they are re-parented
    to the nearest subreaper. ``watch(pid)`` reaps such a pid as soon as it exits (what
    systemd or ``docker --init`` would do); pids that are not watched are left as zombies
    (what a container whose PID 1 never reaps does) until the fixture ends.
    """

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.watched: set[int] = set()
        self.all: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> OrphanReaper:  # noqa: PYI034 - a plain class, not subclassed
        if self.libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            pytest.skip("prctl(PR_SET_CHILD_SUBREAPER) is not available")
        self._thread.start()
        return self

    def watch(self, pid: int) -> None:
        self.watched.add(pid)
        self.all.add(pid)

    def remember(self, pid: int) -> None:
        """Reap ``pid`` only at teardown (leave it a zombie meanwhile)."""
        self.all.add(pid)

    def _try_reap(self, pid: int) -> bool:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            return done == pid
        except ChildProcessError:  # not (yet) our child, or already reaped
            return not pid_alive(pid) and not Path(f"/proc/{pid}").exists()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for pid in list(self.watched):
                if self._try_reap(pid):
                    self.watched.discard(pid)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        end = time.monotonic() + 10
        pending = set(self.all)
        while pending and time.monotonic() < end:
            for pid in list(pending):
                if pid_alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                if self._try_reap(pid) or not Path(f"/proc/{pid}").exists():
                    pending.discard(pid)
            time.sleep(0.02)


@pytest.fixture
def reaper() -> OrphanReaper:
    with OrphanReaper() as r:
        yield r
