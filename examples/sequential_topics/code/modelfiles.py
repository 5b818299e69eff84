"""Reading the previous layer's ``model.tar.gz`` inside a job: every member is checked
(a regular file or folder, a relative name without ``..``) before it is written, since
tarfile's own ``filter="data"`` can be bypassed on Python 3.11.7; links are refused."""

from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath


def extract(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        for m in tar:
            name = PurePosixPath(m.name)
            if name.is_absolute() or ".." in name.parts or not (m.isfile() or m.isdir()):
                raise ValueError(f"{archive.name}: refusing member {m.name!r} (only plain "
                                 "files and folders with relative names)")
            target = dest.joinpath(*name.parts) if name.parts != (".",) else dest
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            assert src is not None
            with open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return dest


def read_member(archive: Path, name: str) -> bytes:
    """One regular file's bytes from ``archive`` (nothing is written to disk)."""
    with tarfile.open(archive, "r:*") as tar:
        for m in tar:
            if PurePosixPath(m.name) == PurePosixPath(name) and m.isfile():
                src = tar.extractfile(m)
                assert src is not None
                return src.read()
    raise FileNotFoundError(f"{archive.name} has no file {name}")
