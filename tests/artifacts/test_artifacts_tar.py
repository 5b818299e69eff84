"""The one tar reader: crafted archives are refused before anything is written, anywhere.

Every case runs against ``unpack_tar`` (through ``building``, as the registry and endpoints
use it), against registration, and against ``download`` of a version whose record was
forged to point at the archive (so the check at load time is tested on its own)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from stackyard import artifacts
from stackyard.errors import IntegrityError, UsageError
from stackyard.jobs import Model
from stackyard.registry import ModelRegistry
from stackyard.runtime import pack_model
from stackyard.store import open_store


def _add(tar: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"",
         link: str = "", mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def _pathmax_chain(tar: tarfile.TarFile, outside: Path) -> None:
    """CVE-2025-4517: symlinks through folders with 247-character names until
    ``os.path.realpath`` gives up at PATH_MAX, then a link out and a file through it
    (what bypasses ``filter="data"`` on Python 3.11.7)."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    path = ""
    for step in steps:
        _add(tar, os.path.join(path, comp), tarfile.DIRTYPE, mode=0o755)
        _add(tar, os.path.join(path, step), tarfile.SYMTYPE, link=comp)
        path = os.path.join(path, comp)
    linkpath = os.path.join("/".join(steps), "l" * 254)
    _add(tar, linkpath, tarfile.SYMTYPE, link="../" * len(steps))
    # the kernel resolves linkpath to the extraction folder itself, so this is its sibling
    # ``outside``; realpath, giving up, reads it as a folder deep inside
    _add(tar, "escape", tarfile.SYMTYPE, link=f"{linkpath}/../{outside.name}")
    _add(tar, "escape/pwned.txt", data=b"written outside")


def _craft(path: Path, case: str, outside: Path) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "model.txt", data=b"fine so far")  # a good member first: must not linger
        if case == "symlink":
            _add(tar, "link", tarfile.SYMTYPE, link=str(outside))
            _add(tar, "link/pwned.txt", data=b"x")
        elif case == "relative-symlink":
            _add(tar, "link", tarfile.SYMTYPE, link="../" + outside.name)
            _add(tar, "link/pwned.txt", data=b"x")
        elif case == "hardlink":
            _add(tar, "hard", tarfile.LNKTYPE, link=str(outside / "victim.txt"))
        elif case == "dotdot":
            _add(tar, f"../{outside.name}/pwned.txt", data=b"x")
        elif case == "nested-dotdot":
            _add(tar, f"sub/../../{outside.name}/pwned.txt", data=b"x")
        elif case == "absolute":
            _add(tar, str(outside / "pwned.txt"), data=b"x")
        elif case == "absolute-folder":  # a member named like the existing folder outside
            _add(tar, str(outside) + "/", tarfile.DIRTYPE, mode=0o755)
            _add(tar, str(outside / "victim.txt"), data=b"overwritten")
        elif case == "device":
            _add(tar, "dev", tarfile.CHRTYPE)
        elif case == "fifo":
            _add(tar, "fifo", tarfile.FIFOTYPE)
        elif case == "pathmax-chain":
            _pathmax_chain(tar, outside)
        elif case == "duplicate":
            _add(tar, "model.txt", data=b"second copy")
        elif case == "file-then-folder":
            _add(tar, "model.txt/inner", data=b"x")
    return path


CASES = ["symlink", "relative-symlink", "hardlink", "dotdot", "nested-dotdot", "absolute",
         "absolute-folder", "device", "fifo", "pathmax-chain", "duplicate", "file-then-folder"]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim.txt").write_text("original")
    return d


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in root.rglob("*")}


@pytest.mark.parametrize("case", CASES)
def test_crafted_archives_are_refused_and_leave_nothing(tmp_path: Path, outside: Path,
                                                        case: str) -> None:
    archive = _craft(tmp_path / "evil.tar.gz", case, outside)
    before = _snapshot(tmp_path)
    dest = tmp_path / "unpacked"
    with pytest.raises(UsageError, match="evil.tar.gz"):
        artifacts.check_tar(archive)
    with pytest.raises(UsageError, match="evil.tar.gz"), artifacts.building(dest) as tmp:
        artifacts.unpack_tar(archive, tmp)
    assert _snapshot(tmp_path) == before          # nothing created or changed, anywhere
    assert (outside / "victim.txt").read_text() == "original"
    assert not dest.exists()


@pytest.mark.parametrize("case", ["symlink", "hardlink", "dotdot", "absolute-folder",
                                  "pathmax-chain"])
def test_registration_refuses_a_crafted_archive_and_stores_nothing(
        tmp_path: Path, stackyard_home: Path, outside: Path, case: str) -> None:
    archive = _craft(tmp_path / "evil.tar.gz", case, outside)
    with pytest.raises(UsageError, match="member"):
        Model(model_data=str(archive)).register(model_package_group_name="g")
    assert open_store().list_packages("g") == []
    objects = stackyard_home / "artifacts" / "objects"
    assert not objects.exists() or list(objects.iterdir()) == []
    assert (outside / "victim.txt").read_text() == "original"


def _forge_version(archive: Path) -> str:
    """A version whose record points at a crafted archive in the store: what a registry
    written by an older stackyard (or edited by hand) may hold."""
    uri = artifacts.put_file(archive, "model.tar.gz")
    record = {"group": "g", "model_data": uri, "model_sha256": artifacts.content_hash(uri),
              "inference_spec": {"entry_point": None, "code_uri": None},
              "model_metrics": {}, "drift_check_baselines": {},
              "customer_metadata_properties": {}, "lineage": {}}
    version = open_store().register_package("g", "Approved", record, "test", "forged", {})
    return f"g/{version}"


@pytest.mark.parametrize("case", ["symlink", "pathmax-chain", "absolute-folder"])
def test_download_and_endpoint_load_refuse_a_crafted_stored_archive(
        tmp_path: Path, outside: Path, case: str) -> None:
    from stackyard.serving._fleet import load_model

    ref = _forge_version(_craft(tmp_path / "evil.tar.gz", case, outside))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UsageError, match="member"):
        ModelRegistry().download(ref, work / "model")
    with pytest.raises(UsageError, match="member"):
        load_model({"ref": ref}, allow_unapproved=False)
    assert list(work.iterdir()) == []
    assert (outside / "victim.txt").read_text() == "original"
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


def test_a_good_archive_unpacks_with_sane_modes(tmp_path: Path) -> None:
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "./", tarfile.DIRTYPE, mode=0o755)
        _add(tar, "./bin/run.sh", data=b"#!/bin/sh\n", mode=0o4777)   # setuid, world-writable
        _add(tar, "./weights.bin", data=b"w" * 10, mode=0o600)
        _add(tar, "./empty/", tarfile.DIRTYPE, mode=0o000)
    dest = tmp_path / "out"
    with artifacts.building(dest) as tmp:
        digest = artifacts.unpack_tar(archive, tmp, artifacts.sha256_file(archive))
    assert (dest / "weights.bin").read_bytes() == b"w" * 10
    mode = (dest / "bin" / "run.sh").stat().st_mode
    assert mode & 0o7000 == 0 and mode & 0o002 == 0 and mode & 0o100
    assert (dest / "empty").is_dir() and os.access(dest / "empty", os.W_OK)
    assert digest == artifacts.tree_digest(dest)


def test_a_modified_archive_is_refused_even_when_it_no_longer_parses(tmp_path: Path) -> None:
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        _add(tar, "a.txt", data=b"a" * 1000)
    sha = artifacts.sha256_file(archive)
    archive.write_bytes(archive.read_bytes()[:40])   # truncated: not a tar any more
    with pytest.raises(IntegrityError, match="modified after it was stored"), \
            artifacts.building(tmp_path / "out") as tmp:
        artifacts.unpack_tar(archive, tmp, sha)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tar.gz"]


def test_building_refuses_a_folder_with_content(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an empty folder"), \
            artifacts.building(tmp_path / "full"):
        pass
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_pack_model_stores_links_as_files_so_its_archives_always_pass(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"w")
    os.link(model / "weights.bin", model / "hardlinked.bin")
    (model / "latest").symlink_to("weights.bin")
    (model / "sub" / "loop").symlink_to("..")          # a loop must end
    (model / "dangling").symlink_to("missing")
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(pack_model(model))
    artifacts.check_tar(archive)
    with artifacts.building(tmp_path / "out") as tmp:
        artifacts.unpack_tar(archive, tmp)
    out = tmp_path / "out"
    assert (out / "latest").read_bytes() == (out / "hardlinked.bin").read_bytes() == b"w"
    assert not (out / "latest").is_symlink() and not (out / "dangling").exists()
    assert archive.read_bytes() == pack_model(model)   # still reproducible
