"""Content-addressed storage under ``$STACKYARD_HOME/artifacts``.

Layout: ``objects/<sha256>/<name>`` for single files and ``trees/<treehash>/...`` for
folders (a processing output, a channel). The address is the content, so two runs that
produce the same bytes share them, a cache hit can hand out the same URI safely, and no step
can change another run's data: stored files are read-only and never rewritten. Every write
lands in a temp folder first and is renamed into place, so a crash leaves no half artifact.

Local paths and ``file://`` URIs work everywhere; other URIs (``s3://``, ``gs://``) go
through fsspec when the matching filesystem package is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from stackyard import _home
from stackyard._checks import (  # the one local path / URI conversion (re-exported)
    is_remote,
    to_uri,  # noqa: F401 - part of stackyard.artifacts
    uri_to_path,
)
from stackyard.errors import IntegrityError, NotFoundError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def tree_digest(root: Path, skip: Callable[[str, list[str]], set[str]] | None = None) -> str:
    """Hash of a folder's files by relative path and content. Links are followed, as the
    copy into the store follows them; ``skip`` (shutil.copytree's ``ignore`` shape) leaves
    out what a copy would leave out."""
    lines = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dropped = skip(folder, dirs + files) if skip else set()
        dirs[:] = sorted(d for d in dirs if d not in dropped)
        for name in files:
            p = Path(folder, name)
            if name in dropped or not p.is_file():
                continue
            lines.append(f"{p.relative_to(root).as_posix()}\0{sha256_file(p)}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def _freeze(path: Path) -> None:
    """Make a stored artifact read-only (advisory for root, a real guard for users)."""
    targets = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in targets:
        mode = p.stat().st_mode
        p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _install(tmp: Path, final: Path) -> None:
    """Rename a fully written temp entry into its content address (first writer wins)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        os.rename(tmp, final)
    except OSError:  # a concurrent writer installed the same content first
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # frozen after the rename: moving a read-only folder to a new parent is refused to
    # ordinary users (its '..' entry must be rewritten)
    _freeze(final)


def _staging() -> Path:
    d = _home.artifacts_root() / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=d))


def put_tree(src: Path) -> str:
    """Store a folder's contents; returns its ``file://`` URI (``trees/<hash>``)."""
    src = Path(src)
    digest = tree_digest(src)
    final = _home.artifacts_root() / "trees" / digest
    if not final.exists():
        tmp = _staging()
        shutil.copytree(src, tmp / "t", symlinks=False)
        _install(tmp / "t", final)
        shutil.rmtree(tmp, ignore_errors=True)
    return final.as_uri()


def put_file(src: Path, name: str | None = None) -> str:
    """Store one file; returns its ``file://`` URI (``objects/<sha256>/<name>``)."""
    src = Path(src)
    digest = sha256_file(src)
    final = _home.artifacts_root() / "objects" / digest
    if not final.exists():
        tmp = _staging()
        shutil.copy2(src, tmp / (name or src.name))
        _install(tmp, final)
    return next(final.iterdir()).as_uri()  # one file per object folder: the first name wins


def put_bytes(data: bytes, name: str) -> str:
    tmp = _staging()
    (tmp / name).write_bytes(data)
    try:
        return put_file(tmp / name, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stored_digest(path: Path) -> str | None:
    """The digest encoded in a CAS path, or None when the path is not in the store."""
    try:
        rel = path.relative_to(_home.artifacts_root())
    except ValueError:
        return None
    parts = rel.parts
    if len(parts) >= 2 and parts[0] in ("objects", "trees"):
        return parts[1]
    return None


def content_hash(uri: str) -> str:
    """A stable content hash for a file, a folder or a remote object (for cache keys)."""
    if is_remote(uri):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        try:
            return f"{fs.protocol}:{fs.checksum(path)}"
        except FileNotFoundError as e:
            raise NotFoundError(f"input {uri!r} does not exist") from e
    path = uri_to_path(uri)
    if not path.exists():
        raise NotFoundError(f"input {uri!r} does not exist")
    stored = _stored_digest(path)
    if stored is not None and path.parent.name == stored:  # objects/<sha>/<name>
        return stored
    if stored is not None and path.name == stored:  # trees/<hash>
        return stored
    return tree_digest(path) if path.is_dir() else sha256_file(path)


def verify(uri: str) -> Path:
    """Recompute a stored artifact's hash; raise ``IntegrityError`` if it changed."""
    path = uri_to_path(uri)
    stored = _stored_digest(path)
    if stored is None:
        raise IntegrityError(f"{uri} is not in the artifact store; refusing to trust it")
    actual = tree_digest(path) if path.is_dir() else sha256_file(path)
    if actual != stored:
        raise IntegrityError(f"{uri}: content hash {actual[:12]} != recorded {stored[:12]}")
    return path


def fetch(uri: str, dest: Path) -> None:
    """Copy an input into ``dest``: a folder's contents, or a file by its own name."""
    dest.mkdir(parents=True, exist_ok=True)
    if is_remote(uri):
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        if fs.isdir(path):
            fs.get(path.rstrip("/") + "/", str(dest), recursive=True)
        else:
            fs.get(path, str(dest / Path(path).name))
        return
    src = uri_to_path(uri)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
        for p in [dest, *dest.rglob("*")]:  # copies of frozen artifacts must be writable
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    elif src.is_file():
        target = dest / src.name
        shutil.copyfile(src, target)
    else:
        raise NotFoundError(f"input {uri!r} does not exist")


def export(uri: str, destination: str) -> None:
    """Publish a stored tree to a user-chosen destination (replaced atomically if local)."""
    src = uri_to_path(uri)
    if is_remote(destination):
        import fsspec

        fs, path = fsspec.core.url_to_fs(destination)
        fs.put(str(src) + "/", path.rstrip("/") + "/", recursive=True)
        return
    dst = uri_to_path(destination)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}."))
    shutil.copytree(src, tmp, dirs_exist_ok=True)
    for p in [tmp, *tmp.rglob("*")]:
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    import fcntl

    locks = _home.artifacts_root() / "tmp" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(dst).encode()).hexdigest()[:32]
    with open(locks / f"{key}.lock", "w") as lock:  # one swap per destination at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old."))
        if dst.exists():
            os.rename(dst, old / "x")
        os.rename(tmp, dst)
        shutil.rmtree(old, ignore_errors=True)
