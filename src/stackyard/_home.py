"""Where stackyard keeps its state: the only module that reads environment variables.

Everything (the SQLite database and the artifact tree) lives under one folder so that a
project can be moved, backed up or wiped as a unit, and so tests can isolate themselves by
pointing ``STACKYARD_HOME`` at a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state folder: ``$STACKYARD_HOME`` or ``./.stackyard``, created on first use
    readable by its owner only (0700): it holds job logs and specs."""
    root = Path(os.environ.get("STACKYARD_HOME") or ".stackyard").expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def db_path() -> Path:
    """The SQLite database, created empty with mode 0600 before SQLite opens it, so it (and
    the ``-wal``/``-shm`` files SQLite gives the same mode) is private to its owner."""
    path = home() / "stackyard.db"
    if not path.exists():
        # Never open/close the file once it exists: closing any descriptor of a database
        # drops every POSIX lock this process holds on it, SQLite's own included.
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
    return path


def artifacts_root() -> Path:
    return home() / "artifacts"


def runs_root() -> Path:
    return home() / "runs"


def venvs_root() -> Path:
    return home() / "venvs"


def sandbox_mode() -> str:
    """How jobs see ``/opt/ml``: ``auto`` (mount namespace when the OS allows), ``off``."""
    mode = os.environ.get("STACKYARD_SANDBOX", "auto").lower()
    return mode if mode in {"auto", "off"} else "auto"


def debug() -> bool:
    """``STACKYARD_DEBUG=1``: the CLI prints the traceback of an unexpected error instead of
    a one-line message."""
    return os.environ.get("STACKYARD_DEBUG", "").strip().lower() not in {"", "0", "false", "no"}


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, as ``taskset`` or a container's
    cpuset sets it), not the machine's total: what parallel work should be sized to."""
    return len(os.sched_getaffinity(0))


def unset_defaults(**defaults: str) -> dict[str, str]:
    """The ``defaults`` for variables the user has not set: what a child process should get
    on top of the inherited environment without overriding the user's own choice."""
    return {k: v for k, v in defaults.items() if k not in os.environ}


def server_url() -> str | None:
    """``STACKYARD_URL``: the ``stackyard server`` the CLI talks to instead of the store
    (unset or empty: the local store)."""
    return os.environ.get("STACKYARD_URL", "").strip() or None


def server_token() -> str | None:
    """``STACKYARD_TOKEN``: the bearer token sent to ``STACKYARD_URL`` (never written down)."""
    return os.environ.get("STACKYARD_TOKEN", "").strip() or None


def smtp_settings() -> dict[str, str]:
    """How e-mail notifications are sent, read at each delivery and never stored:
    ``STACKYARD_SMTP_HOST`` (default localhost), ``STACKYARD_SMTP_PORT`` (25),
    ``STACKYARD_SMTP_FROM`` (``stackyard@localhost``), ``STACKYARD_SMTP_USER`` and
    ``STACKYARD_SMTP_PASSWORD`` (log in when both are set), ``STACKYARD_SMTP_STARTTLS=1``."""
    env = os.environ
    return {"host": env.get("STACKYARD_SMTP_HOST") or "localhost",
            "port": env.get("STACKYARD_SMTP_PORT") or "25",
            "from": env.get("STACKYARD_SMTP_FROM") or "stackyard@localhost",
            "user": env.get("STACKYARD_SMTP_USER") or "",
            "password": env.get("STACKYARD_SMTP_PASSWORD") or "",
            "starttls": env.get("STACKYARD_SMTP_STARTTLS") or ""}


def backend_settings() -> dict[str, str | None]:
    """Where jobs run, from the environment: ``STACKYARD_BACKEND`` (``local``, the default,
    or ``ray``), ``STACKYARD_RAY_ADDRESS`` (``auto``, ``HOST:PORT`` or ``ray://…``),
    ``STACKYARD_ARTIFACTS`` (the artifact store every Ray node reads and writes: an fsspec
    URI such as ``s3://bucket/prefix``, or a folder all nodes share) and
    ``STACKYARD_RAY_RESOURCES`` (JSON: instance type, or ``*``, -> Ray resources)."""
    return {"backend": os.environ.get("STACKYARD_BACKEND") or None,
            "address": os.environ.get("STACKYARD_RAY_ADDRESS") or None,
            "artifacts": os.environ.get("STACKYARD_ARTIFACTS") or None,
            "resources": os.environ.get("STACKYARD_RAY_RESOURCES") or None}
