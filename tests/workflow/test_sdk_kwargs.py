"""Every SDK entry point checks its keywords before doing anything: a misspelled keyword is
a TypeError naming it, never a silent default; AWS-only keywords are accepted and ignored."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

import stackyard.jobs
import stackyard.registry
import stackyard.serving
import stackyard.tuning
import stackyard.workflow
from stackyard.jobs import Estimator, Model, ScriptProcessor, SKLearnProcessor
from stackyard.serving import Predictor
from stackyard.tuning import ContinuousParameter, HyperparameterTuner
from stackyard.workflow import Pipeline, PipelineExecution

MODULES = [stackyard.workflow, stackyard.jobs, stackyard.tuning, stackyard.registry,
           stackyard.serving]
BAD = "learning_rat"  # a typo of a plausible keyword
# Values for required parameters; they are never looked at, because the keyword check
# comes first (so a call naming a missing endpoint or job still fails on the keyword).
SAMPLES = {"name": "s", "source": "x", "s3_data": "x", "estimator": None,
           "objective_metric_name": "m", "hyperparameter_ranges": {}, "endpoint_name": "nope",
           "tuning_job_name": "nope"}


def _public() -> list[tuple[str, Any]]:
    out = []
    for mod in MODULES:
        for name in mod.__all__:
            obj = getattr(mod, name)
            if callable(obj):
                out.append((f"{mod.__name__}.{name}", obj))
    return out


def _required(func: Callable) -> list[Any]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return []
    return [SAMPLES.get(p.name) for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is p.empty and p.name != "self"]


@pytest.mark.parametrize(("qualname", "obj"), _public(), ids=[q for q, _ in _public()])
def test_every_public_callable_refuses_a_misspelled_keyword(qualname: str, obj: Any,
                                                            sy) -> None:
    # A class with no constructor of its own takes no arguments at all (Python says so).
    plain = inspect.isclass(obj) and obj.__init__ is object.__init__
    with pytest.raises(TypeError, match="takes no arguments" if plain else BAD):
        obj(*_required(obj), **{BAD: 0.1})
    sy.assert_nothing_written()


def _tuner() -> HyperparameterTuner:
    est = Estimator(entry_point="train.py", metric_definitions=[{"Name": "m",
                                                                 "Regex": "m=([0-9.]+)"}])
    return HyperparameterTuner(est, "m", {"x": ContinuousParameter(0, 1)})


# Every public method that takes **kwargs, called with the typo. (Methods without **kwargs
# get Python's own TypeError.) ``set_hyperparameters`` takes any name on purpose.
METHODS: dict[str, Callable[[], Any]] = {
    "ScriptProcessor.run": lambda: ScriptProcessor().run(code="x.py", **{BAD: 1}),
    "Estimator.fit": lambda: Estimator(entry_point="x.py").fit(**{BAD: 1}),
    "Estimator.deploy": lambda: Estimator(entry_point="x.py").deploy(**{BAD: 1}),
    "Model.register": lambda: Model().register(**{BAD: 1}),
    "Model.deploy": lambda: Model().deploy(**{BAD: 1}),
    "HyperparameterTuner.fit": lambda: _tuner().fit(**{BAD: 1}),
}
EXEMPT = {"Estimator.set_hyperparameters"}


def test_every_public_method_with_var_keywords_is_checked() -> None:
    """A guard: a new ``**kwargs`` method must join ``METHODS`` (and so be tested)."""
    found = set()
    for _, obj in _public():
        if not inspect.isclass(obj):
            continue
        for klass in obj.__mro__:
            if not klass.__module__.startswith("stackyard"):
                continue
            for name, attr in vars(klass).items():
                fn = getattr(attr, "__func__", attr)
                if name.startswith("_") or not inspect.isfunction(fn):
                    continue
                if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values()):
                    found.add(f"{klass.__name__}.{name}")
    assert found - EXEMPT <= set(METHODS), sorted(found - EXEMPT - set(METHODS))


@pytest.mark.parametrize("call", list(METHODS.values()), ids=list(METHODS))
def test_every_method_refuses_a_misspelled_keyword(call: Callable[[], Any], sy) -> None:
    with pytest.raises(TypeError, match=BAD):
        call()
    sy.assert_nothing_written()


def test_start_with_misspelled_parameters_runs_nothing(sy) -> None:
    """Regression: ``start(paramters=...)`` used to run with the defaults."""
    from stackyard.workflow import FailStep

    p = Pipeline(name="typo", steps=[FailStep("F", error_message="ran")])
    with pytest.raises(TypeError, match="paramters"):
        p.start(paramters={"X": 1})
    with pytest.raises(TypeError, match="rol_arn"):
        p.upsert(rol_arn="arn")
    sy.assert_nothing_written()


def test_lookups_come_after_the_keyword_check(sy) -> None:
    """A typo is reported as such even where the named endpoint or job does not exist."""
    with pytest.raises(TypeError, match="serialiser"):
        Predictor("no-such-endpoint", serialiser=None)
    with pytest.raises(TypeError, match="sagemaker_sesion"):
        HyperparameterTuner.attach("no-such-job", sagemaker_sesion=None)
    with pytest.raises(TypeError, match="wait_for"):
        PipelineExecution("no-such-run").wait(wait_for=1)


def test_aws_only_keywords_are_accepted_and_ignored(sy) -> None:
    proc = SKLearnProcessor(framework_version="1.2-1", role="arn:aws:iam::1:role/x",
                            instance_type="ml.m5.xlarge", volume_size_in_gb=30,
                            sagemaker_session=None, tags=[{"Key": "a", "Value": "b"}])
    assert proc.instance_type == "ml.m5.xlarge"
    Estimator(entry_point="x.py", role="r", use_spot_instances=True, max_wait=60,
              framework_version="1.0", py_version="py3", rules=[])
    HyperparameterTuner(Estimator(entry_point="x.py", metric_definitions=[
        {"Name": "m", "Regex": "m=(.*)"}]), "m", {"x": ContinuousParameter(0, 1)},
        tags=[{"Key": "a", "Value": "b"}])


def test_completion_criteria_is_spelled_as_in_the_sdk() -> None:
    from stackyard.tuning import TuningJobCompletionCriteriaConfig

    crit = TuningJobCompletionCriteriaConfig(target_objective_metric_value=0.5)
    est = Estimator(entry_point="x.py", metric_definitions=[{"Name": "m", "Regex": "m=(.*)"}])
    t = HyperparameterTuner(est, "m", {"x": ContinuousParameter(0, 1)},
                            completion_criteria_config=crit)
    assert t.config()["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] == {
        "TargetObjectiveMetricValue": 0.5}
    with pytest.raises(TypeError, match="completion_criteria"):
        HyperparameterTuner(est, "m", {"x": ContinuousParameter(0, 1)},
                            completion_criteria=crit)


def test_drift_check_baselines_records_every_sdk_section(tmp_path) -> None:
    from stackyard.jobs import DriftCheckBaselines, MetricsSource

    src = MetricsSource("application/json", "file:///b.json")
    d = DriftCheckBaselines(model_statistics=src, bias_config_file=src,
                            bias_pre_training_constraints=src,
                            explainability_constraints=src).to_request()
    assert set(d) == {"ModelQuality", "Bias", "Explainability"}
    assert set(d["Bias"]) == {"ConfigFile", "PreTrainingConstraints"}
