"""The Data Science SDK builders compile to the ASL the ``stepfunctions`` package writes for
the same calls (expected JSON written from that SDK's source and unit tests), and refuse
what it refuses. Compile-only, but for two runs through ``Workflow.execute()``: a chain of
Pass states, and TrainingStep -> ModelStep -> TransformStep on tiny data."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from stackyard.errors import DefinitionError, UsageError
from stackyard.jobs import (
    Model,
    ProcessingInput,
    ProcessingOutput,
    SKLearn,
    SKLearnProcessor,
    Transformer,
)
from stackyard.states.sdk import (
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    ExecutionInput,
    Fail,
    Graph,
    LambdaStep,
    Map,
    ModelStep,
    Parallel,
    Pass,
    ProcessingStep,
    Retry,
    SnsPublishStep,
    StepInput,
    Succeed,
    Task,
    TrainingStep,
    TransformStep,
    Wait,
    Workflow,
)

LAMBDA = "arn:aws:lambda:us-east-1:1234567890:function:{}"


def test_state_fields_are_pascal_case_and_null_paths_are_kept() -> None:
    state = Pass("Start", comment="c", input_path="$.In", parameters={"K": "V"},
                 result_path=None, output_path="$.Out", result={"x": 1})
    assert state.to_dict() == {"Comment": "c", "InputPath": "$.In", "Parameters": {"K": "V"},
                               "ResultPath": None, "OutputPath": "$.Out",
                               "Result": {"x": 1}, "Type": "Pass", "End": True}
    # the SDK's order: the fields as given, then Type, then Next/End
    assert list(json.loads(state.to_json())) == [
        "Comment", "InputPath", "Parameters", "ResultPath", "OutputPath", "Result", "Type",
        "End"]
    assert state.result == {"x": 1} and state.comment == "c"


@pytest.mark.parametrize("cls", [Pass, Succeed, Fail, Choice, Wait, Parallel, Map, Task])
def test_unknown_field_is_a_type_error_naming_it(cls: type) -> None:
    with pytest.raises(TypeError, match="unknown_field"):
        cls("S", unknown_field=1)


def test_terminal_states_and_wait() -> None:
    assert Succeed("Ok", comment="c").to_dict() == {"Comment": "c", "Type": "Succeed"}
    assert Fail("Bad", error="ErrorA", cause="Kaiju attack").to_dict() == {
        "Error": "ErrorA", "Cause": "Kaiju attack", "Type": "Fail"}
    assert Wait("W", seconds_path="$.s").to_dict() == {
        "SecondsPath": "$.s", "Type": "Wait", "End": True}
    with pytest.raises(DefinitionError, match="exactly one"):
        Wait("W", seconds=10, seconds_path="$.s")
    with pytest.raises(DefinitionError, match="exactly one"):
        Wait("W")
    chain = Chain([Pass("P")])
    chain.append(Fail("F"))
    with pytest.raises(DefinitionError, match="no next state"):
        chain.append(Pass("After"))


def test_task_retry_catch() -> None:
    task = Task("Task", resource=LAMBDA.format("Start"))
    task.add_retry(Retry(error_equals=["ErrorA", "ErrorB"], interval_seconds=1,
                         max_attempts=2, backoff_rate=2))
    task.add_retry(Retry(error_equals=["ErrorC"], interval_seconds=5))
    task.add_catch(Catch(error_equals=["States.ALL"], next_step=Pass("End State")))
    assert task.to_dict() == {
        "Type": "Task", "Resource": LAMBDA.format("Start"),
        "Retry": [{"ErrorEquals": ["ErrorA", "ErrorB"], "IntervalSeconds": 1,
                   "MaxAttempts": 2, "BackoffRate": 2},
                  {"ErrorEquals": ["ErrorC"], "IntervalSeconds": 5}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "End State"}],
        "End": True}
    with pytest.raises(DefinitionError, match="not both"):
        Task("T", resource="x", timeout_seconds=1, timeout_seconds_path="$.t")
    with pytest.raises(DefinitionError, match="does not support retry"):
        Pass("P").add_retry(Retry(error_equals=["States.ALL"]))
    assert Task("T", resource="x", timeout_seconds_path="$.t",
                heartbeat_seconds_path="$.h").to_dict() == {
        "TimeoutSecondsPath": "$.t", "HeartbeatSecondsPath": "$.h", "Resource": "x",
        "Type": "Task", "End": True}


def test_choice_rules_and_their_type_checks() -> None:
    choice = Choice("Choice", input_path="$.Input")
    choice.add_choice(ChoiceRule.IsPresent("$.s1", True), Pass("End 1"))
    choice.add_choice(ChoiceRule.StringEquals("$.s1", "ABC"), Pass("End 1"))
    choice.add_choice(ChoiceRule.StringLessThanEqualsPath("$.s2", "$.value"), Pass("End 2"))
    choice.add_choice(ChoiceRule.And([ChoiceRule.NumericGreaterThan("$.n", 1),
                                      ChoiceRule.Not(ChoiceRule.BooleanEquals("$.b", True))]),
                      Pass("End 2"))
    choice.default_choice(Pass("End 3"))
    assert choice.to_dict() == {
        "InputPath": "$.Input", "Type": "Choice",
        "Choices": [
            {"Variable": "$.s1", "IsPresent": True, "Next": "End 1"},
            {"Variable": "$.s1", "StringEquals": "ABC", "Next": "End 1"},
            {"Variable": "$.s2", "StringLessThanEqualsPath": "$.value", "Next": "End 2"},
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1},
                     {"Not": {"Variable": "$.b", "BooleanEquals": True}}], "Next": "End 2"}],
        "Default": "End 3"}
    with pytest.raises(DefinitionError, match="starting with"):
        ChoiceRule.StringEquals("s1", "ABC")
    with pytest.raises(DefinitionError, match="Numeric value"):
        ChoiceRule.NumericEquals("$.n", "1")
    with pytest.raises(DefinitionError, match="Numeric value"):
        ChoiceRule.NumericEquals("$.n", True)  # a bool is not a number in ASL
    with pytest.raises(DefinitionError, match="starting with"):
        ChoiceRule.NumericEqualsPath("$.n", "n")
    with pytest.raises(DefinitionError, match="not a choice rule"):
        ChoiceRule.Or([{"Variable": "$.n"}])  # type: ignore[list-item]
    every = [name for name in dir(ChoiceRule) if name[0].isupper()]
    assert len(every) == 42  # the SDK's 39 operators (32 comparisons, 6 Is*, StringMatches) + 3


def test_parallel_map_and_nested_graph() -> None:
    inner = Parallel("Level1")
    inner.add_branch(Succeed("Level2"))
    outer = Parallel("First")
    outer.add_branch(inner)
    assert Graph(outer, comment="This is a test.", version="1.0",
                 timeout_seconds=3600).to_dict() == {
        "TimeoutSeconds": 3600, "Comment": "This is a test.", "Version": "1.0",
        "StartAt": "First",
        "States": {"First": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Level1", "States": {"Level1": {
                "Type": "Parallel", "End": True, "Branches": [
                    {"StartAt": "Level2", "States": {"Level2": {"Type": "Succeed"}}}]}}}]}}}
    m = Map("Map", iterator=Pass("Each"), items_path="$", max_concurrency=0)
    assert m.to_dict() == {"Type": "Map", "ItemsPath": "$", "MaxConcurrency": 0, "End": True,
                           "Iterator": {"StartAt": "Each",
                                        "States": {"Each": {"Type": "Pass", "End": True}}}}
    m2 = Map("Map2", items_path="$.items")
    m2.attach_iterator(Chain([Pass("A"), Pass("B")]))
    assert m2.to_dict()["Iterator"]["States"]["A"]["Next"] == "B"


def test_loop_graph_in_sdk_order() -> None:
    first = Task("FirstState", resource=LAMBDA.format("First"))
    retry = Chain([Pass("Retry"), Pass("Cleanup"), first])
    choice = Choice("Is Completed?")
    choice.add_choice(ChoiceRule.BooleanEquals("$.Completed", True), Succeed("Complete"))
    choice.add_choice(ChoiceRule.BooleanEquals("$.Completed", False), retry)
    first.next(choice)
    graph = Graph(first).to_dict()
    assert graph["States"]["Cleanup"] == {"Type": "Pass", "Next": "FirstState"}
    assert graph["States"]["Is Completed?"]["Choices"][1]["Next"] == "Retry"
    # depth first: a state, then where it goes (default, then each choice)
    assert list(graph["States"]) == ["FirstState", "Is Completed?", "Complete", "Retry",
                                     "Cleanup"]


def test_chains_link_splice_and_refuse_duplicates() -> None:
    s1, s2, s3 = Pass("One"), Pass("Two"), Pass("Three")
    Chain([s1, s2])
    assert s1.next_step is s2 and s2.next_step is None
    c1 = Chain([s2, s3])
    c2 = Chain([s1, s3])
    assert s1.next_step is s3
    with pytest.raises(DefinitionError, match="already in this chain"):
        c2.append(s3)
    with pytest.raises(DefinitionError, match="appears twice"):
        Chain([c1, c2])
    assert s2.next_step is s3  # the refused chain linked nothing
    choice, after = Choice("Pick"), Pass("After")
    Chain([s1, choice, after])
    assert choice.default is after and choice.next_step is None
    with pytest.raises(DefinitionError, match="empty"):
        Graph(Chain())
    with pytest.raises(DefinitionError, match="state or chain"):
        Graph("Start")  # type: ignore[arg-type]


def test_two_different_states_with_one_name_are_refused() -> None:
    with pytest.raises(DefinitionError, match="unique"):
        Graph(Chain([Pass("Same"), Pass("Other"), Pass("Same", result=1)]))
    # the same state reached twice (a loop, two catches) is one state
    end = Fail("End")
    t = Task("T", resource="x", catch=[Catch(error_equals=["A"], next_step=end),
                                       Catch(error_equals=["B"], next_step=end)])
    assert set(Graph(t).to_dict()["States"]) == {"T", "End"}


def test_placeholders_compile_to_dollar_keys() -> None:
    ei = ExecutionInput(schema={"Job": str, "Hp": {"depth": int}})
    step_input = StepInput()
    task = Task("T", resource="x", parameters={
        "Name": ei["Job"], "Nested": {"Depth": ei["Hp"]["depth"], "Item": step_input["a"][0]},
        "Literal": 1})
    assert task.to_dict()["Parameters"] == {
        "Name.$": "$$.Execution.Input['Job']",
        "Nested": {"Depth.$": "$$.Execution.Input['Hp']['depth']", "Item.$": "$['a'][0]"},
        "Literal": 1}
    with pytest.raises(DefinitionError, match="schema"):
        ei["NotInSchema"]
    assert ei.validate({"Job": "j", "Hp": {"depth": 3}})[0]
    valid, missing, wrong = ei.validate({"Hp": {"depth": "3"}})
    assert not valid and missing == ["Job"] and wrong[0][0] == "Hp/depth"
    with pytest.raises(DefinitionError, match="States.Array"):
        Task("L", resource="x", parameters={"List": [ei["Job"]]}).to_dict()


def test_a_placeholder_must_come_from_the_state_before() -> None:
    first = Task("First", resource="x")
    good = Task("Good", resource="x", parameters={"M": first.output()["Model"]})
    Graph(Chain([first, good]))
    other = Task("Other", resource="x")
    bad = Task("Bad", resource="x", parameters={"M": other.output()["Model"]})
    with pytest.raises(DefinitionError, match="illegal placeholder"):
        Graph(Chain([first, bad]))


def test_lambda_and_sns_steps() -> None:
    assert LambdaStep("Echo").to_dict() == {"Resource": "arn:aws:states:::lambda:invoke",
                                            "Type": "Task", "End": True}
    step = LambdaStep("cb", wait_for_callback=True, parameters={
        "Payload": {"model.$": "$.new_model", "token.$": "$$.Task.Token"}})
    assert step.to_dict() == {
        "Parameters": {"Payload": {"model.$": "$.new_model", "token.$": "$$.Task.Token"}},
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Type": "Task", "End": True}
    assert SnsPublishStep("N", parameters={"TopicArn": "t", "Message": "m"}).to_dict()[
        "Resource"] == "arn:aws:states:::sns:publish"


def _code(tmp_path: Path) -> Path:
    src = tmp_path / "my code ü"
    src.mkdir()
    (src / "train.py").write_text("print('hi')\n")
    return src


def test_training_step_is_a_create_training_job_request(tmp_path: Path) -> None:
    src = _code(tmp_path)
    est = SKLearn(entry_point="train.py", source_dir=str(src), role="r",
                  instance_type="ml.m5.xlarge", hyperparameters={"C": 0.5, "kind": "lr"},
                  metric_definitions=[{"Name": "acc", "Regex": "acc=([0-9.]+)"}])
    step = TrainingStep("Train", estimator=est, job_name="text-job",
                        data={"train": str(tmp_path / "data")}, tags={"Purpose": "t"},
                        retry=Retry(error_equals=["SageMaker.AmazonSageMakerException"],
                                    interval_seconds=1, max_attempts=2, backoff_rate=1.1))
    d = step.to_dict()
    assert d["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    p = d["Parameters"]
    assert p["AlgorithmSpecification"] == {
        "TrainingImage": None, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "acc", "Regex": "acc=([0-9.]+)"}]}
    # framework estimators JSON-encode hyperparameters (strings get quotes), as SageMaker
    assert p["HyperParameters"] == {
        "C": "0.5", "kind": '"lr"', "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(src.resolve().as_uri()),
        "sagemaker_container_log_level": "20", "sagemaker_job_name": '"text-job"'}
    assert "%C3%BC" in p["HyperParameters"]["sagemaker_submit_directory"]  # percent-encoded
    assert p["InputDataConfig"] == [{"DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": (tmp_path / "data").resolve().as_uri(),
        "S3DataDistributionType": "FullyReplicated"}}, "ChannelName": "train"}]
    assert p["ResourceConfig"] == {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"}
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert p["TrainingJobName"] == "text-job"
    assert p["Tags"] == [{"Key": "Purpose", "Value": "t"}]
    assert d["Retry"][0]["BackoffRate"] == 1.1 and d["End"] is True


def test_training_step_placeholders_and_parameter_overrides(tmp_path: Path) -> None:
    src = _code(tmp_path)
    ei = ExecutionInput(schema={"Job": str, "Data": str, "Out": str, "Depth": str})
    est = SKLearn(entry_point="train.py", source_dir=str(src), hyperparameters={"depth": 3})
    step = TrainingStep("Train", estimator=est, job_name=ei["Job"], data=ei["Data"],
                        output_data_config_path=ei["Out"],
                        hyperparameters={"depth": ei["Depth"], "extra": "x"},
                        parameters={"StoppingCondition": {"MaxRuntimeInSeconds": 60},
                                    "Environment": {"A": "1"}})
    p = step.to_dict()["Parameters"]
    assert p["TrainingJobName.$"] == "$$.Execution.Input['Job']"
    assert "sagemaker_job_name" not in p["HyperParameters"]
    assert p["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri.$"] == \
        "$$.Execution.Input['Data']"
    assert p["InputDataConfig"][0]["ChannelName"] == "training"
    assert p["OutputDataConfig"] == {"S3OutputPath.$": "$$.Execution.Input['Out']"}
    assert p["HyperParameters"]["depth.$"] == "$$.Execution.Input['Depth']"
    assert p["HyperParameters"]["extra"] == "x" and "depth" not in p["HyperParameters"]
    assert p["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}
    assert p["Environment"] == {"A": "1"}
    with pytest.raises(DefinitionError, match="stackyard Estimator"):
        TrainingStep("T", estimator=object(), job_name="j")  # type: ignore[arg-type]


def test_processing_step_is_a_create_processing_job_request(tmp_path: Path) -> None:
    src = _code(tmp_path)
    proc = SKLearnProcessor(framework_version="1.2-1", role="r", instance_type="ml.m5.xlarge",
                            instance_count=1)
    step = ProcessingStep(
        "Prepare", proc, "prep-job",
        inputs=[ProcessingInput(source=str(src / "train.py"),
                                destination="/opt/ml/processing/input/code",
                                input_name="code")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/train", output_name="train")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/train.py"],
        container_arguments=["--seed", "1"])
    p = step.to_dict()["Parameters"]
    assert step.to_dict()["Resource"] == "arn:aws:states:::sagemaker:createProcessingJob.sync"
    assert p["AppSpecification"] == {
        "ImageUri": None, "ContainerArguments": ["--seed", "1"],
        "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/train.py"]}
    assert p["ProcessingInputs"] == [{"InputName": "code", "AppManaged": False, "S3Input": {
        "LocalPath": "/opt/ml/processing/input/code", "S3CompressionType": "None",
        "S3DataDistributionType": "FullyReplicated", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3Uri": (src / "train.py").resolve().as_uri()}}]
    assert p["ProcessingOutputConfig"] == {"Outputs": [{
        "OutputName": "train", "AppManaged": False, "S3Output": {
            "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob",
            "S3Uri": None}}]}
    assert p["ProcessingResources"] == {"ClusterConfig": {"InstanceCount": 1,
                                                          "InstanceType": "ml.m5.xlarge"}}
    assert p["ProcessingJobName"] == "prep-job"
    with pytest.raises(DefinitionError, match="'..'"):
        ProcessingStep("Bad", proc, "j", outputs=[
            ProcessingOutput(source="/opt/ml/processing/../../etc")])


def test_workflow_needs_a_valid_name_and_checks_its_input_schema() -> None:
    with pytest.raises(DefinitionError, match="state machine"):
        Workflow("bad name!", Pass("P"))
    ei = ExecutionInput(schema={"Job": str})
    wf = Workflow("wf", Chain([Pass("P")]), role="arn:aws:iam::1:role/r",
                  execution_input=ei, timeout_seconds=60)
    assert wf.definition.to_dict() == {"TimeoutSeconds": 60, "StartAt": "P",
                                       "States": {"P": {"Type": "Pass", "End": True}}}
    with pytest.raises(UsageError, match="schema"):
        wf.execute(inputs={"Job": 3})


def test_a_thousand_state_chain_compiles() -> None:
    """No recursion: the bench's 1,000-state chain compiles (the SDK's visitor recurses)."""
    graph = Graph(Chain([Pass(f"P{i}") for i in range(3000)])).to_dict()
    assert len(graph["States"]) == 3000 and graph["States"]["P2999"]["End"] is True


def test_workflow_create_execute_attach_round_trip() -> None:
    """Through stackyard's state machines: create, execute (a driver process of its own),
    wait for the output, attach by ARN; create() again leaves the stored version alone."""
    chain = Chain([Pass("Add", result={"b": 2}, result_path="$.added"), Succeed("Done")])
    wf = Workflow("sdk-round-trip", chain)
    arn = wf.create()
    assert arn.endswith(":stateMachine:sdk-round-trip")
    execution = wf.execute(name="first", inputs={"a": 1})
    assert execution.get_output(wait=True) == {"a": 1, "added": {"b": 2}}
    assert execution.describe()["status"] == "SUCCEEDED"
    assert [e["type"] for e in execution.list_events()][-1] == "ExecutionSucceeded"
    attached = Workflow.attach(arn)
    assert attached.definition.to_dict() == wf.definition.to_dict()
    assert Workflow("sdk-round-trip", Pass("Other")).create() == arn
    assert len(wf.list_executions()) == 1
    with pytest.raises(UsageError, match="create"):
        Workflow("never-created", Pass("P")).execute()


# ---- ModelStep ------------------------------------------------------------------------------
ARTIFACTS = "$['ModelArtifacts']['S3ModelArtifacts']"


def test_model_step_after_training_is_the_sdks_create_model_request(tmp_path: Path) -> None:
    """The SDK's ``ModelStep(.., training_step.get_expected_model(...))``: the framework
    container's shape (image, environment naming the code, artifact placeholder), without
    ``ExecutionRoleArn``."""
    src = _code(tmp_path)
    est = SKLearn(entry_point="train.py", source_dir=str(src), image_uri="sklearn:1",
                  environment={"MODE": "fast"})
    train = TrainingStep("Training", estimator=est, job_name="TrainingJob")
    save = ModelStep("Training - Save Model",
                     train.get_expected_model(model_name=train.output()["TrainingJobName"]))
    Graph(Chain([train, save]))                       # the placeholder is the state before's
    d = save.to_dict()
    assert d == {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createModel",
                 "Parameters": {
                     "ModelName.$": "$['TrainingJobName']",
                     "PrimaryContainer": {
                         "Image": "sklearn:1",
                         "Environment": {
                             "MODE": "fast", "SAGEMAKER_PROGRAM": "train.py",
                             "SAGEMAKER_SUBMIT_DIRECTORY": src.resolve().as_uri(),
                             "SAGEMAKER_CONTAINER_LOG_LEVEL": "20"},
                         "ModelDataUrl.$": ARTIFACTS}},
                 "End": True}
    assert list(d["Parameters"]) == ["ModelName.$", "PrimaryContainer"]
    assert list(d["Parameters"]["PrimaryContainer"]) == ["Image", "Environment",
                                                          "ModelDataUrl.$"]
    # without model_name the model is named after the training job, as the SDK names it
    assert ModelStep("M", train.get_expected_model()).to_dict()["Parameters"][
        "ModelName"] == "TrainingJob"


def test_model_step_for_a_model_tags_placeholders_and_refusals(tmp_path: Path) -> None:
    src = _code(tmp_path)
    ei = ExecutionInput(schema={"Environment": str, "Tags": str})
    model = Model(model_data=str(tmp_path / "model é.tar.gz"), entry_point=str(src / "train.py"))
    step = ModelStep("Create model", model=model, model_name=StepInput()["ModelName"],
                     tags=ei["Tags"], instance_type="ml.m5.xlarge",
                     parameters={"PrimaryContainer": {"Environment": ei["Environment"]}})
    assert step.to_dict()["Parameters"] == {
        "ModelName.$": "$['ModelName']",
        "PrimaryContainer": {"Environment.$": "$$.Execution.Input['Environment']",
                             "ModelDataUrl": (tmp_path / "model é.tar.gz").as_uri()},
        "Tags.$": "$$.Execution.Input['Tags']"}
    # the entry point alone (no source_dir) names the file itself, as SageMaker uploads it
    env = ModelStep("M", model, model_name="m").to_dict()["Parameters"]["PrimaryContainer"][
        "Environment"]
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == (src / "train.py").resolve().as_uri()
    # a model without inference code: the SDK's plain Model (environment, image, data)
    plain = ModelStep("P", Model(model_data="s3://b/m.tar.gz", image_uri="xgboost:1",
                                 env={"A": "1"}, name="pca-model"), tags={"K": "V"})
    assert plain.to_dict()["Parameters"] == {
        "ModelName": "pca-model",
        "PrimaryContainer": {"Environment": {"A": "1"}, "Image": "xgboost:1",
                             "ModelDataUrl": "s3://b/m.tar.gz"},
        "Tags": [{"Key": "K", "Value": "V"}]}
    with pytest.raises(DefinitionError, match="stackyard Model"):
        ModelStep("M", model=object())  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="give model_name="):
        ModelStep("M", model=Model(model_data="s3://b/m.tar.gz"))
    with pytest.raises(DefinitionError, match="'bad name!'"):
        ModelStep("M", model=model, model_name="bad name!")
    with pytest.raises(TypeError, match="unknown_field"):
        ModelStep("M", model=model, model_name="m", unknown_field=1)


SERVE_AND_TRAIN = """
import json, os, pathlib
import numpy as np


def model_fn(model_dir):
    return json.loads(pathlib.Path(model_dir, "mean.json").read_text())


def predict_fn(data, model):
    return np.asarray(data, dtype=float).sum(axis=1) + model["mean"]


if __name__ == "__main__":
    rows = np.loadtxt(pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "rows.csv"), delimiter=",")
    pathlib.Path(os.environ["SM_MODEL_DIR"], "mean.json").write_text(
        json.dumps({"mean": float(rows.mean())}))
"""


@pytest.mark.timeout(180)
def test_training_model_and_transform_steps_run_through_workflow_execute(sy) -> None:
    """TrainingStep -> ModelStep (the expected model) -> TransformStep, run as the SDK's
    Workflow: the transform scores with the model the state machine created from the
    artifact the training job wrote."""
    src = sy.work / "cöde dir"
    sy.write("cöde dir/train.py", SERVE_AND_TRAIN)
    sy.write("tiny data/rows.csv", "1,3\n5,7\n")                 # mean 4
    sy.write("to score/a.csv", "1,2\n10,20\n")
    ei = ExecutionInput(schema={"Job": str, "Model": str, "Score": str})
    train = TrainingStep("Train", estimator=SKLearn(entry_point="train.py",
                                                    source_dir=str(src)),
                         job_name=ei["Job"], data={"train": str(sy.work / "tiny data")})
    save = ModelStep("Save", train.get_expected_model(), model_name=ei["Model"],
                     result_path="$.model")
    score = TransformStep("Score", Transformer(model_name=ei["Model"],
                                               output_path=str(sy.work / "scored"),
                                               assemble_with="Line"),
                          job_name=ei["Score"], model_name=ei["Model"],
                          data=str(sy.work / "to score"), content_type="text/csv",
                          split_type="Line")
    wf = Workflow("train-model-score", Chain([train, save, score]), execution_input=ei)
    wf.create()
    execution = wf.execute(inputs={"Job": "tiny-train", "Model": "tiny-model",
                                   "Score": "tiny-score"})
    out = execution.get_output(wait=True)
    assert execution.describe()["status"] == "SUCCEEDED", execution.describe()
    assert out["TransformJobStatus"] == "Completed" and out["ModelName"] == "tiny-model"
    assert (sy.work / "scored" / "a.csv.out").read_text().split() == ["7.0", "34.0"]
    events = [e["type"] for e in execution.list_events()]
    assert events.count("TaskSucceeded") == 3


@pytest.mark.timeout(120)
def test_a_model_step_with_the_entry_point_alone_serves_a_transform(sy) -> None:
    """A ``Model`` without ``source_dir``: ``SAGEMAKER_SUBMIT_DIRECTORY`` names the script
    file, and ``createModel`` stores that file alone (it used to refuse it as "not a
    folder")."""
    script = sy.write("só code/serve.py", SERVE_AND_TRAIN)
    sy.write("model/mean.json", '{"mean": 1}')
    with tarfile.open(sy.work / "model.tar.gz", "w:gz") as t:
        t.add(sy.work / "model" / "mean.json", "mean.json")
    sy.write("to score/a.csv", "1,2\n")
    ei = ExecutionInput(schema={"Model": str})
    save = ModelStep("Save", Model(model_data=str(sy.work / "model.tar.gz"),
                                   entry_point=str(script)), model_name="alone")
    score = TransformStep("Score", Transformer(model_name=ei["Model"],
                                               output_path=str(sy.work / "scored")),
                          job_name="alone-score", model_name=ei["Model"],
                          data=str(sy.work / "to score"), content_type="text/csv",
                          split_type="Line")
    wf = Workflow("alone", Chain([save, score]))
    wf.create()
    execution = wf.execute(inputs={"Model": "alone"})
    execution.get_output(wait=True)
    desc = execution.describe()
    assert desc["status"] == "SUCCEEDED", desc
    assert (sy.work / "scored" / "a.csv.out").read_text().split() == ["4.0"]
