"""Fixtures for the batch transform tests (helpers live in ``transform_helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from transform_helpers import BIAS, COEF, write_model


@pytest.fixture
def tx_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the test model logs its prediction calls (workers inherit the variable)."""
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("TX_LOG", str(log))
    return log


@pytest.fixture
def model_name(tmp_path: Path, tx_log: Path) -> str:
    """A model made with ``Model.create()``: 1*x0 + 2*x1 + 3*x2 + 0.5."""
    from stackyard.jobs import Model

    tar, code = write_model(tmp_path / "model", COEF, BIAS)
    return Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code),
                 name="linear").create()


@pytest.fixture
def register(tmp_path: Path, tx_log: Path) -> Callable[[str], str]:
    """Register the test model in group ``g`` and leave it at ``status``; returns the ref."""
    from stackyard.jobs import Model
    from stackyard.registry import ModelRegistry

    def make(status: str) -> str:
        tar, code = write_model(tmp_path / "model", COEF, BIAS)
        pkg = Model(model_data=str(tar), entry_point="inference.py",
                    source_dir=str(code)).register(
            model_package_group_name="g", content_types=["text/csv", "application/jsonlines"],
            response_types=["text/csv", "application/jsonlines"])
        if status != "PendingManualApproval":
            ModelRegistry().update_approval(pkg.ref, status)
        return pkg.ref

    return make
