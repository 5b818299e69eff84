"""Fixtures for the serving tests (helpers live in ``serving_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import write_model


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "home"))
    yield tmp_path
    from stackyard import serving

    for ep in serving.list_endpoints():  # never leave servers behind
        serving.delete_endpoint(ep["name"])


@pytest.fixture
def register(home: Path):
    from stackyard.jobs import Model
    from stackyard.registry import ModelRegistry

    def make(group: str, coef: list[float], bias: float, approve: bool = True, **extra) -> str:
        n = len(list(home.glob(f"m-{group}-*")))
        tar, code = write_model(home / f"m-{group}-{n}", coef, bias, **extra)
        pkg = Model(model_data=str(tar), entry_point="inference.py",
                    source_dir=str(code)).register(model_package_group_name=group,
                                                   content_types=["text/csv",
                                                                  "application/json"],
                                                   response_types=["text/csv",
                                                                   "application/json"])
        if approve:
            ModelRegistry().update_approval(pkg.ref, "Approved")
        return pkg.ref

    return make
