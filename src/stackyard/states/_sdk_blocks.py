"""The builder shapes of the AWS Step Functions Data Science SDK (``stepfunctions.steps``
and ``stepfunctions.inputs``): states, chains, retriers, catchers, choice rules and
placeholders, compiled to Amazon States Language exactly as that SDK compiles them.

Why a re-implementation rather than the package: the SDK needs ``boto3``, a region and the
``sagemaker`` package just to build a dict, and its SageMaker steps upload code to S3. These
classes keep its names, arguments and output, so a notebook written for it ports by changing
imports; what runs the result is ``stackyard.states``.

    >>> chain = Chain([Pass("Start", result={"n": 1}), Succeed("Done")])
    >>> Graph(chain).to_dict()["States"]["Start"]
    {'Result': {'n': 1}, 'Type': 'Pass', 'Next': 'Done'}
"""

from __future__ import annotations

import json
from typing import Any

from stackyard.errors import DefinitionError
from stackyard.workflow._expr import PipelineVariable

# Fields written out even when given as None: null there means "discard" in ASL.
_NULLABLE = ("result_path", "input_path", "output_path")
_COMMON = ("comment", "input_path", "output_path", "parameters", "result_path")


def _pascal(name: str) -> str:
    return "".join(part.title() for part in name.split("_"))


# --- placeholders -------------------------------------------------------------------------
class Placeholder(PipelineVariable):
    """A value known only when the execution runs: ``ExecutionInput()["JobName"]`` compiles to
    ``"<Field>.$": "$$.Execution.Input['JobName']"``. With a ``schema`` the collection is
    closed: asking for a name outside it is an error, and ``validate(input)`` checks an
    execution's input against it. Being a pipeline variable, a placeholder is accepted where
    stackyard's estimators and processors take one (``instance_count`` ...)."""

    template = "{}"

    def __init__(self, schema: dict[str, Any] | None = None, *, name: str | int | None = None,
                 type: type | None = None, parent: Placeholder | None = None) -> None:
        self.store: dict[str | int, Placeholder] = {}
        self.name, self.type, self.parent = name, type, parent
        self.schema = schema
        self.immutable = False
        if schema:
            self._set_schema(schema, [])
            self._freeze()

    def _set_schema(self, schema: dict[str, Any], path: list[str]) -> None:
        for key, value in schema.items():
            if isinstance(value, dict):
                self._set_schema(value, [*path, key])
            else:
                node = self
                for part in path:
                    node = node.get(part, dict)
                node.get(key, value)

    def _freeze(self) -> None:
        for child in self.store.values():
            child._freeze()
        self.immutable = True

    def _child(self, name: str | int, kind: type | None = None) -> Placeholder:
        if self.immutable:
            raise DefinitionError(f"placeholder {name!r} is not in the schema of "
                                  f"{self.to_jsonpath()}; add it to the schema")
        return self.__class__(name=name, type=kind, parent=self)

    def get(self, name: str | int, type: type) -> Placeholder:
        """The variable ``name`` of ``type``; the same name with another type is an error."""
        _check_key(name)
        if name in self.store:
            if self.store[name].type != type:
                raise DefinitionError(f"placeholder {name!r} already has type "
                                      f"{self.store[name].type}, not {type}")
            return self.store[name]
        self.store[name] = self._child(name, type)
        return self.store[name]

    def __getitem__(self, name: str | int) -> Placeholder:
        _check_key(name)
        if name not in self.store:
            self.store[name] = self._child(name)
        return self.store[name]

    def contains(self, other: Placeholder) -> bool:
        return any(v is other or v.contains(other) for v in self.store.values())

    def __contains__(self, other: Placeholder) -> bool:
        return self.contains(other)

    def _path(self) -> list[str | int]:
        path: list[str | int] = []
        node: Placeholder | None = self
        while node is not None and node.name is not None:
            path.append(node.name)
            node = node.parent
        return path[::-1]

    def to_jsonpath(self) -> str:
        return self.template.format("".join(
            f"['{p}']" if isinstance(p, str) else f"[{p}]" for p in self._path()))

    @property
    def expr(self) -> str:
        return self.to_jsonpath()

    def get_schema_as_dict(self) -> dict[str, Any]:
        return {k: (v.type or str) if not v.store else v.get_schema_as_dict()
                for k, v in self.store.items()}

    def get_schema_as_json(self, pretty: bool = False) -> str:
        def names(d: dict[str, Any]) -> dict[str, Any]:
            return {k: names(v) if isinstance(v, dict) else v.__name__ for k, v in d.items()}

        return json.dumps(names(self.get_schema_as_dict()), indent=4 if pretty else None)

    def validate(self, value: Any) -> tuple[bool, list[str], list[tuple[str, Any, Any]]]:
        """``(valid, keys_missing, keys_type_mismatch)`` of ``value`` against the schema
        (nested keys joined with '/', as the SDK reports them)."""
        if value is None:
            return False, [], []
        want, got = _flatten(self.get_schema_as_dict()), _flatten(value)
        missing = [k for k in want if k not in got]
        wrong = [(k, want[k], type(v)) for k, v in got.items()
                 if k in want and not isinstance(v, want[k])]
        return not missing and not wrong, missing, wrong


class ExecutionInput(Placeholder):
    """The execution's input: ``$$.Execution.Input[...]``, readable from any state."""

    template = "$$.Execution.Input{}"


class StepInput(Placeholder):
    """The state's own input: ``$[...]`` (what ``state.output()`` of the previous state
    hands on)."""

    template = "${}"


def _check_key(name: Any) -> None:
    if not isinstance(name, str | int) or isinstance(name, bool):
        raise DefinitionError(f"placeholder key {name!r}: a string or an integer")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (d.items() if isinstance(d, dict) else ()):
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def replace_placeholders(value: Any, where: str) -> Any:
    """``Parameters`` with each placeholder value turned into a ``"key.$": path`` pair."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, Placeholder):
                out[f"{k}.$"] = v.to_jsonpath()
            else:
                out[k] = replace_placeholders(v, f"{where}.{k}")
        return out
    if isinstance(value, list):
        if any(isinstance(v, Placeholder) for v in value):
            raise DefinitionError(f"{where}: a placeholder directly inside a list has no "
                                  "ASL form; build the list with States.Array(...) in a "
                                  "'key.$' field instead")
        return [replace_placeholders(v, where) for v in value]
    return value


# --- blocks -------------------------------------------------------------------------------
class Block:
    """Fields given as snake_case keywords become PascalCase ASL fields; a keyword the
    block does not have is a ``TypeError`` naming it."""

    allowed: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in self.allowed:
                raise TypeError(f"{type(self).__name__}: field {key!r} is not supported "
                                f"(fields: {', '.join(self.allowed)})")
        self.fields: dict[str, Any] = dict(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "fields":  # not set yet (during unpickling)
            raise AttributeError(name)
        return self.fields.get(name)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in self.fields.items():
            if value is not None or key in _NULLABLE:
                result[_pascal(key)] = (replace_placeholders(value, f"{self._label()}Parameters")
                                        if key == "parameters" else value)
        return result

    def _label(self) -> str:
        state_id = getattr(self, "state_id", None)
        return f"state {state_id!r}: " if state_id else ""

    def to_json(self, pretty: bool = False) -> str:
        return json.dumps(self.to_dict(), indent=4 if pretty else None)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{type(self).__name__}({args})"


class Retry(Block):
    """A retrier: ``error_equals``, ``interval_seconds``, ``max_attempts``, ``backoff_rate``
    (the SDK's fields), plus ASL's newer ``max_delay_seconds`` and ``jitter_strategy``."""

    allowed = ("error_equals", "interval_seconds", "max_attempts", "backoff_rate",
               "max_delay_seconds", "jitter_strategy")


class Catch(Block):
    """A catcher: on ``error_equals``, go to ``next_step`` (a state or chain)."""

    allowed = ("error_equals", "result_path")

    def __init__(self, next_step: State | Chain, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.next_step = next_step

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "Next": self.next_step.state_id}


class State(Block):
    """A named state; ``next()`` links it, ``add_retry``/``add_catch`` add error handling."""

    state_type = ""

    def __init__(self, state_id: str, output_schema: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        if not isinstance(state_id, str) or not state_id or len(state_id) > 80:
            raise DefinitionError(f"state name {state_id!r}: 1 to 80 characters")
        super().__init__(**kwargs)
        self.fields["type"] = self.state_type
        self.state_id = state_id
        self.output_schema = output_schema
        self.step_output = StepInput(schema=output_schema)
        self.retries: list[Retry] = []
        self.catches: list[Catch] = []
        self.next_step: State | Chain | None = None

    def __repr__(self) -> str:
        return f"{self.state_id} {super().__repr__()}"

    def __str__(self) -> str:
        return self.to_json(pretty=True)

    @property
    def type(self) -> str:
        return self.state_type

    def update_parameters(self, params: Any) -> None:
        if "parameters" in self.allowed:
            self.fields["parameters"] = params

    def next(self, next_step: State | Chain) -> State | Chain:
        """Go to ``next_step`` after this state; returns it, so calls chain."""
        if self.state_type in ("Succeed", "Fail"):
            raise DefinitionError(f"{self.state_type} state {self.state_id!r} ends the "
                                  "execution and has no next state")
        self.next_step = next_step
        return next_step

    def output(self) -> StepInput:
        return self.step_output

    def add_retry(self, retry: Retry | list[Retry]) -> None:
        if "retry" not in self.allowed:
            raise DefinitionError(f"{type(self).__name__} state does not support retry")
        self.retries.extend(retry if isinstance(retry, list) else [retry])

    def add_catch(self, catch: Catch | list[Catch]) -> None:
        if "catch" not in self.allowed:
            raise DefinitionError(f"{type(self).__name__} state does not support catch")
        self.catches.extend(catch if isinstance(catch, list) else [catch])

    def successors(self) -> list[State | Chain]:
        return [s for s in (self.next_step, *(c.next_step for c in self.catches))
                if s is not None]

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        if self.next_step is not None:
            result["Next"] = self.next_step.state_id
        elif self.state_type not in ("Succeed", "Fail", "Choice"):
            result["End"] = True
        if self.retries:
            result["Retry"] = [r.to_dict() for r in self.retries]
        if self.catches:
            result["Catch"] = [c.to_dict() for c in self.catches]
        return result


class _Retryable(State):
    """Task, Parallel and Map: ``retry=`` and ``catch=`` as constructor arguments too."""

    def __init__(self, state_id: str, retry: Retry | list[Retry] | None = None,
                 catch: Catch | list[Catch] | None = None, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        if retry:
            self.add_retry(retry)
        if catch:
            self.add_catch(catch)


class Pass(State):
    state_type = "Pass"
    allowed = (*_COMMON, "result")


class Succeed(State):
    state_type = "Succeed"
    allowed = ("comment", "input_path", "output_path")


class Fail(State):
    state_type = "Fail"
    allowed = ("comment", "error", "cause")


class Wait(State):
    """Exactly one of ``seconds``, ``timestamp``, ``seconds_path``, ``timestamp_path``."""

    state_type = "Wait"
    allowed = ("comment", "input_path", "output_path", "seconds", "timestamp",
               "seconds_path", "timestamp_path")

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        given = [k for k in ("seconds", "timestamp", "timestamp_path", "seconds_path")
                 if self.fields.get(k) is not None]
        if len(given) != 1:
            raise DefinitionError(f"Wait state {state_id!r} needs exactly one of seconds, "
                                  f"seconds_path, timestamp, timestamp_path (got "
                                  f"{', '.join(given) or 'none'})")


class Choice(State):
    """Rules tried in order (``add_choice``); ``default_choice`` when none matches. In a
    chain, the state after a Choice becomes its default."""

    state_type = "Choice"
    allowed = ("comment", "input_path", "output_path")

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self.choices: list[tuple[BaseRule, State | Chain]] = []
        self.default: State | Chain | None = None

    def add_choice(self, rule: BaseRule, next_step: State | Chain) -> None:
        self.choices.append((rule, next_step))

    def default_choice(self, next_step: State | Chain) -> None:
        self.default = next_step

    def next(self, next_step: State | Chain) -> State | Chain:
        self.default_choice(next_step)
        return next_step

    def successors(self) -> list[State | Chain]:
        return [s for s in (self.default, *(n for _, n in self.choices)) if s is not None]

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        result["Choices"] = [{**rule.to_dict(), "Next": nxt.state_id}
                             for rule, nxt in self.choices]
        if self.default is not None:
            result["Default"] = self.default.state_id
        return result


class Parallel(_Retryable):
    """Runs each branch (``add_branch``: a state or chain) with the same input; the
    output is the list of the branches' outputs."""

    state_type = "Parallel"
    allowed = (*_COMMON, "retry", "catch")

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self.branches: list[State | Chain] = []

    def add_branch(self, branch: State | Chain) -> None:
        self.branches.append(branch)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "Branches": [Graph(b).to_dict() for b in self.branches]}


class Map(_Retryable):
    """Runs ``iterator`` (a state or chain) once per item of ``items_path``."""

    state_type = "Map"
    allowed = (*_COMMON, "retry", "catch", "items_path", "iterator", "max_concurrency")

    def attach_iterator(self, iterator: State | Chain) -> None:
        self.fields["iterator"] = iterator

    def to_dict(self) -> dict[str, Any]:
        result = super().to_dict()
        result["Iterator"] = Graph(self.fields.get("iterator")).to_dict()
        return result


class Task(_Retryable):
    """Runs ``resource`` (an ARN: a SageMaker job, a Lambda function, an SNS topic...)."""

    state_type = "Task"
    allowed = (*_COMMON, "timeout_seconds", "timeout_seconds_path", "heartbeat_seconds",
               "heartbeat_seconds_path", "resource", "retry", "catch")

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        for what in ("timeout_seconds", "heartbeat_seconds"):
            if self.fields.get(what) is not None and self.fields.get(f"{what}_path") is not None:
                raise DefinitionError(f"Task {state_id!r}: give {what} or {what}_path, "
                                      "not both")


# --- chains and graphs --------------------------------------------------------------------
class Chain:
    """States linked in order (each one's ``next`` is the one after it); a chain inside
    the list is spliced in. A state may appear once."""

    def __init__(self, steps: list[State | Chain] | None = None) -> None:
        if steps is not None and not isinstance(steps, list):
            raise DefinitionError("Chain takes a list of states")
        self.steps: list[State] = []
        expanded = [s for step in steps or []
                    for s in (step.steps if isinstance(step, Chain) else [step])]
        for i, step in enumerate(expanded):  # before linking any: a refused chain links none
            if any(s is step for s in expanded[:i]):
                raise DefinitionError(f"state {step.state_id!r} appears twice in the chain")
        for step in expanded:
            self.append(step)

    def __iter__(self) -> Any:
        return iter(self.steps)

    @property
    def state_id(self) -> str:
        if not self.steps:
            raise DefinitionError("the chain is empty")
        return self.steps[0].state_id

    def append(self, step: State) -> None:
        if any(s is step for s in self.steps):
            raise DefinitionError(f"state {step.state_id!r} is already in this chain")
        if self.steps:
            self.steps[-1].next(step)
        self.steps.append(step)

    def __repr__(self) -> str:
        return f"Chain(steps={self.steps!r})"


def _visit(start: State | Chain, states: dict[str, dict[str, Any]]) -> None:
    """Every state reachable from ``start`` (next, catches, default, choices), compiled
    once, depth first as the SDK orders them. Two different states with one name are an
    error, as is a placeholder in a state's ``Parameters`` that the output of the state
    before it does not hold. (A loop, not recursion: a chain may be thousands long.)"""
    stack: list[Any] = [start]
    while stack:
        state = stack.pop()
        if isinstance(state, Chain):
            stack.extend(reversed(state.steps))
            continue
        if not isinstance(state, State):
            raise DefinitionError(f"expected a state or chain, got {state!r}")
        compiled = state.to_dict()
        if state.state_id in states:
            if states[state.state_id] != compiled:
                raise DefinitionError(f"two different states are named {state.state_id!r}; "
                                      "state names must be unique in a workflow")
            continue
        states[state.state_id] = compiled
        _check_step_inputs(state)
        stack.extend(reversed(state.successors()))


def _check_step_inputs(state: State) -> None:
    nxt = state.next_step
    nxt = nxt.steps[0] if isinstance(nxt, Chain) and nxt.steps else nxt
    params = nxt.fields.get("parameters") if isinstance(nxt, State) else None

    def walk(value: Any, key: str) -> None:
        if isinstance(value, StepInput) and not (value is state.step_output
                                                 or state.step_output.contains(value)):
            raise DefinitionError(f"state {nxt.state_id!r} uses an illegal placeholder for "
                                  f"the {key!r} parameter: it is not an output of "
                                  f"{state.state_id!r}, the state before it")
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)

    walk(params, "Parameters")


class Graph(Block):
    """A branch as a state machine definition: ``StartAt`` and ``States``."""

    allowed = ("timeout_seconds", "comment", "version")

    def __init__(self, branch: State | Chain, **kwargs: Any) -> None:
        if not isinstance(branch, State | Chain):
            raise DefinitionError(f"expected a state or chain as a branch, got {branch!r}")
        super().__init__(**kwargs)
        self.branch = branch
        self.start_at = branch.state_id  # an empty chain has none: refused now, not later
        self.states: dict[str, dict[str, Any]] = {}
        _visit(branch, self.states)

    def contains(self, state: State) -> bool:
        return state.state_id in self.states

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "StartAt": self.start_at, "States": self.states}


class FrozenGraph(Graph):
    """A definition already in ASL form (a dict), taken as it is."""

    def __init__(self, definition: dict[str, Any]) -> None:
        if not isinstance(definition, dict):
            raise DefinitionError(f"expected the definition as a dict, got "
                                  f"{type(definition).__name__}")
        self.fields = {}
        self.definition = definition

    def to_dict(self) -> dict[str, Any]:
        return self.definition

    @classmethod
    def from_json(cls, text: str) -> FrozenGraph:
        return cls(json.loads(text))


# --- choice rules -------------------------------------------------------------------------
_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,), "Numeric": (int, float), "Boolean": (bool,), "Timestamp": (str,),
    "Is": (bool,),
}


class BaseRule:
    def to_dict(self) -> dict[str, Any]:
        return {}

    def __str__(self) -> str:
        return str(self.to_dict())


class Rule(BaseRule):
    """``{"Variable": variable, operator: value}``; the value's type is checked against the
    operator (a ``...Path`` operator takes a path or placeholder)."""

    def __init__(self, variable: str | StepInput, operator: str, value: Any) -> None:
        if not isinstance(variable, StepInput) and not str(variable).startswith("$"):
            raise DefinitionError(f"choice rule variable {variable!r} must be a placeholder "
                                  "or a path starting with '$'")
        if operator.endswith("Path"):
            if not isinstance(value, Placeholder) and not str(value).startswith("$"):
                raise DefinitionError(f"{operator} value {value!r} must be a placeholder "
                                      "or a path starting with '$'")
        else:
            for prefix, types in _VALUE_TYPES.items():
                numeric_bool = prefix == "Numeric" and isinstance(value, bool)
                if operator.startswith(prefix) and (not isinstance(value, types)
                                                    or numeric_bool):
                    raise DefinitionError(f"{operator} needs a {prefix} value, got {value!r}")
        self.variable, self.operator, self.value = variable, operator, value

    def to_dict(self) -> dict[str, Any]:
        var = self.variable
        value = self.value.to_jsonpath() if isinstance(self.value, Placeholder) else self.value
        return {"Variable": var.to_jsonpath() if isinstance(var, Placeholder) else var,
                self.operator: value}

    def __repr__(self) -> str:
        return f"Rule(variable={self.variable!r}, operator={self.operator!r}, " \
               f"value={self.value!r})"


class CompoundRule(BaseRule):
    def __init__(self, operator: str, rules: list[BaseRule]) -> None:
        for rule in rules:
            if not isinstance(rule, BaseRule):
                raise DefinitionError(f"{operator}: {rule!r} is not a choice rule")
        self.operator, self.rules = operator, rules

    def to_dict(self) -> dict[str, Any]:
        return {self.operator: [r.to_dict() for r in self.rules]}


class NotRule(BaseRule):
    def __init__(self, rule: BaseRule) -> None:
        if not isinstance(rule, BaseRule):
            raise DefinitionError(f"Not: {rule!r} is not a choice rule")
        self.rule = rule

    def to_dict(self) -> dict[str, Any]:
        return {"Not": self.rule.to_dict()}


_OPERATORS = [
    f"{kind}{op}{path}"
    for kind, ops in (("String", ("Equals", "LessThan", "GreaterThan", "LessThanEquals",
                                  "GreaterThanEquals")),
                      ("Numeric", ("Equals", "LessThan", "GreaterThan", "LessThanEquals",
                                   "GreaterThanEquals")),
                      ("Boolean", ("Equals",)),
                      ("Timestamp", ("Equals", "LessThan", "GreaterThan", "LessThanEquals",
                                     "GreaterThanEquals")))
    for op in ops for path in ("", "Path")
] + ["IsNull", "IsPresent", "IsString", "IsNumeric", "IsTimestamp", "IsBoolean",
     "StringMatches"]


class ChoiceRule:
    """Factory of rules: ``ChoiceRule.NumericEquals("$.n", 1)``, ``ChoiceRule.And([...])``,
    ``ChoiceRule.Not(rule)``; one class method per ASL comparison operator."""

    @staticmethod
    def And(rules: list[BaseRule]) -> CompoundRule:
        return CompoundRule("And", rules)

    @staticmethod
    def Or(rules: list[BaseRule]) -> CompoundRule:
        return CompoundRule("Or", rules)

    @staticmethod
    def Not(rule: BaseRule) -> NotRule:
        return NotRule(rule)


def _factory(operator: str) -> Any:
    def make(variable: str | StepInput, value: Any) -> Rule:
        return Rule(variable, operator, value)

    make.__name__ = make.__qualname__ = operator
    make.__doc__ = f"A rule with the ``{operator}`` operator."
    return staticmethod(make)


for _op in _OPERATORS:
    setattr(ChoiceRule, _op, _factory(_op))
