"""The SDK compiles pipelines to a stable, SageMaker-shaped JSON definition."""

from __future__ import annotations

import json

import pytest

from stackyard.errors import DefinitionError
from stackyard.jobs import Estimator, ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import (
    CacheConfig,
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
    ConditionStep,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParallelismConfiguration,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    PipelineSession,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
    TrainingStep,
    step,
)
from stackyard.workflow._policies import parse_duration


@step
def summarise(uri, threshold):
    return {"uri": uri, "threshold": threshold}


def _full_pipeline(sy) -> Pipeline:
    code = sy.write("code/prep.py", "print('prep')\n")
    sy.write("train/train.py", "print('train')\n")
    threshold = ParameterFloat("Threshold", default_value=0.5)
    flag = ParameterBoolean("Flag", default_value=True)
    n = ParameterInteger("N", default_value=3)
    label = ParameterString("Label", default_value="a", enum_values=["a", "b"])
    proc = ScriptProcessor(command=["python3"], role="arn:aws:iam::1:role/x",
                           instance_type="ml.m5.xlarge")
    report = PropertyFile(name="report", output_name="eval", path="report.json")
    prep = ProcessingStep(
        "Prep", processor=proc, code=str(code),
        inputs=[ProcessingInput(source=str(sy.work), destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                 ProcessingOutput(output_name="eval", source="/opt/ml/processing/eval")],
        job_arguments=["--n", n.to_string(), "--run",
                       Join(on="/", values=[ExecutionVariables.PIPELINE_EXECUTION_ID, label])],
        property_files=[report],
        cache_config=CacheConfig(enable_caching=True, expire_after="P30D"),
        retry_policies=[RetryPolicy(exception_types=["JobError"], interval_seconds=1,
                                    max_attempts=2)])
    est = Estimator(entry_point="train.py", source_dir=str(sy.work / "train"),
                    hyperparameters={"epochs": n},
                    metric_definitions=[{"Name": "rmse", "Regex": "rmse=([0-9.]+)"}])
    train = TrainingStep("Train", estimator=est, inputs={
        "train": prep.properties.ProcessingOutputConfig.Outputs["train"].S3Output.S3Uri})
    fail = FailStep("TooHigh", error_message=Join(on=" ", values=[
        "rmse", train.properties.FinalMetricDataList["rmse"].Value, "over", threshold]))
    done = summarise(train.properties.ModelArtifacts.S3ModelArtifacts, threshold)
    cond = ConditionStep("Check", conditions=[
        ConditionLessThanOrEqualTo(train.properties.FinalMetricDataList["rmse"].Value,
                                   threshold),
        ConditionEquals(flag, True),
        ConditionGreaterThan(JsonGet(step=prep, property_file=report, json_path="m.v"), 0)],
        if_steps=[done], else_steps=[fail])
    return Pipeline("full", parameters=[threshold, flag, n, label], steps=[prep, train, cond],
                    parallelism_config=ParallelismConfiguration(2))


def test_definition_is_stable_sorted_json(sy):
    p = _full_pipeline(sy)
    text = p.definition()
    assert text == p.definition() == _full_pipeline(sy).definition()
    d = json.loads(text)
    assert text == json.dumps(d, sort_keys=True, indent=1)
    assert d["Version"] == "2020-12-01"
    assert d["Name"] == "full"
    assert d["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    # steps reachable from the listed ones are included (Check's branches)
    assert [s["Name"] for s in d["Steps"]] == ["Prep", "Train", "Check", "summarise", "TooHigh"]
    types = {s["Name"]: s["Type"] for s in d["Steps"]}
    assert types == {"Prep": "Processing", "Train": "Training", "Check": "Condition",
                     "summarise": "Function", "TooHigh": "Fail"}


def test_definition_round_trips_through_from_definition(sy):
    p = _full_pipeline(sy)
    text = p.definition()
    again = Pipeline.from_definition(text)
    assert again.definition() == text
    assert Pipeline.from_definition(json.loads(text)).definition() == text
    assert again.parallelism_config.max_parallel_execution_steps == 2
    assert [q.name for q in again.parameters] == ["Threshold", "Flag", "N", "Label"]


def test_parameters_compile_with_type_default_and_enum(sy):
    d = json.loads(_full_pipeline(sy).definition())
    assert d["Parameters"] == [
        {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
        {"Name": "Flag", "Type": "Boolean", "DefaultValue": True},
        {"Name": "N", "Type": "Integer", "DefaultValue": 3},
        {"Name": "Label", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]},
    ]


def test_step_fields_compile_to_sagemaker_shapes(sy):
    steps = {s["Name"]: s for s in json.loads(_full_pipeline(sy).definition())["Steps"]}
    prep = steps["Prep"]
    assert prep["CacheConfig"] == {"Enabled": True, "ExpireAfter": "P30D"}
    assert prep["RetryPolicies"] == [{"ExceptionType": ["JobError"], "IntervalSeconds": 1,
                                      "BackoffRate": 2.0, "MaxAttempts": 2}]
    assert prep["PropertyFiles"] == [{"PropertyFileName": "report", "OutputName": "eval",
                                      "FilePath": "report.json"}]
    app = prep["Arguments"]["AppSpecification"]
    assert app["ContainerEntrypoint"][-1] == "/opt/ml/processing/input/code/prep.py"
    assert app["ContainerArguments"] == [
        "--n", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.N"}]}}, "--run",
        {"Std:Join": {"On": "/", "Values": [{"Get": "Execution.PipelineExecutionId"},
                                             {"Get": "Parameters.Label"}]}}]
    assert prep["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceType"] == \
        "ml.m5.xlarge"
    outs = prep["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outs] == ["train", "eval"]
    train = steps["Train"]
    assert train["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"}
    assert train["Arguments"]["HyperParameters"] == {"epochs": {"Get": "Parameters.N"}}
    check = steps["Check"]["Arguments"]
    assert check["IfSteps"] == ["summarise"] and check["ElseSteps"] == ["TooHigh"]
    assert check["Conditions"][2]["LeftValue"] == {"Std:JsonGet": {
        "PropertyFile": {"Get": "Steps.Prep.PropertyFiles.report"}, "Path": "m.v"}}
    fn = steps["summarise"]["Arguments"]
    assert fn["Function"]["Name"] == "summarise"
    assert len(fn["Function"]["CodeHash"]) == 64
    assert fn["Args"] == [{"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"},
                          {"Get": "Parameters.Threshold"}]


def test_pipeline_variables_expressions():
    p = ParameterString("X")
    assert p.expr == {"Get": "Parameters.X"}
    assert ExecutionVariables.PIPELINE_EXECUTION_ID.expr == {"Get": "Execution.PipelineExecutionId"}
    assert ExecutionVariables.PIPELINE_NAME.expr == {"Get": "Execution.PipelineName"}
    assert Join(on=",", values=["a", p, 1]).expr == {
        "Std:Join": {"On": ",", "Values": ["a", {"Get": "Parameters.X"}, 1]}}


def test_pipeline_variables_have_no_string_value():
    p = ParameterInteger("N", default_value=1)
    with pytest.raises(TypeError, match="Join"):
        str(p)
    with pytest.raises(TypeError):
        f"--n={p}"  # the f-string itself is the mistake under test
    with pytest.raises(TypeError):
        str(ExecutionVariables.PIPELINE_EXECUTION_ID)


def test_properties_path_tokens(sy):
    code = sy.write("c.py", "")
    s = ProcessingStep("a.b", processor=ScriptProcessor(), code=str(code))
    prop = s.properties.ProcessingOutputConfig.Outputs["x"].S3Output.S3Uri
    assert prop.expr == {"Get": "Steps.a.b.ProcessingOutputConfig.Outputs['x'].S3Output.S3Uri"}
    assert s.properties.Foo[0].Bar.expr == {"Get": "Steps.a.b.Foo[0].Bar"}


@pytest.mark.parametrize("cond, expected", [
    (ConditionEquals(1, 2), {"Type": "Equals", "LeftValue": 1, "RightValue": 2}),
    (ConditionGreaterThan(1, 2), {"Type": "GreaterThan", "LeftValue": 1, "RightValue": 2}),
    (ConditionGreaterThanOrEqualTo(1, 2),
     {"Type": "GreaterThanOrEqualTo", "LeftValue": 1, "RightValue": 2}),
    (ConditionLessThan(1, 2), {"Type": "LessThan", "LeftValue": 1, "RightValue": 2}),
    (ConditionLessThanOrEqualTo(1, 2),
     {"Type": "LessThanOrEqualTo", "LeftValue": 1, "RightValue": 2}),
    (ConditionIn(ParameterString("S"), ["a", "b"]),
     {"Type": "In", "QueryValue": {"Get": "Parameters.S"}, "Values": ["a", "b"]}),
    (ConditionNot(ConditionEquals(1, 1)),
     {"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}}),
    (ConditionOr([ConditionEquals(1, 1), ConditionLessThan(2, 1)]),
     {"Type": "Or", "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1},
                                   {"Type": "LessThan", "LeftValue": 2, "RightValue": 1}]}),
])
def test_conditions_compile(cond, expected):
    assert cond.to_definition() == expected


def test_dag_is_inferred_from_references_and_linked_steps_are_included(sy):
    code = sy.write("c.py", "")
    proc = ScriptProcessor()
    a = ProcessingStep("A", processor=proc, code=str(code),
                       outputs=[ProcessingOutput(output_name="o", source="/opt/ml/processing/o")])
    b = ProcessingStep("B", processor=proc, code=str(code), inputs=[ProcessingInput(
        source=a.properties.ProcessingOutputConfig.Outputs["o"].S3Output.S3Uri,
        destination="/opt/ml/processing/in")])
    c = ProcessingStep("C", processor=proc, code=str(code), depends_on=[b])
    d = json.loads(Pipeline("dag", steps=[c]).definition())
    assert [s["Name"] for s in d["Steps"]] == ["C", "B", "A"]
    assert d["Steps"][0]["DependsOn"] == ["B"]


def test_step_function_called_twice_gets_numbered_names():
    @step
    def inc(x):
        return x + 1

    first = inc(1)
    second = inc(first)
    named = step(name="explicit")(lambda v: v)(second)
    p = Pipeline("numbers", steps=[named])
    names = [s["Name"] for s in json.loads(p.definition())["Steps"]]
    assert sorted(names) == ["explicit", "inc", "inc-2"]
    assert p.definition() == p.definition()  # renaming is stable across compilations


def test_step_rejects_non_json_constant_arguments():
    @step
    def f(x):
        return x

    with pytest.raises(DefinitionError, match="set"):
        f({1, 2})
    with pytest.raises(DefinitionError, match="keys must be strings"):
        f({1: "a"})


def test_step_decorator_rejects_unknown_options():
    with pytest.raises(TypeError, match="retries"):
        step(retries=3)


def test_retry_policy_definition_and_validation():
    p = RetryPolicy(exception_types=[ValueError, "JobError"], interval_seconds=0.5,
                    backoff_rate=3, max_attempts=4, expire_after_mins=2)
    assert p.to_definition() == {"ExceptionType": ["ValueError", "JobError"],
                                 "IntervalSeconds": 0.5, "BackoffRate": 3, "MaxAttempts": 4,
                                 "ExpireAfterMin": 2}
    assert "MaxAttempts" not in RetryPolicy(max_attempts=None).to_definition()
    with pytest.raises(DefinitionError):
        RetryPolicy(backoff_rate=0.5)
    with pytest.raises(DefinitionError):
        RetryPolicy(interval_seconds=-1)
    with pytest.raises(DefinitionError):
        RetryPolicy(max_attempts=-1)
    with pytest.raises(DefinitionError):
        RetryPolicy(exception_types=[])


@pytest.mark.parametrize("text, seconds", [
    ("P30D", 30 * 86400), ("PT1H30M", 5400), ("P1W", 7 * 86400), ("PT0.5S", 0.5),
    ("P1Y", 365 * 86400), ("P1M", 30 * 86400), ("P1DT1S", 86401)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["30 days", "P", "PT", "P1DT", "", "1D"])
def test_cache_config_rejects_bad_durations(bad):
    with pytest.raises(DefinitionError):
        CacheConfig(enable_caching=True, expire_after=bad)


def test_parallelism_configuration_rejects_zero():
    with pytest.raises(DefinitionError):
        ParallelismConfiguration(0)
    assert ParallelismConfiguration().max_parallel_execution_steps >= 1


def test_aws_only_arguments_are_accepted_and_typos_rejected(sy):
    ScriptProcessor(command=["python3"], role="r", instance_type="ml.m5.large",
                    volume_size_in_gb=30, sagemaker_session=None, tags=[])
    Estimator(entry_point="x.py", role="r", framework_version="1.2", py_version="py3",
              instance_type="ml.m5.large")
    with pytest.raises(TypeError, match="rol"):
        ScriptProcessor(command=["python3"], rol="r")
    with pytest.raises(TypeError, match="hyperparameter"):
        Estimator(entry_point="x.py", hyperparameter={})


def test_processing_paths_must_be_under_opt_ml_processing(sy):
    code = sy.write("c.py", "")
    with pytest.raises(DefinitionError, match="/opt/ml/processing/"):
        ProcessingStep("x", processor=ScriptProcessor(), code=str(code),
                       outputs=[ProcessingOutput(source="/tmp/out")])
    with pytest.raises(DefinitionError, match="/opt/ml/processing/"):
        ProcessingStep("x", processor=ScriptProcessor(), code=str(code),
                       inputs=[ProcessingInput(source=str(sy.work), destination="/data")])
    with pytest.raises(DefinitionError, match="only local code"):
        ProcessingStep("x", processor=ScriptProcessor(), code="s3://bucket/c.py")


def test_step_args_from_a_pipeline_session(sy):
    code = sy.write("c.py", "")
    session = PipelineSession()
    proc = ScriptProcessor(command=["python3"], sagemaker_session=session)
    args = proc.run(code=str(code), outputs=[ProcessingOutput(output_name="o",
                                                              source="/opt/ml/processing/o")])
    via_args = ProcessingStep("P", step_args=args)
    direct = ProcessingStep("P", processor=ScriptProcessor(command=["python3"]), code=str(code),
                            outputs=[ProcessingOutput(output_name="o",
                                                      source="/opt/ml/processing/o")])
    assert via_args.to_definition() == direct.to_definition()
    sy.write("t/train.py", "")
    fit_args = Estimator(entry_point="train.py", source_dir=str(sy.work / "t"),
                         sagemaker_session=session).fit()
    assert TrainingStep("T", step_args=fit_args).to_definition()["Type"] == "Training"
    with pytest.raises(DefinitionError, match="processor.run"):
        ProcessingStep("P", step_args=fit_args)
    with pytest.raises(DefinitionError):
        ProcessingStep("P", processor=proc)  # no code


def test_condition_step_needs_a_condition():
    with pytest.raises(DefinitionError):
        ConditionStep("c", conditions=[])


def test_step_name_must_be_a_non_empty_string(sy):
    code = sy.write("c.py", "")
    with pytest.raises(DefinitionError):
        ProcessingStep("", processor=ScriptProcessor(), code=str(code))
    with pytest.raises(DefinitionError):
        Pipeline("", steps=[])
    with pytest.raises(DefinitionError, match="not a step"):
        Pipeline("p", steps=["just a string"])


def test_upsert_records_a_new_version_only_when_the_definition_changes(sy):
    code = sy.write("c.py", "")
    proc = ScriptProcessor()
    p1 = Pipeline("versions", steps=[ProcessingStep("A", processor=proc, code=str(code))])
    assert p1.upsert()["PipelineVersion"] == 1
    assert p1.upsert()["PipelineVersion"] == 1
    p2 = Pipeline("versions", steps=[ProcessingStep("A", processor=proc, code=str(code),
                                                    job_arguments=["--x"])])
    assert p2.upsert()["PipelineVersion"] == 2
    desc = p2.describe()
    assert desc["latest_version"] == 2
    assert [v["version"] for v in desc["versions"]] == [1, 2]
    assert desc["versions"][1]["definition"] == json.loads(p2.definition())
    assert sy.db_counts()["runs"] == 0
