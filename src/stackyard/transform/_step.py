"""The engine's ``Transform`` step type (``TransformStep``) and ``Model`` step type
(``ModelStep(step_args=model.create())``); the engine imports this module by name.

A transform step's job is a runtime job (``python -m stackyard.transform._main``): it
outlives a killed runner (a resumed run adopts it) and ``runs stop`` ends it with its
workers. Its durable state (``run_transform``'s folder: finished ``.out`` files and parts)
lives beside the attempts, in ``jobs/<step>/transform/``, not in the attempt folder the
runtime wipes before starting a job again: so a transform killed with ``kill -9`` (runner,
job and workers at once) resumes on ``runs resume`` without redoing any finished file, and
a retry after a failed file redoes only that file. On a run with ``--backend ray`` the job
itself stays here and its workers run on the cluster (``transform._ray``). The request is
the same for every attempt of a step (its job name comes from the run and the step), which
``run_transform`` checks before touching the folder.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stackyard import _home, runtime
from stackyard._checks import check_name, is_model_ref, job_name
from stackyard.engine._execute import check_job, job_json, run_job
from stackyard.engine.steps import StepType
from stackyard.errors import DefinitionError, StepFailed, UsageError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

_REQUEST, _RESULT = "/opt/ml/input/config/transform.json", "/opt/ml/output/transform.json"
_TRANSFORM_PROPERTIES = {
    ("TransformJobName",), ("TransformJobStatus",), ("TransformJobArn",), ("ModelName",),
    ("TransformOutput", "S3OutputPath"), ("TransformOutput", "Accept"),
    ("TransformOutput", "AssembleWith"), ("TransformOutput", "Destination"),
    ("TransformInput", "DataSource", "S3DataSource", "S3Uri"),
    ("TransformInput", "ContentType"), ("TransformInput", "SplitType")}
_MODEL_PROPERTIES = {("ModelName",), ("ModelArn",), ("PrimaryContainer", "ModelDataUrl"),
                     ("PrimaryContainer", "Image")}


def _is_expr(value: Any) -> bool:
    return isinstance(value, dict) and any(k == "Get" or k.startswith("Std:") for k in value)


def _literals(value: Any) -> Any:
    """``value`` with every pipeline expression replaced by None (what a check of the
    literal parts reads as "not given")."""
    if _is_expr(value):
        return None
    if isinstance(value, dict):
        return {k: _literals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literals(v) for v in value]
    return value


def _check_model_name(value: Any) -> None:
    if value is None or _is_expr(value):
        return
    if not isinstance(value, str) or not is_model_ref(value):
        check_name(value, "model")


def _backend_env() -> dict[str, str]:
    """The run's backend for the transform's own process (its coordinator stays here; on
    Ray its workers go to the cluster): settings only, never credentials."""
    sel = runtime.selected()
    if sel.name == "local":
        return {"STACKYARD_BACKEND": "local"}
    return {"STACKYARD_BACKEND": sel.name, "STACKYARD_RAY_ADDRESS": sel.address or "auto",
            "STACKYARD_ARTIFACTS": sel.artifacts or "",
            "STACKYARD_RAY_RESOURCES": json.dumps(sel.resources)}


class TransformStepType(StepType):
    name = "Transform"
    adoptable = True

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        """The literal settings (choices, JSONPath filters, numbers, the model's name) are
        checked now; whether the model exists and may transform, when the step runs."""
        from stackyard.transform._job import check_request

        req = _literals(step.arguments)
        source = req["TransformInput"]["DataSource"]["S3DataSource"]
        if source.get("S3Uri") is None and step.arguments["TransformInput"]["DataSource"][
                "S3DataSource"].get("S3Uri") is not None:
            source["S3Uri"] = "file:///resolved-when-the-run-executes"
        try:
            _check_model_name(step.arguments.get("ModelName"))
            if step.arguments.get("ModelName") is None:
                raise UsageError("the transform needs a model_name")
            check_request(req)
        except UsageError as e:
            raise DefinitionError(f"step {step.name!r}: {e}") from None

    def property_error(self, step: StepDef, tokens: list[str | int]) -> str | None:
        if tuple(tokens) in _TRANSFORM_PROPERTIES:
            return None
        return super().property_error(step, tokens)

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        return [("input", str(resolved["TransformInput"]["DataSource"]["S3DataSource"]
                              ["S3Uri"]))]

    def execute(self, a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
        from stackyard.transform._job import check_request
        from stackyard.transform._models import resolve_model

        name = job_name(a.run_id, a.step.name)
        req = {**req, "TransformJobName": name}
        if a.adopt is None:  # refused before a job starts: nothing is written
            try:
                check_request(req)
                resolve_model(req.get("ModelName"), bool(req.get("AllowUnapproved")))
            except UsageError as e:
                raise StepFailed(str(e), "InputError") from e
        state = a.job_dir.parent / "transform"
        spec = runtime.JobSpec(
            name=name, kind="Transform",
            argv=["python3", "-m", "stackyard.transform._main", _REQUEST, str(state), _RESULT],
            env={"STACKYARD_HOME": str(_home.home()), **_backend_env()}, cwd="/opt/ml",
            inputs=[], outputs={}, config_files={_REQUEST: req})
        check_job(run_job(a, spec))
        done = job_json(a, _RESULT, "the transform job's result")
        out = done["TransformOutput"]
        return {**done, "TransformJobArn": f"stackyard:transform-job/{name}",
                "TransformOutput": {**out, "S3OutputPath": done["OutputUri"],
                                    "Destination": (req.get("TransformOutput") or {}).get(
                                        "S3OutputPath")}}

    def lineage(self, arguments: dict[str, Any], outputs: dict[str, Any],
                uri: str) -> dict[str, Any]:
        return {"inputs": [("input", str(arguments["TransformInput"]["DataSource"]
                                         ["S3DataSource"]["S3Uri"]))],
                "model": arguments.get("ModelName")}


class ModelStepType(StepType):
    """``ModelStep(step_args=model.create())``: a named model a transform can run. Its name
    is made per run (``<ModelName or step>-<run id>``, as SageMaker drops a pipeline
    model's fixed name), so every run creates its own model and a resume the same one."""

    name = "Model"
    cacheable = False

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        container = step.arguments["PrimaryContainer"]
        if container.get("ModelDataUrl") is None:
            raise DefinitionError(f"step {step.name!r}: the model to create has no "
                                  "ModelDataUrl")

    def property_error(self, step: StepDef, tokens: list[str | int]) -> str | None:
        if tuple(tokens) in _MODEL_PROPERTIES:
            return None
        return super().property_error(step, tokens)

    def execute(self, a: Attempt, req: dict[str, Any]) -> dict[str, Any]:
        from stackyard.transform._models import create_model

        name = job_name(req.get("ModelName") or a.step.name, a.run_id)
        try:
            create_model({**req, "ModelName": name})
        except UsageError as e:
            raise StepFailed(str(e), "InputError") from e
        container = req["PrimaryContainer"]
        return {"ModelName": name, "ModelArn": f"stackyard:model/{name}",
                "PrimaryContainer": {"ModelDataUrl": container["ModelDataUrl"],
                                     "Image": container.get("Image")}}
