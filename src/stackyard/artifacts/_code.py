"""Code as a job receives it: which files a ``source_dir`` copy leaves out, and the hash of
what remains. One home, because the runtime copies code with these rules, the engine keys
its cache on this hash, and the registry's lineage records it: all three must agree.
"""

from __future__ import annotations

from pathlib import Path

from stackyard import _checks, _home
from stackyard.artifacts._cas import sha256_file, tree_digest

_SKIP_DIRS = {"__pycache__", ".git", ".venv", ".stackyard", ".pytest_cache"}


def ignore_in_code(folder: str, names: list[str]) -> set[str]:
    """What a source_dir copy leaves out (a ``shutil.copytree`` ignore): caches, VCS data,
    and stackyard's own state (which may live inside the source folder and would otherwise
    copy into itself)."""
    home = _home.home()
    return {n for n in names if n in _SKIP_DIRS or Path(folder, n).resolve() == home}


def code_hash(path: str | Path) -> str:
    """The hash of code as a job receives it (same files left out as by the copy)."""
    p = _checks.uri_to_path(path)
    return tree_digest(p, ignore_in_code) if p.is_dir() else sha256_file(p)
