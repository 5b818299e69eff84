"""Per-requirements virtual environments, cached by the hash of ``requirements.txt``.

A job whose ``source_dir`` holds a ``requirements.txt`` runs in
``$STACKYARD_HOME/venvs/<sha256[:16]>``: created once with ``--system-site-packages`` (so
stackyard and its libraries stay importable), filled with ``pip install -r``, and marked
ready only when the install succeeded. Concurrent jobs wait on a file lock instead of
installing twice.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

from stackyard import _home
from stackyard.errors import StepFailed


def requirements_key(requirements: Path) -> str:
    h = hashlib.sha256(requirements.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:16]


def _inherit_site(venv: Path) -> None:
    """Make stackyard's own environment importable inside the job's venv.

    ``--system-site-packages`` reaches only the *base* interpreter's packages; when
    stackyard runs from a virtualenv, its packages (and editable installs, which need their
    .pth files processed) are added with ``site.addsitedir`` from a .pth file, after the
    job's own requirements so those win."""
    import site

    parents = [p for p in site.getsitepackages() if Path(p).is_dir()]
    for target in (venv / "lib").glob("python*/site-packages"):
        lines = [f"import site; site.addsitedir({p!r})" for p in parents]
        (target / "zz_stackyard_parent.pth").write_text("\n".join(lines) + "\n")


def ensure_venv(requirements: Path, log: IO[bytes]) -> str:
    """The interpreter of the cached environment for these requirements."""
    root = _home.venvs_root()
    root.mkdir(parents=True, exist_ok=True)
    key = requirements_key(requirements)
    venv = root / key
    python = venv / "bin" / "python"
    from filelock import FileLock  # only when a requirements venv is built

    with FileLock(root / f"{key}.lock"):
        if (venv / ".ready").exists():
            log.write(f"stackyard: using cached environment {venv}\n".encode())
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)
        log.write(f"stackyard: creating environment {venv} for {requirements}\n".encode())
        log.flush()
        for cmd in ([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                    [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                     "-r", str(requirements)]):
            proc = subprocess.run(cmd, check=False, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=requirements.parent)
            if proc.returncode != 0:
                raise StepFailed(f"installing {requirements} failed (exit {proc.returncode}); "
                                 "see the job log", "JobError")
        _inherit_site(venv)
        (venv / ".ready").touch()
        return str(python)
