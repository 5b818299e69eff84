"""Publishing a stored artifact to a destination the user chose, the way S3 would.

S3 only ever adds keys: a job that writes ``<output_path>/<job>/output/model.tar.gz`` never
touches another key under ``output_path``. ``publish`` does the same on a local folder: it
writes only the artifact's own files, each one to a temp file in its target folder and then
renamed over the target (so a reader sees the old file or the new one, never half of one),
and it never removes or replaces anything else. Two jobs publishing under one destination
both keep their files; a file the user keeps there survives.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from stackyard import _home
from stackyard._checks import is_remote, uri_to_path
from stackyard.errors import UsageError


def _files(src: Path) -> list[tuple[str, Path]]:
    """(relative key, path) of every file of a stored tree, or of one stored object."""
    if src.is_file():
        return [(src.name, src)]
    return sorted((p.relative_to(src).as_posix(), p) for p in src.rglob("*") if p.is_file())


@contextmanager
def atomic_file(target: Path) -> Iterator[BinaryIO]:
    """A new file opened beside ``target`` under a temp name; synced and renamed onto
    ``target`` only when the block ends without error, removed otherwise. A reader never sees
    half a file, and a killed writer leaves at most a ``.<name>.<hex>.tmp``."""
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write(src: Path, target: Path) -> None:
    """Copy ``src`` to ``target`` atomically."""
    with atomic_file(target) as out, open(src, "rb") as f:
        shutil.copyfileobj(f, out, 1 << 20)


def publish(uri: str, destination: str) -> str:
    """Add a stored artifact's files under ``destination`` (a local path, ``file://`` or any
    fsspec URI): a tree's files by their relative paths, a single stored file by its name.
    Returns ``destination`` as given. Refuses a destination inside the artifact store."""
    src = uri_to_path(uri)
    files = _files(src)
    if is_remote(destination):
        import fsspec

        fs, root = fsspec.core.url_to_fs(destination)
        for rel, path in files:
            fs.put_file(str(path), f"{root.rstrip('/')}/{rel}")
        return destination
    root = uri_to_path(destination)
    store = _home.artifacts_root().resolve()
    if root == store or store in root.parents:
        raise UsageError(f"destination {destination} is inside the artifact store {store}; "
                         "publish somewhere else")
    for rel, path in files:
        target = root / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise IsADirectoryError(f"{target} is a folder")
            _write(path, target)
        except OSError as e:
            raise UsageError(f"cannot publish {rel} under {destination}: {e}") from e
    return destination
