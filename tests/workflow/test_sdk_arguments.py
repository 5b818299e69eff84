"""SDK arguments that change behaviour do what SageMaker's do: pipeline variables where
SageMaker takes them, and ``@step(environment_variables=..., dependencies=...)``."""

from __future__ import annotations

import os

import pytest

from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs import Estimator, ProcessingOutput, SKLearnProcessor
from stackyard.workflow import (
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    PipelineSession,
    ProcessingStep,
    TrainingStep,
    step,
)

PROCESS = """
import os, sys
open("/opt/ml/processing/out/argv.txt", "w").write(" ".join(sys.argv[1:]))
if os.environ.get("NAP"):
    import time; time.sleep(float(os.environ["NAP"]))
"""
TRAIN = """
import argparse, os
p = argparse.ArgumentParser(); p.add_argument("--lr", type=float); a = p.parse_args()
open(os.path.join(os.environ["SM_MODEL_DIR"], "lr.txt"), "w").write(repr(a.lr))
"""


def test_pipeline_variables_where_sagemaker_takes_them(sy) -> None:
    """Regression: ``SKLearnProcessor(instance_count=ParameterInteger(...))`` raised."""
    count = ParameterInteger("Count", default_value=1)
    kind = ParameterString("Kind", default_value="ml.m5.large")
    limit = ParameterInteger("Limit", default_value=60)
    lr = ParameterFloat("Lr", default_value=0.1)
    session = PipelineSession()
    proc = SKLearnProcessor(framework_version="1.2-1", instance_count=count,
                            instance_type=kind, max_runtime_in_seconds=limit,
                            env={"NAP": "0"}, sagemaker_session=session)
    prep = ProcessingStep("Prep", step_args=proc.run(
        code=str(sy.write("prep.py", PROCESS)), arguments=["--kind", kind],
        outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")]))
    sy.write("code/train.py", TRAIN)
    est = Estimator(entry_point="train.py", source_dir=str(sy.work / "code"),
                    instance_count=count, instance_type=kind, max_run=limit,
                    hyperparameters={"lr": lr}, sagemaker_session=session)
    train = TrainingStep("Train", step_args=est.fit())
    pipe = Pipeline(name="vars", parameters=[count, kind, limit, lr], steps=[prep, train])
    d = pipe.definition_dict()["Steps"]
    assert d[0]["Arguments"]["ProcessingResources"]["ClusterConfig"] == {
        "InstanceCount": {"Get": "Parameters.Count"}, "InstanceType": {"Get": "Parameters.Kind"}}
    assert d[1]["Arguments"]["StoppingCondition"] == {
        "MaxRuntimeInSeconds": {"Get": "Parameters.Limit"}}
    ex = pipe.start(parameters={"Lr": 0.25, "Kind": "ml.c5.xlarge"})
    assert ex.wait(timeout=120) == "Succeeded", ex.list_steps()
    from stackyard import artifacts

    steps = {s["StepName"]: s["Metadata"] for s in ex.list_steps()}
    out = artifacts.uri_to_path(steps["Prep"]["ProcessingOutputConfig"]["Outputs"]["out"][
        "S3Output"]["S3Uri"])
    assert (out / "argv.txt").read_text() == "--kind ml.c5.xlarge"
    # the resolved time limit is enforced: a 1 s limit ends a 30 s nap
    napper = SKLearnProcessor(max_runtime_in_seconds=limit, env={"NAP": "30"},
                              sagemaker_session=session)
    slow = Pipeline(name="vars-slow", parameters=[limit], steps=[ProcessingStep(
        "Nap", step_args=napper.run(code=str(sy.work / "prep.py"), outputs=[
            ProcessingOutput(output_name="out", source="/opt/ml/processing/out")]))])
    ex = slow.start(parameters={"Limit": 1})
    assert ex.wait(timeout=60) == "Failed"
    reason = ex.describe()["steps"][0]["failure_reason"]
    assert "max_runtime_in_seconds" in reason


def test_counts_are_still_checked_when_they_are_constants() -> None:
    with pytest.raises(UsageError, match="instance_count"):
        SKLearnProcessor(instance_count=0)
    with pytest.raises(UsageError, match="max_run"):
        Estimator(entry_point="x.py", max_run="soon")


def test_step_environment_variables_are_set_while_the_function_runs(sy) -> None:
    """Regression: ``@step(environment_variables=...)`` was dropped without a word."""
    greeting = ParameterString("Greeting", default_value="hello")

    @step(name="Env", environment_variables={"SY_GREETING": greeting, "SY_FIXED": 7})
    def read_env() -> list:
        return [os.environ.get("SY_GREETING"), os.environ.get("SY_FIXED")]

    pipe = Pipeline(name="env", parameters=[greeting], steps=[read_env()])
    ex = pipe.start(parameters={"Greeting": "grüß dich"})
    assert ex.wait(timeout=60) == "Succeeded"
    assert ex.result("Env") == ["grüß dich", "7"]
    assert "SY_GREETING" not in os.environ and "SY_FIXED" not in os.environ
    with pytest.raises(DefinitionError, match="environment"):
        step(environment_variables={"A": [1, 2]})


def test_step_dependencies_must_already_be_satisfied(sy) -> None:
    ok = sy.write("ok.txt", "numpy  # already here\npytest>=1\n\n")
    step(dependencies=str(ok))  # accepted: the function can import them
    bad = sy.write("bad.txt", "numpy<1\nno-such-package-stackyard-xyz==1.0\n")
    with pytest.raises(DefinitionError) as e:
        step(dependencies=str(bad))
    assert "numpy<1 (installed:" in str(e.value)
    assert "no-such-package-stackyard-xyz==1.0 (not installed)" in str(e.value)
    assert "TrainingStep" in str(e.value)
    with pytest.raises(DefinitionError, match="cannot read"):
        step(dependencies=str(sy.work / "missing.txt"))


# SageMaker Python SDK v2.257's positional parameters (argument names and order), for the
# names issue 9 adds; keyword-only parameters are listed after "*".
SDK_V2 = {
    "stackyard.workflow:QualityCheckStep": (
        "name quality_check_config check_job_config skip_check fail_on_violation "
        "register_new_baseline model_package_group_name supplied_baseline_statistics "
        "supplied_baseline_constraints display_name description cache_config depends_on"),
    "stackyard.workflow:MonitorBatchTransformStep": (
        "name transform_step_args monitor_configuration check_job_configuration "
        "monitor_before_transform fail_on_violation supplied_baseline_statistics "
        "supplied_baseline_constraints display_name description"),
    "stackyard.workflow:DataQualityCheckConfig": (
        "baseline_dataset dataset_format record_preprocessor_script * output_s3_uri "
        "post_analytics_processor_script"),
    "stackyard.workflow:ModelQualityCheckConfig": (
        "baseline_dataset dataset_format problem_type inference_attribute "
        "probability_attribute ground_truth_attribute probability_threshold_attribute * "
        "output_s3_uri post_analytics_processor_script"),
    "stackyard.workflow:CheckJobConfig": (
        "role instance_count instance_type volume_size_in_gb volume_kms_key output_kms_key "
        "max_runtime_in_seconds base_job_name sagemaker_session env tags network_config"),
    "stackyard.workflow:LambdaStep": (
        "name lambda_func display_name description inputs outputs cache_config depends_on"),
    "stackyard.workflow:LambdaOutput": "output_name output_type",
    "stackyard.jobs:Transformer.transform": (
        "data data_type content_type compression_type split_type job_name input_filter "
        "output_filter join_source experiment_config model_client_config "
        "batch_data_capture_config wait logs"),
    "stackyard.jobs:TransformInput": (
        "data data_type content_type compression_type split_type input_filter output_filter "
        "join_source model_client_config batch_data_capture_config"),
}


@pytest.mark.parametrize("where", sorted(SDK_V2))
def test_issue_9_names_take_the_sdks_arguments_in_its_order(where: str) -> None:
    """Regression: ``DataQualityCheckConfig``'s third positional argument was
    ``output_s3_uri`` (the SDK's is ``record_preprocessor_script``; ``output_s3_uri`` is
    keyword-only there) and ``Transformer.transform`` had ``experiment_config`` last."""
    import importlib
    import inspect

    module, _, attr = where.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    got, star = [], False
    for p in inspect.signature(obj).parameters.values():
        if p.name == "self" or p.kind is p.VAR_KEYWORD:
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            got.append("*")
            star = True
        got.append(p.name)
    sdk = SDK_V2[where].split()
    assert got[:len(sdk)] == sdk  # stackyard may add its own keywords at the end


def test_transformer_wait_after_transform() -> None:
    """SageMaker code calls ``transformer.wait()`` after ``transform(wait=False)``."""
    from stackyard.jobs import Transformer

    with pytest.raises(UsageError, match="call transform"):
        Transformer(ParameterString("Model"), instance_count=1).wait()
