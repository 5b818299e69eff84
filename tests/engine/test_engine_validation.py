"""Bad input is refused before any job runs, and nothing at all is written to the store."""

from __future__ import annotations

import json

import pytest

from stackyard import engine
from stackyard.errors import DefinitionError, ParameterError, UsageError
from stackyard.jobs import Estimator, ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.workflow import (
    ConditionEquals,
    ConditionStep,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParameterBoolean,
    ParameterInteger,
    ParameterString,
    Pipeline,
    ProcessingStep,
    PropertyFile,
    TrainingStep,
    step,
)

SENTINEL_SCRIPT = """
import pathlib
pathlib.Path(SENTINEL).write_text("a job ran")
"""


def _proc(sy, name, **kw):
    code = sy.write(f"code/{name}.py", SENTINEL_SCRIPT, SENTINEL=str(sy.tmp / "ran"))
    return ProcessingStep(name, processor=ScriptProcessor(command=["python3"]), code=str(code),
                          **kw)


def cycle(sy):
    a = _proc(sy, "a", depends_on=["b"])
    b = _proc(sy, "b", depends_on=["a"])
    return Pipeline("bad", steps=[a, b]), {}, DefinitionError, "cycle"


def duplicate(sy):
    return Pipeline("bad", steps=[_proc(sy, "dup"), _proc(sy, "dup")]), {}, DefinitionError, \
        "duplicate step name 'dup'"


def unknown_step(sy):
    return Pipeline("bad", steps=[_proc(sy, "a", depends_on=["nope"])]), {}, DefinitionError, \
        "nope"


def unknown_output(sy):
    a = _proc(sy, "a", outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/out")])
    b = _proc(sy, "b", inputs=[ProcessingInput(
        source=a.properties.ProcessingOutputConfig.Outputs["nope"].S3Output.S3Uri,
        destination="/opt/ml/processing/in")])
    return Pipeline("bad", steps=[a, b]), {}, DefinitionError, "no output 'nope'"


def unknown_property_file(sy):
    pf = PropertyFile("report", "out", "r.json")
    a = _proc(sy, "a", outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/out")],
              property_files=[pf])
    c = ConditionStep("c", conditions=[ConditionEquals(
        JsonGet(step=a, property_file="nope", json_path="x"), 1)], if_steps=[_proc(sy, "b")])
    return Pipeline("bad", steps=[a, c]), {}, DefinitionError, "no property file 'nope'"


def unknown_metric(sy):
    sy.write("t/train.py", SENTINEL_SCRIPT, SENTINEL=str(sy.tmp / "ran"))
    t = TrainingStep("t", estimator=Estimator(
        entry_point="train.py", source_dir=str(sy.work / "t"),
        metric_definitions=[{"Name": "rmse", "Regex": "rmse=(.*)"}]))
    f = FailStep("f", error_message=Join(values=[t.properties.FinalMetricDataList["mae"].Value]))
    return Pipeline("bad", steps=[t, f]), {}, DefinitionError, "no metric 'mae'"


def unknown_property(sy):
    a = _proc(sy, "a")
    f = FailStep("f", error_message=Join(values=[a.properties.NoSuchThing]))
    return Pipeline("bad", steps=[a, f]), {}, DefinitionError, "NoSuchThing"


def unlisted_parameter(sy):
    ghost = ParameterString("Ghost", default_value="x")
    a = _proc(sy, "a", job_arguments=["--g", ghost])
    return Pipeline("bad", steps=[a]), {}, DefinitionError, "Parameters.Ghost"


def missing_script(sy):
    a = ProcessingStep("a", processor=ScriptProcessor(command=["python3"]),
                       code=str(sy.work / "missing.py"))
    return Pipeline("bad", steps=[a]), {}, DefinitionError, "missing.py"


def missing_entry_point(sy):
    (sy.work / "t").mkdir()
    t = TrainingStep("t", estimator=Estimator(entry_point="train.py",
                                              source_dir=str(sy.work / "t")))
    return Pipeline("bad", steps=[t]), {}, DefinitionError, "train.py"


def wrong_parameter_type(sy):
    n = ParameterInteger("N", default_value=1)
    a = _proc(sy, "a", job_arguments=[n.to_string()])
    return Pipeline("bad", parameters=[n], steps=[a]), {"N": "many"}, ParameterError, "'N'"


def wrong_boolean(sy):
    b = ParameterBoolean("B", default_value=True)
    a = _proc(sy, "a", job_arguments=[b.to_string()])
    return Pipeline("bad", parameters=[b], steps=[a]), {"B": "yes"}, ParameterError, "'B'"


def unknown_parameter(sy):
    n = ParameterInteger("N", default_value=1)
    a = _proc(sy, "a", job_arguments=[n.to_string()])
    return Pipeline("bad", parameters=[n], steps=[a]), {"M": 2}, ParameterError, "M"


def missing_parameter(sy):
    s = ParameterString("Needed")
    a = _proc(sy, "a", job_arguments=[s])
    return Pipeline("bad", parameters=[s], steps=[a]), {}, ParameterError, "Needed"


def unknown_failure_handler(sy):
    return Pipeline("bad", steps=[_proc(sy, "a", on_failure="nope")]), {}, DefinitionError, \
        "nope"


def handler_inside_a_branch(sy):
    h = _proc(sy, "handler")
    a = _proc(sy, "a", on_failure=h)
    c = ConditionStep("c", conditions=[ConditionEquals(1, 1)], if_steps=[h])
    return Pipeline("bad", steps=[a, c]), {}, DefinitionError, "failure handler"


def condition_lists_unknown_step(sy):
    c = ConditionStep("c", conditions=[ConditionEquals(1, 1)], if_steps=["ghost"])
    return Pipeline("bad", steps=[c, _proc(sy, "a")]), {}, DefinitionError, "ghost"


def bad_step_name(sy):
    return Pipeline("bad", steps=[_proc(sy, "has/slash")]), {}, DefinitionError, "has/slash"


def missing_function_file(sy):
    @step
    def f():
        return 1

    p = Pipeline("bad", steps=[f()])
    d = json.loads(p.definition())
    d["Steps"][0]["Arguments"]["Function"]["File"] = str(sy.work / "gone.py")
    return Pipeline.from_definition(d), {}, DefinitionError, "gone.py"


CASES = [cycle, duplicate, unknown_step, unknown_output, unknown_property_file, unknown_metric,
         unknown_property, unlisted_parameter, missing_script, missing_entry_point,
         wrong_parameter_type, wrong_boolean, unknown_parameter, missing_parameter,
         unknown_failure_handler, handler_inside_a_branch, condition_lists_unknown_step,
         bad_step_name, missing_function_file]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_refused_and_nothing_is_written(sy, case):
    pipeline, params, error, message = case(sy)
    with pytest.raises(error) as info:
        pipeline.start(parameters=params)
    assert isinstance(info.value, UsageError)  # the CLI maps these to exit 2
    assert message in str(info.value)
    sy.assert_nothing_written()
    assert not (sy.tmp / "ran").exists(), "a job ran although the input was invalid"


@pytest.mark.parametrize("case", [cycle, duplicate, unknown_output, missing_script],
                         ids=lambda c: c.__name__)
def test_bad_definitions_are_not_registered_by_upsert(sy, case):
    pipeline, _, error, _ = case(sy)
    with pytest.raises(error):
        pipeline.upsert()
    sy.assert_nothing_written()


def test_a_step_referring_to_its_own_properties_is_refused(sy):
    a = _proc(sy, "a")
    d = json.loads(Pipeline("bad", steps=[a]).definition())
    d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"] = [
        {"Get": "Steps.a.ProcessingJobName"}]
    with pytest.raises(DefinitionError, match="its own"):
        engine.start_run(d)
    sy.assert_nothing_written()


def test_unknown_execution_variable_and_step_type_are_refused(sy):
    a = _proc(sy, "a", job_arguments=[ExecutionVariables.PIPELINE_EXECUTION_ID])
    d = json.loads(Pipeline("bad", steps=[a]).definition())
    d["Steps"][0]["Arguments"]["AppSpecification"]["ContainerArguments"] = [
        {"Get": "Execution.Nope"}]
    with pytest.raises(DefinitionError, match="Execution.Nope"):
        engine.start_run(d)
    d2 = json.loads(Pipeline("bad", steps=[a]).definition())
    d2["Steps"][0]["Type"] = "Lambda"
    with pytest.raises(DefinitionError, match="Lambda"):
        engine.start_run(d2)
    with pytest.raises(DefinitionError, match="no steps"):
        engine.start_run({"Name": "empty", "Steps": []})
    sy.assert_nothing_written()


def test_the_error_names_every_step_of_a_cycle(sy):
    a = _proc(sy, "a", depends_on=["c"])
    b = _proc(sy, "b", depends_on=[a])
    c = _proc(sy, "c", depends_on=[b])
    free = _proc(sy, "free")
    with pytest.raises(DefinitionError) as info:
        Pipeline("bad", steps=[a, b, c, free]).start()
    assert "a, b, c" in str(info.value)
    assert "free" not in str(info.value)
    sy.assert_nothing_written()


def test_a_bad_metric_regex_is_refused_before_any_job_runs(sy):
    """Regression: a regex that does not compile used to be noticed only after the training
    job had run (failing the step as an internal error)."""
    sy.write("t/train.py", SENTINEL_SCRIPT, SENTINEL=str(sy.tmp / "ran"))
    bad = [{"Name": "loss", "Regex": "loss=(["}]
    with pytest.raises(DefinitionError, match="loss"):
        Estimator(entry_point="train.py", source_dir=str(sy.work / "t"), metric_definitions=bad)
    # a definition that reaches the engine with a bad regex (e.g. edited JSON) is refused too
    good = TrainingStep("t", estimator=Estimator(
        entry_point="train.py", source_dir=str(sy.work / "t"),
        metric_definitions=[{"Name": "loss", "Regex": "loss=([0-9.]+)"}]))
    d = json.loads(Pipeline("bad", steps=[good]).definition())
    d["Steps"][0]["Arguments"]["AlgorithmSpecification"]["MetricDefinitions"] = bad
    with pytest.raises(DefinitionError, match="loss"):
        engine.start_run(d)
    assert not (sy.tmp / "ran").exists(), "the training job ran"
    sy.assert_nothing_written()


def test_a_property_file_on_an_unknown_output_is_refused(sy):
    pf = PropertyFile("report", "nope", "r.json")
    a = _proc(sy, "a", outputs=[ProcessingOutput(output_name="out",
                                                 source="/opt/ml/processing/out")],
              property_files=[pf])
    c = ConditionStep("c", conditions=[ConditionEquals(
        JsonGet(step=a, property_file=pf, json_path="x"), 1)], if_steps=[_proc(sy, "b")])
    p = Pipeline("bad", steps=[a, c])
    try:
        with pytest.raises(DefinitionError, match="nope"):
            p.start().wait()
    finally:
        assert not (sy.tmp / "ran").exists(), "a job ran although the input was invalid"
    sy.assert_nothing_written()


def _json_step(sy, **changes):
    """A processing step's JSON definition, as a user might hand-edit it."""
    s = _proc(sy, "Hand").to_definition()
    s.update(changes)
    return {"Name": "hand-written", "Steps": [s]}


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["Arguments"]["ProcessingInputs"][0].pop("S3Input"), "S3Input"),
    (lambda s: s["Arguments"].update(ProcessingOutputConfig={"Outputs": [{}]}), "S3Output"),
    (lambda s: s.update(Arguments=["not", "an", "object"]), "JSON object"),
])
def test_a_malformed_json_step_is_a_definition_error_naming_the_step(sy, edit, message):
    """Regression: a hand-written definition missing a key the step type reads crashed the
    compiler with a bare KeyError (or AttributeError) instead of naming the step."""
    d = _json_step(sy)
    edit(d["Steps"][0])
    with pytest.raises(DefinitionError, match=f"step 'Hand'.*{message}"):
        engine.start_run(d)
    sy.assert_nothing_written()


def test_a_model_step_without_a_model_is_refused_before_the_run(sy):
    """Regression: a JSON definition whose model step had no ModelDataUrl compiled, and the
    step failed only when it ran (the SDK refuses it already)."""
    from stackyard.jobs import Model
    from stackyard.workflow import ModelStep, PipelineSession

    reg = ModelStep("Register", step_args=Model(
        model_data=str(sy.work / "m.tar.gz"), sagemaker_session=PipelineSession()).register(
        model_package_group_name="g")).to_definition()
    reg["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = None
    with pytest.raises(DefinitionError, match="'Register'.*ModelDataUrl"):
        engine.start_run({"Name": "no-model", "Steps": [reg]})
    sy.assert_nothing_written()


def test_durations_and_numbers_take_ascii_digits_only(sy):
    """Regression: ``\\d`` matched any Unicode digit, so 'P٣D' meant three days."""
    from stackyard.engine._params import parse_duration, resolve_parameters

    assert parse_duration("P3D") == 3 * 86400
    with pytest.raises(DefinitionError, match="ISO-8601"):
        parse_duration("P\u0663D")
    with pytest.raises(ParameterError, match="'N'"):
        resolve_parameters([{"Name": "N", "Type": "Integer"}], {"N": "\u0663"})
    with pytest.raises(ParameterError, match="unknown type"):
        resolve_parameters([{"Name": "N", "Type": "Complex"}], {})


@pytest.mark.parametrize("conditions", [
    ["junk"], [{"Type": "Sometimes", "LeftValue": 1, "RightValue": 1}],
    [{"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1}}],
    [{"Type": "Or", "Conditions": [{"Type": "In", "QueryValue": 1}]}],
])
def test_a_malformed_json_condition_is_refused_before_the_run(sy, conditions):
    """Regression: these compiled, then the condition step failed with an internal error."""
    d = {"Name": "bad-condition", "Steps": [{"Name": "Decide", "Type": "Condition",
                                             "Arguments": {"Conditions": conditions}}]}
    with pytest.raises(DefinitionError, match="condition 'Decide'"):
        engine.start_run(d)
    sy.assert_nothing_written()
