"""The shared artifact store: where jobs on other machines (Ray workers) get their inputs and
leave their outputs, addressed like the local store.

It lives at any fsspec URI (``s3://bucket/prefix`` on S3 or an S3-compatible server,
``gs://…``, or a folder every node mounts) and holds ``trees/<digest>/<files>`` next to a
manifest ``trees/<digest>.json`` (``{relative path: sha256}``) written last, so a tree is
there only once all its files are. A single file travels as a one-file tree. Nothing read
back is trusted: every file pulled is hashed as it streams to disk and must match the
manifest, and the manifest must hash to the address asked for. Files move in parallel
(``WORKERS`` at a time) and streamed (``put_file``/``open``), never whole in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from stackyard._checks import inside, is_remote, uri_to_path
from stackyard.artifacts._cas import _CHUNK, _stored_digest, files_digest, tree_files
from stackyard.errors import IntegrityError, UsageError

WORKERS = 8


class SharedStore:
    """One shared artifact store (``uri``) as seen from this process."""

    def __init__(self, uri: str) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        try:
            if is_remote(self.uri):
                self.fs, self.root = fsspec.core.url_to_fs(self.uri)
            else:
                self.fs = fsspec.filesystem("file")
                self.root = str(uri_to_path(self.uri))
        except (ImportError, ValueError) as e:
            raise UsageError(f"artifact store {self.uri}: {e}") from e
        self.root = self.root.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    # ---- checks ----------------------------------------------------------------------
    def check(self) -> None:
        """Write, read back and delete a probe object: an unreachable store, one without
        credentials or a read-only one is a ``UsageError`` naming the URI, before any job
        starts."""
        key = self._path(f"probes/{secrets.token_hex(8)}")
        try:
            if not is_remote(self.uri):  # a bucket is never created here, only folders
                os.makedirs(self._path("probes"), exist_ok=True)
            with self.fs.open(key, "wb") as f:
                f.write(b"stackyard")
            with self.fs.open(key, "rb") as f:
                ok = f.read() == b"stackyard"
            self.fs.rm(key)
        except Exception as e:
            raise UsageError(f"artifact store {self.uri} is not usable: "
                             f"{type(e).__name__}: {e}; check the URI, that it is reachable "
                             "from here and from every Ray node, and its credentials") from e
        if not ok:
            raise UsageError(f"artifact store {self.uri} returned other bytes than written")

    # ---- small JSON records ----------------------------------------------------------
    def put_json(self, key: str, value: Any) -> None:
        if not is_remote(self.uri):
            os.makedirs(self._path(key).rsplit("/", 1)[0], exist_ok=True)
        with self.fs.open(self._path(key), "w") as f:
            f.write(json.dumps(value))

    def get_json(self, key: str) -> Any | None:
        try:
            with self.fs.open(self._path(key), "r") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    # ---- trees -----------------------------------------------------------------------
    def push(self, src: Path, skip: Any = None) -> str:
        """Upload a local file or folder (unless the store has it); returns its digest.
        A folder of the local store is addressed by its name, so asking costs no hashing."""
        src = Path(src)
        known = _stored_digest(src) if src.is_dir() else None
        if known is not None and self.fs.exists(self._path(f"trees/{known}.json")):
            return known
        if src.is_dir():
            files = tree_files(src, skip)
            paths = {rel: src / rel for rel in files}
        else:
            from stackyard.artifacts._cas import sha256_file

            files = {src.name: sha256_file(src)}
            paths = {src.name: src}
        digest = files_digest(files)
        manifest = self._path(f"trees/{digest}.json")
        if not self.fs.exists(manifest):
            base = self._path(f"trees/{digest}")
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda rel: self._upload(paths[rel], f"{base}/{rel}"), files))
            with self.fs.open(manifest, "w") as f:  # last: the tree is complete
                f.write(json.dumps(files, sort_keys=True))
        return digest

    def _upload(self, local: Path, remote: str) -> None:
        if not is_remote(self.uri):
            os.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
        self.fs.put_file(str(local), remote)

    def pull(self, digest: str, dest: Path) -> dict[str, str]:
        """Download tree ``digest`` into ``dest`` (created; files added), checking every
        file against the manifest and the manifest against the digest. Returns the files'
        hashes; raises ``IntegrityError`` (and removes what it wrote) on any mismatch."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise IntegrityError(f"{digest!r} is not a tree address")
        files = self.get_json(f"trees/{digest}.json")
        if not isinstance(files, dict):
            raise IntegrityError(f"{self.uri}/trees/{digest} is missing from the shared "
                                 "artifact store")
        if files_digest(files) != digest:
            raise IntegrityError(f"the manifest of {self.uri}/trees/{digest} does not hash "
                                 "to its address; refusing it")
        dest.mkdir(parents=True, exist_ok=True)
        targets = {rel: inside(dest, rel, "stored file") for rel in files}
        base = self._path(f"trees/{digest}")
        try:
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(lambda rel: self._download(f"{base}/{rel}", targets[rel],
                                                         files[rel]), files))
        except BaseException:
            for t in targets.values():
                t.unlink(missing_ok=True)
            raise
        return files

    def _download(self, remote: str, target: Path, sha: str) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        h = hashlib.sha256()
        try:
            with self.fs.open(remote, "rb") as src, open(tmp, "wb") as out:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha:
                raise IntegrityError(f"{remote} does not match its recorded sha256 "
                                     f"{sha[:12]}…; refusing it")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()

    def remove(self, key: str) -> None:
        """Delete a record (``jobs/<key>…``); never a tree, which other jobs may share."""
        try:
            self.fs.rm(self._path(key), recursive=True)
        except FileNotFoundError:
            pass
