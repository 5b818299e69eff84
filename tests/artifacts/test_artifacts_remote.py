"""The shared artifact store (what Ray workers read and write): round trips, hash checks on
every pull, and a store that cannot be used named before anything runs."""

from __future__ import annotations

import json
import os

import pytest

from stackyard import artifacts
from stackyard.artifacts._remote import SharedStore
from stackyard.errors import IntegrityError, UsageError


@pytest.fixture
def shared(tmp_path):
    return SharedStore(str(tmp_path / "shared store ü"))


def _tree(root):
    (root / "sub dir").mkdir(parents=True)
    (root / "a.csv").write_text("x,y\n1,2\n")
    (root / "sub dir" / "naïve.txt").write_bytes(os.urandom(3 << 20))  # several chunks
    return root


def test_a_tree_round_trips_with_the_local_stores_address(tmp_path, shared):
    src = _tree(tmp_path / "src")
    digest = shared.push(src)
    assert digest == artifacts.tree_digest(src)
    files = shared.pull(digest, tmp_path / "dest")
    assert files == {"a.csv": artifacts.sha256_file(src / "a.csv"),
                     "sub dir/naïve.txt": artifacts.sha256_file(src / "sub dir" / "naïve.txt")}
    assert artifacts.tree_digest(tmp_path / "dest") == digest
    # a stored tree is addressed by name: pushing it again hashes nothing and uploads nothing
    stored = artifacts.uri_to_path(artifacts.put_tree(src))
    assert shared.push(stored) == digest


def test_a_file_travels_as_a_one_file_tree(tmp_path, shared):
    f = tmp_path / "model.tar.gz"
    f.write_bytes(b"not really a model")
    shared.pull(shared.push(f), tmp_path / "dest")
    assert (tmp_path / "dest" / "model.tar.gz").read_bytes() == b"not really a model"


def test_a_changed_file_is_refused_and_nothing_is_left(tmp_path, shared):
    digest = shared.push(_tree(tmp_path / "src"))
    stored = artifacts.uri_to_path(shared.uri) / "trees" / digest / "a.csv"
    stored.write_text("x,y\n6,6\n")
    with pytest.raises(IntegrityError, match="a.csv"):
        shared.pull(digest, tmp_path / "dest")
    assert not (tmp_path / "dest" / "a.csv").exists()
    assert not [p for p in (tmp_path / "dest").rglob("*") if p.is_file()]


def test_a_forged_manifest_is_refused(tmp_path, shared):
    digest = shared.push(_tree(tmp_path / "src"))
    manifest = artifacts.uri_to_path(shared.uri) / "trees" / f"{digest}.json"
    files = json.loads(manifest.read_text())
    files["../../escaped.txt"] = files.pop("a.csv")        # a path out of the destination
    manifest.write_text(json.dumps(files))
    with pytest.raises(IntegrityError, match="does not hash to its address"):
        shared.pull(digest, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(IntegrityError, match="not a tree address"):
        shared.pull("../" + digest[3:], tmp_path / "dest")


def test_an_unusable_store_names_its_uri(tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="a file"):
        SharedStore(str(blocker / "store")).check()
    with pytest.raises(UsageError, match="nosuchproto://bucket"):
        SharedStore("nosuchproto://bucket/prefix").check()
