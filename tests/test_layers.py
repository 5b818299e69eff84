"""The layers hold: import-linter's contracts ([tool.importlinter] in pyproject.toml) pass on
the code, and they would catch a lower layer importing a higher one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"),
                           "--no-cache"], cwd=src, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def src_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "stackyard", dest / "stackyard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_the_contracts_hold(src_copy: Path) -> None:
    out = _lint(src_copy)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("store/_base.py", "import stackyard.engine", "Layers"),           # a lower layer up
    ("workflow/_steps.py", "import stackyard.jobs", "Layers"),        # the old cycle
    ("registry/_lineage.py", "import stackyard.tuning._ranges", "Layers"),
    ("workflow/_pipeline.py", "import stackyard.store", "public APIs"),
    ("serving/_app.py", "import sqlite3", "speaks SQL"),
    ("ensemble/_base.py", "import stackyard.errors", "ensemble"),
])
def test_a_forbidden_import_breaks_a_contract(src_copy: Path, module: str, line: str,
                                              broken: str) -> None:
    path = src_copy / "stackyard" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    out = _lint(src_copy)
    assert out.returncode == 1, out.stdout + out.stderr
    assert any(broken in row and "BROKEN" in row for row in out.stdout.splitlines()), out.stdout


def test_the_workflow_imports_no_job_class() -> None:
    """``stackyard.workflow`` is the vocabulary the job classes build on, not their user."""
    code = "import sys, stackyard.workflow; print(sorted(m for m in sys.modules " \
           "if m.startswith(('stackyard.jobs', 'stackyard.tuning'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
