"""``Lambda``, ``LambdaStep``, ``LambdaOutput`` and ``LambdaOutputTypeEnum``: a local Python
function as a pipeline step (the engine's ``Lambda`` type, ``stackyard.lambdas``).

``Lambda(function_name=..., script="fn.py", handler="fn.handler")`` records the function;
``LambdaStep`` calls ``handler(event, context)`` in a job subprocess of its own with its
``inputs`` as the event, and maps the returned dict onto ``outputs``
(``step.properties.Outputs["name"]``). AWS settings (role, memory, runtime, VPC, layers)
are accepted and ignored; ``timeout`` stops the function.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from stackyard._checks import check_number, uri_to_path
from stackyard.errors import DefinitionError, UsageError
from stackyard.workflow._expr import Properties
from stackyard.workflow._outputs import TypedOutput
from stackyard.workflow._policies import CacheConfig
from stackyard.workflow._steps import Step


class LambdaOutputTypeEnum(Enum):
    """The type a Lambda output is converted to (and checked against)."""

    String = "String"
    Integer = "Integer"
    Boolean = "Boolean"
    Float = "Float"


class LambdaOutput(TypedOutput):
    """One output of a ``LambdaStep``: the key of the returned dict, and its type."""

    enum = LambdaOutputTypeEnum


class Lambda:
    """A local function: ``script`` (a Python file) and ``handler``
    (``"<script name>.<function>"``), called as ``handler(event, context)``."""

    def __init__(
        self,
        function_arn: str | None = None,
        function_name: str | None = None,
        execution_role_arn: str | None = None,
        zipped_code_dir: str | None = None,
        s3_bucket: str | None = None,
        script: str | None = None,
        handler: str | None = None,
        session: Any = None,
        timeout: int = 120,
        memory_size: int = 128,
        runtime: str = "python3.8",
        vpc_config: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
        layers: list[str] | None = None,
        architectures: list[str] | None = None,
    ) -> None:
        if function_arn is None and function_name is None:
            raise DefinitionError("Lambda needs function_name= (or function_arn=)")
        if zipped_code_dir is not None:
            raise DefinitionError("Lambda(zipped_code_dir=...) is not supported locally; "
                                  "give script= (a .py file) and handler=")
        if script is None or handler is None:
            raise DefinitionError("stackyard runs Lambda functions locally: give script= (a "
                                  ".py file) and handler= ('<script name>.<function>')")
        env = environment or {}
        if isinstance(env, dict) and isinstance(env.get("Variables"), dict):
            env = env["Variables"]  # the shape boto3's create_function takes
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise DefinitionError(f"Lambda environment {environment!r}: "
                                  "{'Variables': {name: text}} or {name: text}")
        self.function_arn = function_arn
        self.function_name = function_name or str(function_arn).rsplit(":", 1)[-1]
        self.script = str(uri_to_path(script))
        self.handler = handler
        self.timeout = int(check_number(timeout, "Lambda timeout (seconds)", lo=1,
                                        integer=True))
        self.environment = dict(env)
        from stackyard.lambdas._step import check_function

        try:  # the engine's own check of the script and handler, now rather than at run
            check_function(self.to_definition())
        except UsageError as e:
            raise DefinitionError(str(e)) from None

    def to_definition(self) -> dict[str, Any]:
        return {"FunctionName": self.function_name, "Script": self.script,
                "Handler": self.handler, "Timeout": self.timeout,
                "Environment": self.environment}

    def create(self) -> dict[str, Any]:
        """Register the function by name in the local registry (what Step Functions tasks
        call); its script is snapshotted, so later edits need ``upsert()`` again."""
        from stackyard.lambdas import register_function

        return register_function(self.function_name, self.script, self.handler,
                                 self.timeout, self.environment)

    upsert = update = create


class _LambdaProperties(Properties):
    """``properties.Outputs["name"]``, as in the SDK, is ``OutputParameters['name']``."""

    def __init__(self, step: LambdaStep) -> None:
        super().__init__(step)
        object.__setattr__(self, "Outputs", {
            o.output_name: Properties(step, f"OutputParameters['{o.output_name}']")
            for o in step.outputs})


class LambdaStep(Step):
    """Calls ``lambda_func`` with ``inputs`` (pipeline variables resolved) as the event;
    each ``LambdaOutput`` is read from the returned dict."""

    step_type = "Lambda"

    def __init__(
        self,
        name: str,
        lambda_func: Lambda,
        display_name: str | None = None,
        description: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: list[LambdaOutput] | None = None,
        cache_config: CacheConfig | None = None,
        depends_on: list[Any] | None = None,
    ) -> None:
        super().__init__(name, display_name, description, depends_on, None, cache_config)
        if not isinstance(lambda_func, Lambda):
            raise DefinitionError(f"LambdaStep {name!r}: lambda_func must be a Lambda(...); "
                                  f"got {lambda_func!r}")
        self.lambda_func = lambda_func
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs or [])
        names = [o.output_name for o in self.outputs]
        if len(set(names)) != len(names):
            raise DefinitionError(f"LambdaStep {name!r}: an output is declared twice "
                                  f"({', '.join(names)})")

    @property
    def properties(self) -> Properties:
        return _LambdaProperties(self)

    def arguments(self) -> Any:
        return self.inputs

    def extra(self) -> dict[str, Any]:
        return {"FunctionArn": self.lambda_func.function_arn
                or f"stackyard:lambda/{self.lambda_func.function_name}",
                "OutputParameters": [o.to_request() for o in self.outputs],
                "LambdaFunction": self.lambda_func.to_definition()}
