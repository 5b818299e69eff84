"""The step-type conformance suite: every registered ``StepType`` passes the same checks.

Each type has a small factory (a ``Case``) that builds a minimal pipeline of that type; a
type registered without one fails ``test_every_registered_type_has_a_case``, so a new type
is tested by adding its case here. The definitions are plain JSON (what a user may hand the
engine), built with the SDK only where its request is long (training, tuning, model).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from stackyard import engine
from stackyard.engine.steps import STEP_TYPES, step_type
from stackyard.engine.steps.function import function_ref
from stackyard.errors import DefinitionError

P = {"Get": "Parameters.P"}
PROC = """
import os, pathlib, sys, time
with open(RAN, "a") as f:
    f.write(f"{os.getpid()}\\n")
while os.path.exists(GATE):
    time.sleep(0.05)
if os.path.exists(FAIL):
    sys.exit(3)
text = pathlib.Path("/opt/ml/processing/input/in.txt").read_text()
pathlib.Path("/opt/ml/processing/out/out.txt").write_text(text.upper())
"""
TRAIN = """
import os, pathlib, sys, time
with open(RAN, "a") as f:
    f.write(f"{os.getpid()}\\n")
while os.path.exists(GATE):
    time.sleep(0.05)
if os.path.exists(FAIL):
    sys.exit(3)
data = pathlib.Path(os.environ["SM_CHANNEL_TRAIN"], "in.txt").read_text()
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text(data)
print("score=0.5;")
"""
FUNCS = """
import os, pathlib, time

def work(p):
    with open(RAN, "a") as f:
        f.write(f"{os.getpid()}\\n")
    while os.path.exists(GATE):
        time.sleep(0.05)
    if os.path.exists(FAIL):
        raise RuntimeError("asked to fail")
    return "done-" + p

def handler():
    pathlib.Path(HANDLED).write_text("handled")
    return "handled"
"""
INFER = """
import os, time
import numpy as np

def model_fn(model_dir):
    return {}

def predict_fn(rows, model):
    with open(RAN, "a") as f:
        f.write(f"{os.getpid()}\\n")
    while os.path.exists(GATE):
        time.sleep(0.05)
    if os.path.exists(FAIL):
        raise RuntimeError("asked to fail")
    return np.asarray(rows, dtype=float).sum(axis=1)
"""
LAMBDA = """
import os, time

def handler(event, context):
    with open(RAN, "a") as f:
        f.write(f"{os.getpid()}\\n")
    while os.path.exists(GATE):
        time.sleep(0.05)
    if os.path.exists(FAIL):
        raise RuntimeError("asked to fail")
    return {"out": event["p"].upper()}
"""


ROOT = "dir with space é"   # every input, script and model lives under such a folder


class Files:
    """One test's inputs, scripts and marker files."""

    def __init__(self, sy: Any) -> None:
        self.sy = sy
        self.work = sy.work / ROOT
        self.ran, self.gate, self.fail, self.handled = (
            sy.tmp / n for n in ("ran", "gate", "fail", "handled"))
        marks = {"RAN": str(self.ran), "GATE": str(self.gate), "FAIL": str(self.fail),
                 "HANDLED": str(self.handled)}
        sy.write(f"{ROOT}/data/in.txt", "abc")
        self.proc = sy.write(f"{ROOT}/code/proc.py", PROC, **marks)
        sy.write(f"{ROOT}/train/train.py", TRAIN, **marks)
        self.funcs_file = sy.write(f"{ROOT}/funcs.py", FUNCS, **marks)
        sy.write(f"{ROOT}/infer/inference.py", INFER, **marks)
        self.lambda_script = sy.write(f"{ROOT}/lam.py", LAMBDA, **marks)
        sy.write(f"{ROOT}/rows/rows.csv", "1,2\n3,4\n")
        spec = importlib.util.spec_from_file_location(f"funcs_{id(self)}", self.funcs_file)
        assert spec is not None and spec.loader is not None
        self.funcs = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.funcs)
        weights = sy.write(f"{ROOT}/weights.txt", "w1")
        self.model = self.work / "model.tar.gz"
        with tarfile.open(self.model, "w:gz") as tar:
            tar.add(weights, arcname="weights.txt")

    def function(self, name: str, func: str, args: list[Any]) -> dict[str, Any]:
        return {"Name": name, "Type": "Function", "Arguments": {
            "Function": function_ref(getattr(self.funcs, func)), "Args": args, "Kwargs": {}}}

    def runs(self) -> int:
        return len(self.sy.lines(self.ran))


def _estimator(f: Files, sdk: Any) -> Any:
    from stackyard.jobs import Estimator

    return Estimator(entry_point="train.py", source_dir=str(f.work / "train"),
                     hyperparameters={"p": sdk.ParameterString("P", default_value="a")},
                     metric_definitions=[{"Name": "score", "Regex": "score=([0-9.]+);"}],
                     sagemaker_session=sdk.PipelineSession())


class Case:
    """How to build, break and fail a minimal step of one type."""

    type = ""
    good_property: str | None = None    # a property the step reports (None: it has none)
    bad_property = "NoSuchProperty"
    cacheable = False
    blocks = False                      # its work can be held open (to kill the runner)
    adoptable = False                   # that work outlives a killed runner

    def setup(self, f: Files) -> None:
        """What must exist before the step runs (not before it is defined)."""

    def step(self, f: Files, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def broken(self, step: dict[str, Any]) -> None:
        """Break one argument of ``step`` in place."""
        raise NotImplementedError

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        """A step of this type whose every attempt fails."""
        f.fail.write_text("fail")
        return self.step(f, name)

    def change_input(self, f: Files) -> dict[str, Any]:
        """Change what the step reads; the parameters of the next run."""
        return {"P": "b"}


class ProcessingCase(Case):
    type = "Processing"
    good_property = "ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"
    bad_property = "ProcessingOutputConfig.Outputs['nope'].S3Output.S3Uri"
    cacheable = blocks = adoptable = True

    def step(self, f: Files, name: str) -> dict[str, Any]:
        from stackyard.jobs import ProcessingInput, ProcessingOutput, ScriptProcessor
        from stackyard.workflow import ParameterString, ProcessingStep

        return ProcessingStep(
            name, processor=ScriptProcessor(command=["python3"]), code=str(f.proc),
            job_arguments=[ParameterString("P", default_value="a")],
            inputs=[ProcessingInput(source=str(f.work / "data"),
                                    destination="/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")],
        ).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        code = next(i for i in step["Arguments"]["ProcessingInputs"] if i["InputName"] == "code")
        code["S3Input"]["S3Uri"] = code["S3Input"]["S3Uri"] + ".missing"

    def change_input(self, f: Files) -> dict[str, Any]:
        f.sy.write(f"{ROOT}/data/in.txt", "xyz")     # same path, new content
        return {}


class TrainingCase(Case):
    type = "Training"
    good_property = "FinalMetricDataList['score'].Value"
    bad_property = "FinalMetricDataList['loss'].Value"
    cacheable = blocks = adoptable = True

    def step(self, f: Files, name: str) -> dict[str, Any]:
        import stackyard.workflow as sdk
        from stackyard.jobs import TrainingInput

        return sdk.TrainingStep(name, step_args=_estimator(f, sdk).fit(
            {"train": TrainingInput(str(f.work / "data"))})).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["Code"]["EntryPoint"] = "missing.py"

    def change_input(self, f: Files) -> dict[str, Any]:
        f.sy.write(f"{ROOT}/data/in.txt", "xyz")
        return {}


class TuningCase(TrainingCase):
    type = "Tuning"
    good_property = "TopModelArtifacts[0]"
    bad_property = "TopModelArtifacts[1]"      # beyond its budget of one training job
    blocks = adoptable = False

    def step(self, f: Files, name: str) -> dict[str, Any]:
        import stackyard.workflow as sdk
        from stackyard.jobs import TrainingInput
        from stackyard.tuning import ContinuousParameter, HyperparameterTuner

        tuner = HyperparameterTuner(_estimator(f, sdk), "score",
                                    {"x": ContinuousParameter(0, 1)}, max_jobs=1,
                                    max_parallel_jobs=1, random_seed=0)
        return sdk.TuningStep(name, step_args=tuner.fit(
            {"train": TrainingInput(str(f.work / "data"))})).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["TrainingJobDefinition"]["Code"]["EntryPoint"] = "missing.py"


class FunctionCase(Case):
    type = "Function"
    good_property = "Result"
    cacheable = blocks = True

    def step(self, f: Files, name: str) -> dict[str, Any]:
        return f.function(name, "work", [P])

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["Function"]["File"] += ".missing"


class ConditionCase(Case):
    type = "Condition"
    good_property = "Outcome"

    def step(self, f: Files, name: str) -> dict[str, Any]:
        return {"Name": name, "Type": "Condition", "Arguments": {"Conditions": [
            {"Type": "Equals", "LeftValue": P, "RightValue": "a"}], "IfSteps": [],
            "ElseSteps": []}}

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["IfSteps"] = ["NoSuchStep"]

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        s = self.step(f, name)   # text against a number: every evaluation fails
        s["Arguments"]["Conditions"] = [{"Type": "GreaterThan", "LeftValue": P,
                                         "RightValue": 1}]
        return s


class FailCase(Case):
    type = "Fail"

    def step(self, f: Files, name: str) -> dict[str, Any]:
        return {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": P}}

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["ErrorMessage"] = ["not", "a", "message"]

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        return self.step(f, name)


class RegisterModelCase(Case):
    type = "RegisterModel"
    good_property = "ModelPackageRef"

    def step(self, f: Files, name: str) -> dict[str, Any]:
        from stackyard.jobs import Model
        from stackyard.workflow import ModelStep, PipelineSession

        return ModelStep(name, step_args=Model(
            model_data=str(f.model), sagemaker_session=PipelineSession(),
        ).register(model_package_group_name="conformance")).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["ModelPackageGroupName"] = "no/slashes"

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        s = self.step(f, name)
        s["Arguments"]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = str(
            f.work / "missing-model")
        return s


class ModelCase(RegisterModelCase):
    type = "Model"
    good_property = "ModelName"

    def step(self, f: Files, name: str) -> dict[str, Any]:
        from stackyard.jobs import Model
        from stackyard.workflow import ModelStep, PipelineSession

        return ModelStep(name, step_args=Model(
            model_data=str(f.model), entry_point="inference.py",
            source_dir=str(f.work / "infer"), sagemaker_session=PipelineSession(),
        ).create()).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["PrimaryContainer"]["ModelDataUrl"] = None

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        s = self.step(f, name)
        s["Arguments"]["PrimaryContainer"]["ModelDataUrl"] = str(f.work / "missing-model")
        return s


class TransformCase(Case):
    type = "Transform"
    good_property = "TransformOutput.S3OutputPath"
    bad_property = "TransformOutput.NoSuchField"
    cacheable = blocks = adoptable = True

    def setup(self, f: Files) -> None:
        from stackyard.jobs import Model

        Model(model_data=str(f.model), entry_point="inference.py",
              source_dir=str(f.work / "infer"), name="conformance").create()

    def step(self, f: Files, name: str) -> dict[str, Any]:
        return {"Name": name, "Type": "Transform", "Arguments": {
            "ModelName": "conformance", "Environment": {"P": P},
            "TransformInput": {"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": str(f.work / "rows")}},
                "ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"AssembleWith": "Line"}}}

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["TransformInput"]["SplitType"] = "Sideways"


class QualityCheckCase(Case):
    type = "QualityCheck"
    good_property = "CalculatedBaselineStatistics"
    bad_property = "CalculatedBaseline"
    cacheable = True

    def step(self, f: Files, name: str) -> dict[str, Any]:
        from stackyard.monitor import DatasetFormat
        from stackyard.workflow import CheckJobConfig, DataQualityCheckConfig, QualityCheckStep

        return QualityCheckStep(name, DataQualityCheckConfig(
            baseline_dataset=str(f.work / "rows"), dataset_format=DatasetFormat.csv(
                header=False)), CheckJobConfig(role="r"), skip_check=True,
            register_new_baseline=True).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["Arguments"]["CheckType"] = "BIAS"

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        s = self.step(f, name)   # a check against a baseline that is not there
        s["Arguments"].update(SkipCheck=False, SuppliedBaselineStatistics=str(f.work / "no"),
                              SuppliedBaselineConstraints=str(f.work / "no"))
        return s

    def change_input(self, f: Files) -> dict[str, Any]:
        f.sy.write(f"{ROOT}/rows/rows.csv", "5,6\n7,8\n")
        return {}


class LambdaCase(Case):
    type = "Lambda"
    good_property = "OutputParameters['out']"
    bad_property = "OutputParameters['nope']"
    cacheable = blocks = adoptable = True

    def step(self, f: Files, name: str) -> dict[str, Any]:
        from stackyard.workflow import Lambda, LambdaOutput, LambdaStep, ParameterString

        return LambdaStep(name, Lambda(function_name="conformance",
                                       script=str(f.lambda_script), handler="lam.handler"),
                          inputs={"p": ParameterString("P", default_value="a")},
                          outputs=[LambdaOutput("out")]).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["LambdaFunction"]["Handler"] = "other.handler"


class CallbackCase(Case):
    """Answered by a thread of the test (a worker of the queue, over its own connection);
    the failing step waits on a queue nobody reads, and times out."""

    type = "Callback"
    good_property = "OutputParameters['out']"
    bad_property = "OutputParameters['nope']"

    def setup(self, f: Files) -> None:
        import threading
        import time

        from stackyard.store import Store

        store = Store(f.sy.home / "stackyard.db")

        def answer() -> None:
            end = time.monotonic() + 60
            while time.monotonic() < end:
                for r in store.receive_callbacks("answered", 10, 30):
                    store.answer_callback(r["token"], "Succeeded",
                                          {"out": r["body"]["arguments"]["p"].upper()}, None)
                time.sleep(0.05)

        threading.Thread(target=answer, daemon=True).start()

    def step(self, f: Files, name: str, queue: str = "answered") -> dict[str, Any]:
        from stackyard.workflow import CallbackOutput, CallbackStep, ParameterString

        return CallbackStep(name, queue, inputs={"p": ParameterString("P", default_value="a")},
                            outputs=[CallbackOutput("out")], timeout=30).to_definition()

    def broken(self, step: dict[str, Any]) -> None:
        step["OutputParameters"][0]["OutputType"] = "Decimal"

    def failing(self, f: Files, name: str) -> dict[str, Any]:
        return {**self.step(f, name, "nobody reads this"), "Timeout": 0.2}


CASES = {c.type: c for c in (ProcessingCase(), TrainingCase(), TuningCase(), FunctionCase(),
                             ConditionCase(), FailCase(), RegisterModelCase(), ModelCase(),
                             TransformCase(), QualityCheckCase(), LambdaCase(),
                             CallbackCase())}
TYPES = sorted(CASES)


def _definition(name: str, *steps: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Name": name,
            "Parameters": [{"Name": "P", "Type": "String", "DefaultValue": "a"}],
            "Steps": list(steps)}


def _steps(run_id: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in engine.describe_run(run_id)["steps"]}


def test_every_registered_type_has_a_case():
    assert set(STEP_TYPES) == set(CASES)
    for name in STEP_TYPES:
        assert step_type(name).name == name


@pytest.mark.parametrize("kind", TYPES)
def test_validate_refuses_a_broken_argument_naming_the_step(sy, kind):
    case, f = CASES[kind], Files(sy)
    engine.compile_definition(_definition("ok", case.step(f, "Step One")))
    step = case.step(f, "Step One")
    case.broken(step)
    with pytest.raises(DefinitionError, match="Step One"):
        engine.compile_definition(_definition("broken", step))
    sy.assert_nothing_written()


@pytest.mark.parametrize("kind", TYPES)
def test_properties_that_exist_are_accepted_and_others_refused(sy, kind):
    case, f = CASES[kind], Files(sy)

    def user(path: str) -> dict[str, Any]:
        return {"Name": "User", "Type": "Fail",
                "Arguments": {"ErrorMessage": {"Get": f"Steps.Src.{path}"}}}

    if case.good_property is not None:
        pdef = engine.compile_definition(_definition(
            "props", case.step(f, "Src"), user(case.good_property)))
        assert pdef.steps["User"].deps == {"Src"}
    with pytest.raises(DefinitionError, match="Src"):
        engine.compile_definition(_definition("props", case.step(f, "Src"),
                                              user(case.bad_property)))


@pytest.mark.parametrize("kind", TYPES)
def test_cache_hits_an_identical_rerun_and_misses_after_an_input_changes(sy, kind):
    case, f = CASES[kind], Files(sy)
    if kind == "Fail":
        pytest.skip("a Fail step never succeeds, so there is nothing to cache")
    case.setup(f)

    def run(params: dict[str, Any] | None = None) -> dict[str, Any]:
        step = {**case.step(f, "S"), "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"}}
        handle = engine.start_run(_definition("cached", step), params)
        s = _steps(handle.run_id)["S"]
        assert s["status"] == "Succeeded", s["failure_reason"]
        return s

    first, second = run(), run()
    assert not first["cache_hit"]
    assert bool(second["cache_hit"]) is case.cacheable
    assert (second["outputs"] == first["outputs"]) if case.cacheable else True
    if case.cacheable:
        assert not run(case.change_input(f))["cache_hit"]
    if case.blocks:      # the work itself ran once per miss, never for the hit
        assert f.runs() == 2


@pytest.mark.parametrize("kind", TYPES)
def test_a_failing_attempt_is_retried_then_the_failure_handler_runs(sy, kind):
    case, f = CASES[kind], Files(sy)
    case.setup(f)
    step = {**case.failing(f, "S"), "OnFailure": "Handler", "RetryPolicies": [
        {"ExceptionType": ["ALL"], "IntervalSeconds": 0, "BackoffRate": 1,
         "MaxAttempts": 1}]}
    handler = f.function("Handler", "handler", [])
    handle = engine.start_run(_definition("failing", step, handler),
                              functions={"Handler": f.funcs.handler})
    steps = _steps(handle.run_id)
    assert engine.describe_run(handle.run_id)["status"] == "Failed"
    assert steps["S"]["status"] == "Failed"
    assert steps["S"]["attempts"] == 2                       # the first try and one retry
    assert steps["Handler"]["status"] == "Succeeded"
    assert f.handled.read_text() == "handled"


RUNNER = """
import json, sys
from stackyard import engine
engine.start_run(json.loads(open(sys.argv[1]).read()))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", [k for k in TYPES if CASES[k].blocks])
def test_kill_9_mid_step_then_resume_adopts_or_reruns(sy, reaper, kind):
    """Adoptable types' jobs outlive the runner and are adopted (the work runs once);
    the others run again in the resuming process."""
    case, f = CASES[kind], Files(sy)
    case.setup(f)
    f.gate.write_text("closed")
    path = sy.tmp / "definition.json"
    path.write_text(json.dumps(_definition("killed", case.step(f, "S"))))
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sy.wait_until(lambda: f.runs() == 1, timeout=60, what="the step's work to start")
    finally:
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(10)
    run_id = sy.db_query("SELECT run_id FROM runs")[0][0]
    for (pid,) in sy.db_query("SELECT pid FROM attempts WHERE pid IS NOT NULL"):
        reaper.watch(pid)
    f.gate.unlink()
    assert engine.resume_run(run_id) == "Succeeded"
    assert _steps(run_id)["S"]["status"] == "Succeeded"
    assert f.runs() == (1 if case.adoptable else 2)



def test_the_engine_core_names_no_step_type_and_imports_nothing_above_it():
    """The runner, compiler and executor speak only the StepType interface, and the engine
    never reaches up into the SDK (``stackyard.workflow``)."""
    root = Path(engine.__file__).parent
    for name in ("_runner.py", "_definition.py", "_execute.py", "_api.py"):
        text = (root / name).read_text()
        assert ".type ==" not in text and ".type in" not in text, name
        assert not any(f'"{t}"' in text for t in STEP_TYPES), name
    for path in root.rglob("*.py"):
        assert "stackyard.workflow" not in path.read_text(), path
