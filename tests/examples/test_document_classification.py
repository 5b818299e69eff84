"""The seed-003 example (``examples/document_classification``): its pages, its safe
``model.tar.gz`` reader, its state machine (valid as CreateStateMachine checks it), and the
whole demo, three executions, under a home whose name has a space and non-ASCII."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "document_classification"


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pages = _module(EXAMPLE / "code" / "pages.py", "document_classification_pages")
workflow = _module(EXAMPLE / "workflow.py", "document_classification_workflow")


def test_pages_are_deterministic_and_labelled() -> None:
    a, b = pages.make_pages(40, seed=3), pages.make_pages(40, seed=3)
    assert a.equals(b)
    assert list(a.columns[:4]) == pages.META and a.doc_id.nunique() == 40
    assert set(a.doc_type) <= set(range(len(pages.DOC_TYPES)))
    per_doc = a.groupby("doc_id")
    assert (per_doc.doc_type.nunique() == 1).all()  # one type per document
    assert (per_doc.page_no.max() == per_doc.n_pages.first()).all()
    assert a[pages.PIXELS].to_numpy().min() >= 0 and a[pages.PIXELS].to_numpy().max() <= 16


def _archive(path: Path, name: str, data: bytes = b"x") -> None:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_model_archives_are_checked_before_extraction(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    good = tmp_path / "good"
    good.mkdir()
    _archive(good / "model.tar.gz", "sub/oof.csv", b"a,b\n")
    assert (Path(pages.model_folder(str(good))) / "sub" / "oof.csv").read_bytes() == b"a,b\n"
    for bad in ("../escape.csv", "/abs.csv"):
        folder = tmp_path / f"bad{len(bad)}"
        folder.mkdir()
        _archive(folder / "model.tar.gz", bad)
        with pytest.raises(ValueError, match="refusing"):
            pages.model_folder(str(folder))
    assert not (tmp_path / "escape.csv").exists()


def test_the_state_machine_is_valid_and_shaped_like_the_seed() -> None:
    from stackyard.states._tasks import supported_resource
    from stackyard.states._validate import validate

    asl = workflow.build().definition.to_dict()
    validate(asl, supported_resource=supported_resource)
    states = asl["States"]
    assert states["Train base models"]["Type"] == "Parallel"
    branches = states["Train base models"]["Branches"]
    text, image = branches[0]["States"], branches[1]["States"]
    assert text["Train text model"]["Resource"] == \
        "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert text["Train text model"]["Retry"][0]["ErrorEquals"][0] == \
        "SageMaker.AmazonSageMakerException"
    assert image["Skip image model?"]["Choices"][0] == {
        "Variable": "$.train_image_model", "BooleanEquals": False, "Next": "Reuse image model"}
    assert image["Reuse image model"]["Type"] == "Pass"
    for name in ("Prepare pages", "Train base models", "Train sequence model",
                 "Register model"):
        assert states[name]["Catch"] == [{"ErrorEquals": ["States.ALL"],
                                          "ResultPath": "$.error", "Next": "Notify failure"}]
    assert states["Notify failure"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["Notify failure"]["Next"] == "Training failed"
    assert states["Training failed"]["Type"] == "Fail"


@pytest.mark.slow
def test_demo_runs_three_ways(tmp_path: Path) -> None:
    home = tmp_path / "home with spåce"
    env = {**os.environ, "STACKYARD_HOME": str(home)}
    proc = subprocess.run([sys.executable, str(EXAMPLE / "run_demo.py"), "--docs", "120"],
                          env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "sequence model (stacked)" in out and "registered document-classifier/1" in out
    assert "Reuse image model" in out
    assert "FAILED" in out and "ModelTrainingFailed" in out
    assert "all three executions behaved as described" in out
