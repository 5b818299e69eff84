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
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from stackyard import _home
from stackyard._checks import (  # the one local path / URI conversion (re-exported)
    is_remote,
    to_uri,
    uri_to_path,
)
from stackyard.errors import IntegrityError, NotFoundError, UsageError

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def json_digest(value: object) -> str:
    """The one canonical-JSON hash (sorted keys; a non-JSON leaf hashed as its ``str``): a
    pipeline version's digest and a step's cache key are both this, so they never drift."""
    import json

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def files_digest(files: Mapping[str, str]) -> str:
    """The digest of a tree given as ``{relative path: sha256}`` (the address of a tree in
    the store; also what an archive unpacks to, see ``_tar``)."""
    return hashlib.sha256("".join(sorted(f"{rel}\0{sha}\n" for rel, sha in files.items()))
                          .encode()).hexdigest()


def tree_files(root: Path, skip: Callable[[str, list[str]], set[str]] | None = None
               ) -> dict[str, str]:
    """``{relative path: sha256}`` of a folder's files. Links are followed, as the copy into
    the store follows them; ``skip`` (shutil.copytree's ``ignore`` shape) leaves out what a
    copy would leave out."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dropped = skip(folder, dirs + files) if skip else set()
        dirs[:] = sorted(d for d in dirs if d not in dropped)
        for name in files:
            p = Path(folder, name)
            if name in dropped or not p.is_file():
                continue
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


def tree_digest(root: Path, skip: Callable[[str, list[str]], set[str]] | None = None) -> str:
    """Hash of a folder's files by relative path and content (see ``tree_files``)."""
    return files_digest(tree_files(root, skip))


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


@contextmanager
def building(dest: Path) -> Iterator[Path]:
    """A new, empty folder next to ``dest`` to fill; renamed to ``dest`` when the block
    succeeds, removed when it raises, so ``dest`` is either complete or absent. ``dest``
    must not exist or be an empty folder (never merged into what is there)."""
    dest = Path(dest)
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise UsageError(f"{dest} exists and is not an empty folder; choose a new one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, dest)  # replaces an empty folder, atomically
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
    return to_uri(final)


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
    """The digest a store address names (``objects/<sha256>/<name>`` or ``trees/<hash>``),
    or None when ``path`` is not such an address."""
    try:
        parts = path.relative_to(_home.artifacts_root()).parts
    except ValueError:
        return None
    if (parts[:1] == ("objects",) and len(parts) == 3) or (parts[:1] == ("trees",)
                                                            and len(parts) == 2):
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
    return _stored_digest(path) or (tree_digest(path) if path.is_dir() else sha256_file(path))


def verify(uri: str, sha256: str | None = None) -> Path:
    """The one integrity check of stored artifacts: recompute the content hash of a stored
    file or tree and compare it with its address (and with ``sha256``, the hash a record
    holds for it, when given). Returns the path; raises ``IntegrityError`` if they differ."""
    path, stored = _expected(uri, sha256)
    actual = tree_digest(path) if path.is_dir() else sha256_file(path)
    if actual != stored:
        raise _mismatch(path, actual, stored)
    return path


def _expected(uri: str, sha256: str | None) -> tuple[Path, str]:
    """A store address's path and the digest it names (refusing anything else)."""
    path = uri_to_path(uri)
    stored = _stored_digest(path)
    if stored is None:
        raise IntegrityError(f"{uri} is not in the artifact store; refusing to trust it")
    if sha256 is not None and sha256 != stored:
        raise IntegrityError(f"{uri} is not the artifact recorded (sha256 {sha256[:12]}…)")
    if not path.exists():
        raise IntegrityError(f"{uri} is missing from the artifact store")
    return path, stored


def _mismatch(path: Path, actual: str, stored: str) -> IntegrityError:
    return IntegrityError(f"{path} was modified after it was stored (sha256 {actual[:12]}… "
                          f"!= recorded {stored[:12]}…); refusing to use it")


def checkout(uri: str, dest: Path) -> dict[str, str]:
    """Copy a stored tree into ``dest`` (a new folder) and check the copy, not the original,
    against the tree's address: what lands in ``dest`` is what was stored. Returns its files'
    hashes."""
    src, stored = _expected(uri, None)
    shutil.copytree(src, dest, symlinks=False)
    for p in [dest, *dest.rglob("*")]:  # copies of frozen artifacts must be writable
        p.chmod(p.stat().st_mode | stat.S_IWUSR)
    files = tree_files(dest)
    actual = files_digest(files)
    if actual != stored:
        shutil.rmtree(dest, ignore_errors=True)
        raise _mismatch(src, actual, stored)
    return files


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
