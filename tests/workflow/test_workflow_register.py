"""The model-package request has one builder: ``Model.register()`` in a pipeline session and
the older ``RegisterModel`` step compile to the same arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackyard.errors import DefinitionError
from stackyard.jobs import Model, ModelMetrics
from stackyard.jobs._model import MetricsSource
from stackyard.workflow import ModelStep, PipelineSession, RegisterModel


@pytest.fixture
def code(tmp_path: Path) -> Path:
    d = tmp_path / "my code é"  # a space and non-ASCII in the path
    d.mkdir()
    (d / "serve.py").write_text("def model_fn(d): return d\n")
    return d


@pytest.mark.parametrize("source_dir", [True, False])
def test_register_model_and_model_register_build_the_same_request(code: Path,
                                                                  source_dir: bool) -> None:
    where = {"entry_point": "serve.py", "source_dir": code.as_uri()} if source_dir else {
        "entry_point": (code / "serve.py").as_uri()}
    metrics = ModelMetrics(model_statistics=MetricsSource("application/json", "file:///m"))
    common = {"content_types": ["text/csv"], "response_types": ["application/json"],
              "model_package_group_name": "g", "approval_status": "Approved",
              "model_metrics": metrics, "description": "d"}
    old = RegisterModel("Reg", model_data="file:///model.tar.gz", **where, **common)
    new = ModelStep("Reg", step_args=Model(model_data="file:///model.tar.gz", **where,
                                           sagemaker_session=PipelineSession()
                                           ).register(**common))
    assert old.to_definition() == new.to_definition()
    container = old.arguments()["InferenceSpecification"]["Containers"][0]
    if source_dir:  # a file:// URI is percent-decoded, the entry point stays a name in it
        assert (container["SourceDir"], container["EntryPoint"]) == (str(code), "serve.py")
    else:
        assert (container["SourceDir"], container["EntryPoint"]) == (
            None, str(code / "serve.py"))


def test_register_model_refuses_remote_code_and_a_missing_group() -> None:
    with pytest.raises(DefinitionError, match="only local code paths"):
        RegisterModel("Reg", model_data="file:///m", source_dir="s3://bucket/code",
                      model_package_group_name="g")
    with pytest.raises(DefinitionError, match="model_package_group_name"):
        RegisterModel("Reg", model_data="file:///m")
