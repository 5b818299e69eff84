"""The one way stackyard reads a tar archive: every member checked before it is written.

tarfile's own ``filter="data"`` is not enough on the Pythons this project runs on (3.11.7's
is bypassed by the PATH_MAX symlink chain of CVE-2025-4517), so nothing here uses tarfile's
extraction. The archive is read once, as a stream; each member must be a regular file or a
folder with a relative name free of ``..`` that no earlier member claimed differently, and
this code writes it (mode 0644, or 0755 when executable, never setuid) into a folder the
caller just created. Links, devices and FIFOs are refused outright, so no member can ever
reach outside that folder. The archive's sha256 is computed over the very bytes that were
unpacked, so a check against a recorded hash has no window between check and use.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from pathlib import Path
from typing import IO

from stackyard._checks import inside
from stackyard.artifacts._cas import _mismatch, files_digest
from stackyard.errors import UsageError

_CHUNK = 1 << 20
_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link",
          tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
          tarfile.FIFOTYPE: "a FIFO"}


class _HashingReader:
    """A file's bytes as tarfile reads them, hashed on the way."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha.update(data)
        return data

    def finish(self) -> str:
        while self.read(_CHUNK):  # trailing padding the tar reader did not need
            pass
        return self.sha.hexdigest()


def _member_path(member: tarfile.TarInfo, archive: Path) -> str | None:
    """The member's normalised relative path (None for the archive's own root, ``./``)."""
    what = f"{archive.name}: member {member.name!r}"
    if not (member.isreg() or member.isdir()):
        kind = _KINDS.get(member.type, f"of tar type {member.type!r}")
        raise UsageError(f"{what} is {kind}; a model archive may only hold regular files "
                         "and folders (pack the files themselves, e.g. tar --dereference)")
    name = member.name
    if name.startswith("/") or "\x00" in name:
        raise UsageError(f"{what} has an absolute path; archive members must be relative")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UsageError(f"{what} climbs out with '..'; archive members must stay inside")
    if len(name.encode()) > 4096 or any(len(p.encode()) > 255 for p in parts):
        raise UsageError(f"{what} has a name longer than the file system allows")
    if not parts:
        if member.isdir():
            return None
        raise UsageError(f"{what} is a file without a name")
    return "/".join(parts)


def _claim(rel: str, is_dir: bool, files: dict[str, str], dirs: set[str], what: str) -> None:
    """Refuse a name that an earlier member used differently (a file twice, or a file that
    another member treats as a folder): the result would depend on the order."""
    parts = rel.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent in files:
            raise UsageError(f"{what}: {parent!r} is both a file and a folder in the archive")
        dirs.add(parent)
    if rel in files or (not is_dir and rel in dirs):
        raise UsageError(f"{what}: {rel!r} appears more than once in the archive")
    if is_dir:
        dirs.add(rel)


def _copy(src: IO[bytes], out: IO[bytes] | None) -> str:
    h = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        if out is not None:
            out.write(chunk)
    return h.hexdigest()


def _read(archive: Path, into: Path | None, sha256: str | None) -> tuple[str, str]:
    """Check every member (and write it under ``into`` when given); returns (the archive's
    sha256, the digest of the tree it unpacks to)."""
    files: dict[str, str] = {}
    dirs: set[str] = set()
    problem: UsageError | None = None
    with open(archive, "rb") as raw:
        reader = _HashingReader(raw)
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
                for member in tar:
                    rel = _member_path(member, archive)
                    if rel is None:
                        continue
                    _claim(rel, member.isdir(), files, dirs, archive.name)
                    target = inside(into, rel, "archive member") if into else None
                    if member.isdir():
                        if target is not None:
                            target.mkdir(parents=True, exist_ok=True)
                        continue
                    src = tar.extractfile(member)
                    assert src is not None  # a regular file always has content
                    if target is None:
                        files[rel] = _copy(src, None)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    mode = 0o755 if member.mode & 0o111 else 0o644
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                                 mode)
                    with os.fdopen(fd, "wb") as out:
                        files[rel] = _copy(src, out)
        except (tarfile.TarError, EOFError, zlib.error) as e:
            problem = UsageError(f"{archive} is not a readable tar archive: {e}")
        except UsageError as e:
            problem = e
        actual = reader.finish()
    if sha256 is not None and actual != sha256:  # a changed file: say so, whatever broke
        raise _mismatch(archive, actual, sha256)
    if problem is not None:
        raise problem
    return actual, files_digest(files)


def check_tar(archive: Path) -> str:
    """Refuse an archive that ``unpack_tar`` would refuse, writing nothing; returns the sha256
    of the bytes that were checked (so a caller can tell the file did not change after)."""
    return _read(Path(archive), None, None)[0]


def unpack_tar(archive: Path, into: Path, sha256: str | None = None) -> str:
    """Unpack ``archive`` into ``into``, an empty folder the caller just created (see
    ``building``: on any error the caller's folder is dropped whole). ``sha256``: the hash
    recorded for the archive, checked over the bytes unpacked. Returns the digest of the
    unpacked tree (``tree_digest(into)``)."""
    return _read(Path(archive), Path(into), sha256)[1]
