"""The engine's ``Lambda`` step type (``LambdaStep``); the engine imports it by name.

The function is a script and a handler (``"module.function"``, the module being the
script's file name). Each attempt is a runtime job: the script is copied into the job's
``/opt/ml/code``, ``python -m stackyard.lambdas._invoke`` calls ``handler(event, context)``
with the step's resolved inputs as the event, and writes the returned dict. Being a job,
it outlives a killed runner (a resumed run adopts it), ``runs stop`` ends it, and the
Lambda ``timeout`` is the job's runtime limit. The job is given this process's
``STACKYARD_HOME``, so a handler reaches the same model registry
(``stackyard.registry.ModelRegistry``) as the pipeline.

The returned dict is mapped onto the declared outputs by name and typed by their
``OutputType``; a missing key, a value that is not of the type, or a raised exception
fails the step with a message that says so.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from stackyard import _home, runtime
from stackyard._checks import (
    check_number,
    job_name,
    uri_to_path,
)
from stackyard.engine._execute import check_job, job_json, run_job
from stackyard.engine.steps import DeclaredOutputsStepType
from stackyard.errors import DefinitionError, StepFailed, UsageError

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef
    from stackyard.engine.steps import Attempt

_EVENT, _RESPONSE, _CODE = ("/opt/ml/input/config/lambda.json", "/opt/ml/output/response.json",
                            "/opt/ml/code")


def check_function(fn: Any) -> dict[str, Any]:
    """The ``LambdaFunction`` of a definition: a script that exists, a handler
    ``<script name>.<function>``, a timeout in whole seconds, string environment values."""
    if not isinstance(fn, dict):
        raise UsageError(f"LambdaFunction must be an object; got {fn!r}")
    script = uri_to_path(str(fn.get("Script") or ""))
    if not fn.get("Script") or not script.is_file():
        raise UsageError(f"Lambda script {fn.get('Script')!r} does not exist")
    module, _, func = str(fn.get("Handler") or "").rpartition(".")
    if module != script.stem or not func.isidentifier():
        raise UsageError(f"Lambda handler {fn.get('Handler')!r}: write "
                         f"'{script.stem}.<function>' (the script's name, then the function)")
    if module in sys.stdlib_module_names or module == "stackyard":
        # the job's working folder holds the script, so it would hide that module from
        # the Lambda invoker itself (a ``json.py`` broke the job before the handler ran)
        raise UsageError(f"Lambda script {script.name!r} has the name of Python's module "
                         f"{module!r} and would hide it; rename the script and the handler")
    check_number(fn.get("Timeout", 120), "Lambda timeout (seconds)", lo=1, integer=True)
    env = fn.get("Environment") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise UsageError(f"Lambda environment {env!r}: a dict of names to strings")
    return fn


def typed(name: str, value: Any, kind: str) -> Any:
    """``value`` as an output of ``kind``; a value that is not one is a ``UsageError``."""
    bad = UsageError(f"output {name!r} is declared {kind} but the function returned "
                     f"{value!r}")
    if kind == "String":
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise bad
    try:
        number = check_number(value, f"output {name!r}", integer=kind == "Integer")
    except UsageError:
        raise bad from None
    return float(number) if kind == "Float" else number


class LambdaStepType(DeclaredOutputsStepType):
    name = "Lambda"
    output_owner = "Lambda"
    adoptable = True

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        try:
            check_function(step.raw.get("LambdaFunction"))
            self.declared_outputs(step)
        except UsageError as e:
            raise DefinitionError(f"step {step.name!r}: {e}") from None

    def cache_inputs(self, step: StepDef, resolved: Any) -> list[tuple[str, str]]:
        return [("code", str(uri_to_path(step.raw["LambdaFunction"]["Script"])))]

    def execute(self, a: Attempt, event: dict[str, Any]) -> dict[str, Any]:
        fn = a.step.raw["LambdaFunction"]
        name = job_name(a.run_id, a.step.name)
        script = uri_to_path(fn["Script"])
        timeout = int(fn.get("Timeout", 120))
        spec = runtime.JobSpec(
            name=name, kind="Lambda",
            argv=["python3", "-m", "stackyard.lambdas._invoke", _EVENT, _RESPONSE, _CODE],
            env={**(fn.get("Environment") or {}), "STACKYARD_HOME": str(_home.home())},
            cwd=_CODE, inputs=[], outputs={}, code=[(str(script), _CODE)],
            max_runtime=float(timeout), config_files={_EVENT: {
                "Event": event, "Handler": fn["Handler"], "RequestId": name,
                "FunctionName": fn.get("FunctionName") or script.stem,
                "FunctionArn": a.step.raw.get("FunctionArn"), "Timeout": timeout}})
        check_job(run_job(a, spec))
        response = job_json(a, _RESPONSE, "the Lambda function's response")
        outputs = self.declared_outputs(a.step)
        missing = sorted(set(outputs) - set(response))
        if missing:
            raise StepFailed(
                f"the Lambda function returned no {', '.join(map(repr, missing))} "
                f"(it returned keys: {', '.join(map(repr, sorted(response))) or 'none'})",
                "JobError")
        try:
            return {"OutputParameters": {k: typed(k, response[k], t)
                                         for k, t in outputs.items()}}
        except UsageError as e:
            raise StepFailed(str(e), "JobError") from e
