"""The one importer of user code: every load in its own namespace, checked file by file."""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

import pytest

from stackyard._imports import load_module
from stackyard.errors import IntegrityError, UsageError


def _code(root: Path, tag: str) -> Path:
    (root / "helpers").mkdir(parents=True)
    (root / "helpers" / "__init__.py").write_text("")
    (root / "helpers" / "deep.py").write_text(f"WHO = 'deep-{tag}'\n")
    (root / "utils.py").write_text(f"TAG = '{tag}'\nSTATE = []\n")
    (root / "entry.py").write_text(
        "import utils\n"
        "from utils import TAG\n"
        "import helpers.deep\n"
        "from . import utils as relative\n"
        "def answer():\n"
        "    import utils as lazy\n"          # an import at call time, as predict_fn may do
        "    utils.STATE.append(1)\n"
        "    return TAG, lazy.TAG, helpers.deep.WHO, relative.TAG, len(utils.STATE)\n")
    return root


def _manifest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def test_two_versions_with_their_own_utils_never_share_a_module(tmp_path: Path) -> None:
    path_before, plain_before = list(sys.path), set(sys.modules)
    one = load_module(_code(tmp_path / "v1", "one"), "entry.py")
    two = load_module(_code(tmp_path / "v2", "two"), "entry.py")
    again = load_module(tmp_path / "v1", "entry.py")    # same code, second load: own state
    assert one.answer() == ("one", "one", "deep-one", "one", 1)
    assert two.answer() == ("two", "two", "deep-two", "two", 1)
    assert again.answer() == ("one", "one", "deep-one", "one", 1)
    assert one.answer()[-1] == 2
    assert sys.path == path_before
    new = set(sys.modules) - plain_before
    assert {"utils", "helpers", "entry"} & new == set()
    assert all(m.startswith("stackyard_code_") for m in new)


def test_loads_from_threads_at_once_stay_apart(tmp_path: Path) -> None:
    roots = [_code(tmp_path / f"v{i}", f"t{i}") for i in range(6)]
    results: dict[int, tuple] = {}

    def load(i: int) -> None:
        results[i] = load_module(roots[i], "entry.py").answer()

    threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r[:4] for i, r in results.items()} == {
        i: (f"t{i}", f"t{i}", f"deep-t{i}", f"t{i}") for i in range(6)}


def test_a_file_changed_after_it_was_hashed_is_refused_even_when_imported_late(
        tmp_path: Path) -> None:
    root = _code(tmp_path / "c", "ok")
    (root / "late.py").write_text("VALUE = 'stored'\n")
    (root / "entry.py").write_text(
        (root / "entry.py").read_text() + "def late():\n    import late\n    return late.VALUE\n")
    files = _manifest(root)
    module = load_module(root, "entry.py", files)
    with (root / "late.py").open("a") as f:
        f.write("import os; os.system('echo pwned')\n")
    with pytest.raises(IntegrityError, match="late.py was modified"):
        module.late()
    (root / "entry.py").write_text((root / "entry.py").read_text() + "\nprint('tampered')\n")
    with pytest.raises(IntegrityError, match="entry.py was modified"):
        load_module(root, "entry.py", files)
    (root / "extra.py").write_text("X = 1\n")             # not in the manifest: not importable
    (root / "entry2.py").write_text("import extra\n")
    files["entry2.py"] = hashlib.sha256(b"import extra\n").hexdigest()
    with pytest.raises(ModuleNotFoundError):
        load_module(root, "entry2.py", files)
    assert not list(root.rglob("__pycache__"))              # no .pyc read or written


def test_entry_points_must_stay_inside_their_folder(tmp_path: Path) -> None:
    _code(tmp_path / "c", "x")
    for bad in ("../c/entry.py", "/etc/passwd.py", "entry.txt", "a.b.py"):
        with pytest.raises(UsageError):
            load_module(tmp_path / "c", bad)
    with pytest.raises(UsageError, match="not in"):
        load_module(tmp_path / "c", "missing.py")
