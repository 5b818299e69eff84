"""The registry of step types: definition ``Type`` -> its ``StepType``.

Every type is registered here by ``"module:Class"`` and imported when first asked for: the
built-in ones (modules of this package) and those whose work lives above the engine
(tuning, the model registry, batch transform and models, quality checks, Lambda
functions, callback steps), so importing the engine never imports the layers above it (tuning alone
costs ~0.6 s of optuna), and the SDK can import ``function_ref`` cheaply.
"""

from __future__ import annotations

import importlib
import threading

from stackyard.engine._execute import Attempt
from stackyard.engine.steps._base import DeclaredOutputsStepType, StepType

STEP_TYPES: dict[str, StepType | str] = {}
_lock = threading.Lock()


def register_step_type(name: str, impl: StepType | str) -> None:
    """Make ``name`` a valid definition ``Type``; ``impl`` is a ``StepType`` or the
    ``"module:Class"`` of one (imported on first use)."""
    if isinstance(impl, StepType) and impl.name != name:
        raise ValueError(f"step type {impl.name!r} registered as {name!r}")
    STEP_TYPES[name] = impl


def step_type(name: str) -> StepType:
    """The ``StepType`` for a definition ``Type`` (``KeyError`` if none is registered)."""
    impl = STEP_TYPES[name]
    if isinstance(impl, str):
        with _lock:
            impl = STEP_TYPES[name]
            if isinstance(impl, str):
                module, cls = impl.split(":")
                impl = getattr(importlib.import_module(module), cls)()
                register_step_type(name, impl)
    assert isinstance(impl, StepType)
    return impl


for _name, _ref in (("Processing", "processing:ProcessingStepType"),
                    ("Training", "training:TrainingStepType"),
                    ("Function", "function:FunctionStepType"),
                    ("Condition", "condition:ConditionStepType"),
                    ("Fail", "fail:FailStepType")):
    register_step_type(_name, f"{__name__}.{_ref}")
register_step_type("Tuning", "stackyard.tuning._step:TuningStepType")
register_step_type("RegisterModel", "stackyard.registry._step:RegisterModelStepType")
register_step_type("Model", "stackyard.transform._step:ModelStepType")
register_step_type("Transform", "stackyard.transform._step:TransformStepType")
register_step_type("QualityCheck", "stackyard.monitor._step:QualityCheckStepType")
register_step_type("Lambda", "stackyard.lambdas._step:LambdaStepType")
register_step_type("Callback", "stackyard.callbacks._step:CallbackStepType")

__all__ = [
    "STEP_TYPES", "Attempt", "DeclaredOutputsStepType", "StepType", "register_step_type",
    "step_type",
]
