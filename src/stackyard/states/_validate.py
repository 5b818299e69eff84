"""Definition validation, as ``CreateStateMachine`` does it, before anything runs.

Every refusal is a ``DefinitionError`` whose message names the state and the field, with
AWS's code and a JSON pointer (``SCHEMA_VALIDATION_FAILED: ... at /States/Train/Retry/0``).
The rules are data (``FIELDS`` per state type) so a new field is one line. Checked:
JSON (duplicate keys included), ``StartAt``, state types and their allowed fields,
missing/unknown ``Next``, ``End``, unreachable states, duplicate names across branches,
paths, payload templates and intrinsic calls, Choice rules, Retry/Catch shapes and
``States.ALL`` placement, Wait fields, nested Parallel branches and Map
``ItemProcessor``/``Iterator``; a Task's ``Resource`` is refused by name unless
``supported_resource`` accepts it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from stackyard.states._choice import COMPARISONS, OPERATORS, TYPE_TESTS
from stackyard.states._errors import ALL, PREDEFINED, DefinitionError
from stackyard.states._intrinsics import IntrinsicSyntaxError
from stackyard.states._intrinsics import parse as parse_intrinsic
from stackyard.states._paths import PathSyntaxError, parse
from stackyard.states._wait import parse_timestamp

SCHEMA = "SCHEMA_VALIDATION_FAILED"
MAX_STATE_NAME = 80
MAX_RETRY_ATTEMPTS = 99_999_999
MAX_DELAY_SECONDS = 31_622_400

_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_RESULT = {"ResultPath", "ResultSelector", "Retry", "Catch", "Parameters"}
COMMON = {"Type", "Comment"}
FIELDS: dict[str, set[str]] = {
    "Pass": COMMON | _IO | _FLOW | {"ResultPath", "Parameters", "Result"},
    "Task": COMMON | _IO | _FLOW | _RESULT | {"Resource", "TimeoutSeconds",
                                             "TimeoutSecondsPath", "HeartbeatSeconds",
                                             "HeartbeatSecondsPath", "Credentials"},
    "Choice": COMMON | _IO | {"Choices", "Default"},
    "Wait": COMMON | _IO | _FLOW | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": COMMON | _IO,
    "Fail": COMMON | {"Error", "Cause", "ErrorPath", "CausePath"},
    "Parallel": COMMON | _IO | _FLOW | _RESULT | {"Branches"},
    "Map": COMMON | _IO | _FLOW | _RESULT | {
        "ItemSelector", "ItemsPath", "ItemProcessor", "Iterator", "MaxConcurrency",
        "MaxConcurrencyPath", "ItemReader", "ResultWriter", "ItemBatcher",
        "ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath", "Label"},
}
TOP_LEVEL = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
RETRIER = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
           "JitterStrategy", "Comment"}
CATCHER = {"ErrorEquals", "Next", "ResultPath", "Comment"}
S3_READERS = ("arn:aws:states:::s3:listObjectsV2", "arn:aws:states:::s3:getObject")
S3_WRITER = "arn:aws:states:::s3:putObject"
S3_INPUT_TYPES = ("CSV", "JSON", "JSONL")       # MANIFEST (S3 inventory) is not read


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DefinitionError("INVALID_JSON_DESCRIPTION", f"Duplicate key {key!r}",
                                  field=key)
        seen[key] = value
    return seen


def validate(definition: str | dict, *, supported_resource: Callable[[str], bool]) -> dict:
    """The definition as a dict, or ``DefinitionError`` naming the state and field."""
    if isinstance(definition, str):
        try:
            parsed = json.loads(definition, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as e:
            raise DefinitionError("INVALID_JSON_DESCRIPTION",
                                  f"Unexpected JSON: {e.msg} (line {e.lineno}, column "
                                  f"{e.colno})") from None
        except RecursionError:   # json's C decoder recurses once per level of nesting
            raise DefinitionError("INVALID_JSON_DESCRIPTION",
                                  "Unexpected JSON: nested too deeply") from None
    else:
        parsed = definition
    if not isinstance(parsed, dict):
        raise DefinitionError(SCHEMA, "The definition must be a JSON object")
    if parsed.get("QueryLanguage", "JSONPath") != "JSONPath":
        raise DefinitionError(SCHEMA, f"QueryLanguage {parsed['QueryLanguage']!r} is not "
                                      "supported; use JSONPath", field="QueryLanguage",
                              pointer="/QueryLanguage")
    _unknown(parsed, TOP_LEVEL, None, "")
    if "TimeoutSeconds" in parsed:
        _positive_int(parsed, "TimeoutSeconds", None, "")
    _Checker(supported_resource).machine(parsed, "")
    return parsed


def _fail(message: str, state: str | None, field: str | None, pointer: str,
          code: str = SCHEMA) -> DefinitionError:
    return DefinitionError(code, message, state=state, field=field, pointer=pointer)


def _unknown(obj: dict, allowed: set[str], state: str | None, base: str) -> None:
    for key in obj:
        if key not in allowed:
            raise _fail(f"Field '{key}' is not supported here (allowed: "
                        f"{', '.join(sorted(allowed))})", state, key, f"{base}/{key}")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _positive_int(obj: dict, key: str, state: str | None, base: str) -> None:
    if not _int(obj[key]) or obj[key] < 1:
        raise _fail(f"The value for the field '{key}' must be a positive integer",
                    state, key, f"{base}/{key}")


def _path(value: Any, state: str | None, field: str, pointer: str, *, reference: bool = False,
          nullable: bool = False, context: bool = True, names_only: bool = False) -> None:
    if value is None and nullable:
        return
    kind = "reference path" if reference else "JSONPath"
    if not isinstance(value, str):
        raise _fail(f"The value for the field '{field}' must be a valid {kind}", state, field,
                    pointer)
    try:
        parsed = parse(value)
    except PathSyntaxError as e:
        raise _fail(f"The value for the field '{field}' must be a valid {kind}: {e}",
                    state, field, pointer) from None
    if parsed.context and not context:
        raise _fail(f"The field '{field}' may not refer to the context object ($$): {value!r}",
                    state, field, pointer)
    if reference and not parsed.definite:
        raise _fail(f"The value for the field '{field}' must be a reference path (names and "
                    f"indices only, no '*', '..', slices, unions or filters): {value!r}",
                    state, field, pointer)
    if names_only and any(s.kind != "name" for s in parsed.steps):
        raise _fail(f"The field '{field}' may only name object fields: {value!r}", state,
                    field, pointer)


def _intrinsic(value: str, state: str | None, field: str, pointer: str) -> None:
    try:
        parse_intrinsic(value)
    except IntrinsicSyntaxError as e:
        raise _fail(f"The value for the field '{field}' must be a valid JSONPath or a valid "
                    f"intrinsic function call: {e}", state, field, pointer) from None


def _template(template: Any, state: str, field: str, pointer: str) -> None:
    if isinstance(template, list):
        for i, v in enumerate(template):
            _template(v, state, field, f"{pointer}/{i}")
        return
    if not isinstance(template, dict):
        return
    for key, value in template.items():
        where = f"{pointer}/{key}"
        if not key.endswith(".$"):
            _template(value, state, key, where)
            continue
        if key[:-2] in template:
            raise _fail(f"The field '{key[:-2]}' appears twice (as '{key[:-2]}' and "
                        f"'{key}')", state, key, where)
        if isinstance(value, str) and value.startswith("States."):
            _intrinsic(value, state, key, where)
        else:
            _path(value, state, key, where)


class _Checker:
    def __init__(self, supported_resource: Callable[[str], bool]) -> None:
        self.supported = supported_resource
        self.names: dict[str, str] = {}

    def machine(self, m: Any, base: str) -> None:
        if not isinstance(m, dict):
            raise _fail("A state machine must be a JSON object", None, None, base or "/")
        if "StartAt" not in m:
            raise _fail("The field 'StartAt' is required", None, "StartAt", f"{base}/StartAt")
        states = m.get("States")
        if not isinstance(states, dict) or not states:
            raise _fail("The field 'States' must be a non-empty object", None, "States",
                        f"{base}/States")
        if not isinstance(m["StartAt"], str) or m["StartAt"] not in states:
            raise _fail(f"Missing 'Next' target: {m['StartAt']}", None, "StartAt",
                        f"{base}/StartAt", "MISSING_TRANSITION_TARGET")
        for name, state in states.items():
            where = f"{base}/States/{name}"
            if name in self.names:
                raise _fail(f"Duplicate State name: {name}", name, None, where,
                            "DUPLICATE_STATE_NAME")
            self.names[name] = where
            if not name or len(name) > MAX_STATE_NAME:
                raise _fail(f"A state name must be 1 to {MAX_STATE_NAME} characters",
                            name, None, where)
            self.state(name, state, states, where)
        self._reachable(m["StartAt"], states, base)

    def _reachable(self, start: str, states: dict, base: str) -> None:
        seen, todo = {start}, [start]
        while todo:
            state = states[todo.pop()]
            targets = [state.get("Next"), state.get("Default")]
            targets += [c.get("Next") for c in state.get("Choices", [])]
            targets += [c.get("Next") for c in state.get("Catch", [])]
            for t in targets:
                if isinstance(t, str) and t not in seen:
                    seen.add(t)
                    todo.append(t)
        for name in states:
            if name not in seen:
                raise _fail(f"State \"{name}\" is not reachable.", name, None,
                            f"{base}/States/{name}", "UNREACHABLE_STATE")

    def _target(self, target: Any, states: dict, name: str, field: str, pointer: str) -> None:
        if not isinstance(target, str) or target not in states:
            raise _fail(f"Missing 'Next' target: {target}", name, field, pointer,
                        "MISSING_TRANSITION_TARGET")

    def state(self, name: str, s: Any, states: dict, where: str) -> None:
        if not isinstance(s, dict):
            raise _fail("A state must be a JSON object", name, None, where)
        kind = s.get("Type")
        if not isinstance(kind, str) or kind not in FIELDS:
            raise _fail(f"The value for the field 'Type' must be one of "
                        f"{', '.join(FIELDS)}, not {kind!r}", name, "Type", f"{where}/Type")
        _unknown(s, FIELDS[kind], name, where)
        if _FLOW & FIELDS[kind]:
            has_next, has_end = "Next" in s, "End" in s
            if has_next == has_end:
                raise _fail("Exactly one of 'Next' and 'End' is required" if not has_next
                            else "'Next' and 'End' may not both be set", name,
                            "Next", f"{where}/Next")
            if has_end and s["End"] is not True:
                raise _fail("The value for the field 'End' must be true", name, "End",
                            f"{where}/End")
            if has_next:
                self._target(s["Next"], states, name, "Next", f"{where}/Next")
        for field in ("InputPath", "OutputPath"):
            if field in s:
                _path(s[field], name, field, f"{where}/{field}", nullable=True)
        if "ResultPath" in s:
            _path(s["ResultPath"], name, "ResultPath", f"{where}/ResultPath", reference=True,
                  nullable=True, context=False, names_only=True)
        for field in ("Parameters", "ResultSelector", "ItemSelector"):
            if field in s:
                if not isinstance(s[field], dict):
                    raise _fail(f"The value for the field '{field}' must be an object", name,
                                field, f"{where}/{field}")
                _template(s[field], name, field, f"{where}/{field}")
        for field in ("Retry", "Catch"):
            if field in s:
                self.handlers(name, field, s[field], states, f"{where}/{field}")
        getattr(self, f"type_{kind.lower()}")(name, s, states, where)

    def handlers(self, name: str, field: str, rules: Any, states: dict, where: str) -> None:
        if not isinstance(rules, list):
            raise _fail(f"The value for the field '{field}' must be an array", name, field,
                        where)
        for i, rule in enumerate(rules):
            at = f"{where}/{i}"
            if not isinstance(rule, dict):
                raise _fail(f"Each entry of '{field}' must be an object", name, field, at)
            _unknown(rule, RETRIER if field == "Retry" else CATCHER, name, at)
            errors = rule.get("ErrorEquals")
            if not isinstance(errors, list) or not errors or not all(
                    isinstance(e, str) for e in errors):
                raise _fail("The field 'ErrorEquals' must be a non-empty array of error names",
                            name, "ErrorEquals", f"{at}/ErrorEquals")
            for e in errors:
                if e.startswith("States.") and e not in PREDEFINED:
                    raise _fail(f"Unknown predefined error name {e!r}; names starting "
                                "'States.' are reserved", name, "ErrorEquals",
                                f"{at}/ErrorEquals")
            if ALL in errors and (len(errors) > 1 or i != len(rules) - 1):
                raise _fail(f"{ALL} must appear alone in its 'ErrorEquals' and only in the "
                            f"last {'retrier' if field == 'Retry' else 'catcher'}", name,
                            "ErrorEquals", f"{at}/ErrorEquals")
            if field == "Catch":
                if "Next" not in rule:
                    raise _fail("The field 'Next' is required in a catcher", name, "Next",
                                f"{at}/Next")
                self._target(rule["Next"], states, name, "Next", f"{at}/Next")
                if "ResultPath" in rule:
                    _path(rule["ResultPath"], name, "ResultPath", f"{at}/ResultPath",
                          reference=True, nullable=True, context=False, names_only=True)
                continue
            for key in ("IntervalSeconds", "MaxDelaySeconds"):
                if key in rule:
                    _positive_int(rule, key, name, at)
            if "MaxDelaySeconds" in rule and rule["MaxDelaySeconds"] >= MAX_DELAY_SECONDS:
                raise _fail(f"'MaxDelaySeconds' must be under {MAX_DELAY_SECONDS}", name,
                            "MaxDelaySeconds", f"{at}/MaxDelaySeconds")
            if "MaxAttempts" in rule and (not _int(rule["MaxAttempts"]) or not
                                          0 <= rule["MaxAttempts"] <= MAX_RETRY_ATTEMPTS):
                raise _fail(f"'MaxAttempts' must be an integer from 0 to {MAX_RETRY_ATTEMPTS}",
                            name, "MaxAttempts", f"{at}/MaxAttempts")
            if "BackoffRate" in rule and (not _number(rule["BackoffRate"])
                                          or rule["BackoffRate"] < 1.0):
                raise _fail("'BackoffRate' must be a number of at least 1.0", name,
                            "BackoffRate", f"{at}/BackoffRate")
            if rule.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
                raise _fail("'JitterStrategy' must be FULL or NONE", name, "JitterStrategy",
                            f"{at}/JitterStrategy")

    # --- per type ---------------------------------------------------------------------------
    def type_pass(self, name: str, s: dict, states: dict, where: str) -> None:
        pass

    def type_succeed(self, name: str, s: dict, states: dict, where: str) -> None:
        pass

    def type_task(self, name: str, s: dict, states: dict, where: str) -> None:
        resource = s.get("Resource")
        if not isinstance(resource, str):
            raise _fail("The field 'Resource' is required and must be a string", name,
                        "Resource", f"{where}/Resource")
        if not self.supported(resource):
            raise _fail(f"The resource provided {resource} is not supported by stackyard",
                        name, "Resource", f"{where}/Resource", "INVALID_RESOURCE")
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            if key in s and f"{key}Path" in s:
                raise _fail(f"'{key}' and '{key}Path' may not both be set", name, key,
                            f"{where}/{key}")
            if key in s:
                _positive_int(s, key, name, where)
            if f"{key}Path" in s:
                _path(s[f"{key}Path"], name, f"{key}Path", f"{where}/{key}Path",
                      reference=True)
        if "HeartbeatSeconds" in s and s["HeartbeatSeconds"] >= s.get("TimeoutSeconds", 99999999):
            raise _fail("'HeartbeatSeconds' must be smaller than 'TimeoutSeconds'", name,
                        "HeartbeatSeconds", f"{where}/HeartbeatSeconds")

    def type_fail(self, name: str, s: dict, states: dict, where: str) -> None:
        for key in ("Error", "Cause"):
            if key in s and f"{key}Path" in s:
                raise _fail(f"'{key}' and '{key}Path' may not both be set", name, key,
                            f"{where}/{key}")
            if key in s and not isinstance(s[key], str):
                raise _fail(f"The value for the field '{key}' must be a string", name, key,
                            f"{where}/{key}")
            path = s.get(f"{key}Path")
            if isinstance(path, str) and path.startswith("States."):
                _intrinsic(path, name, f"{key}Path", f"{where}/{key}Path")
            elif f"{key}Path" in s:
                _path(path, name, f"{key}Path", f"{where}/{key}Path", reference=True)

    def type_wait(self, name: str, s: dict, states: dict, where: str) -> None:
        given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in s]
        if len(given) != 1:
            raise _fail("Exactly one of 'Seconds', 'Timestamp', 'SecondsPath' and "
                        f"'TimestampPath' is required, got {given or 'none'}", name,
                        given[1] if len(given) > 1 else "Seconds", where)
        key = given[0]
        if key == "Seconds" and (not _int(s[key]) or s[key] < 0):
            raise _fail("The value for the field 'Seconds' must be a non-negative integer",
                        name, key, f"{where}/{key}")
        if key == "Timestamp" and parse_timestamp(s[key]) is None:
            raise _fail("The value for the field 'Timestamp' must be an RFC 3339 timestamp "
                        f"with an uppercase T and Z or an offset: {s[key]!r}", name, key,
                        f"{where}/{key}")
        if key.endswith("Path"):
            _path(s[key], name, key, f"{where}/{key}", reference=True)

    def type_choice(self, name: str, s: dict, states: dict, where: str) -> None:
        choices = s.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise _fail("The field 'Choices' must be a non-empty array", name, "Choices",
                        f"{where}/Choices")
        for i, rule in enumerate(choices):
            at = f"{where}/Choices/{i}"
            self.rule(name, rule, at, top=True)
            self._target(rule["Next"], states, name, "Next", f"{at}/Next")
        if "Default" in s:
            self._target(s["Default"], states, name, "Default", f"{where}/Default")

    def rule(self, name: str, rule: Any, at: str, top: bool) -> None:
        if not isinstance(rule, dict):
            raise _fail("A choice rule must be an object", name, "Choices", at)
        if top and "Next" not in rule:
            raise _fail("The field 'Next' is required in a top-level choice rule", name,
                        "Next", f"{at}/Next")
        if not top and "Next" in rule:
            raise _fail("A nested choice rule may not have 'Next'", name, "Next", f"{at}/Next")
        keys = set(rule) - {"Next", "Comment"}
        boolean = keys & {"And", "Or", "Not"}
        if boolean:
            if len(keys) != 1:
                raise _fail(f"A choice rule with {sorted(boolean)[0]!r} may have no other "
                            f"fields, got {sorted(keys)}", name, sorted(boolean)[0], at)
            op = boolean.pop()
            if op == "Not":
                self.rule(name, rule["Not"], f"{at}/Not", top=False)
                return
            if not isinstance(rule[op], list) or not rule[op]:
                raise _fail(f"The value for the field '{op}' must be a non-empty array", name,
                            op, f"{at}/{op}")
            for j, sub in enumerate(rule[op]):
                self.rule(name, sub, f"{at}/{op}/{j}", top=False)
            return
        if "Variable" not in rule:
            raise _fail("A choice rule needs 'Variable' and one comparison operator (or And/"
                        "Or/Not)", name, "Variable", f"{at}/Variable")
        _path(rule["Variable"], name, "Variable", f"{at}/Variable", reference=True)
        ops = keys - {"Variable"}
        unknown = ops - OPERATORS
        if unknown:
            raise _fail(f"Unknown comparison operator {sorted(unknown)[0]!r}", name,
                        sorted(unknown)[0], f"{at}/{sorted(unknown)[0]}")
        if len(ops) != 1:
            raise _fail(f"A choice rule needs exactly one comparison operator, got "
                        f"{sorted(ops) or 'none'}", name, "Variable", at)
        op = ops.pop()
        value = rule[op]
        where = f"{at}/{op}"
        if op in TYPE_TESTS:
            ok = isinstance(value, bool)
            want = "true or false"
        elif op == "StringMatches":
            ok, want = isinstance(value, str), "a string"
        else:
            kind, _, by_path = COMPARISONS[op]
            if by_path:
                _path(value, name, op, where, reference=True)
                return
            ok, want = {"String": (isinstance(value, str), "a string"),
                        "Numeric": (_number(value), "a number"),
                        "Boolean": (isinstance(value, bool), "true or false"),
                        "Timestamp": (parse_timestamp(value) is not None,
                                      "an RFC 3339 timestamp")}[kind]
        if not ok:
            raise _fail(f"The value for the field '{op}' must be {want}, not {value!r}", name,
                        op, where)

    def type_parallel(self, name: str, s: dict, states: dict, where: str) -> None:
        branches = s.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise _fail("The field 'Branches' must be a non-empty array", name, "Branches",
                        f"{where}/Branches")
        for i, branch in enumerate(branches):
            if isinstance(branch, dict):
                _unknown(branch, {"StartAt", "States", "Comment"}, name,
                         f"{where}/Branches/{i}")
            self.machine(branch, f"{where}/Branches/{i}")

    def _distributed(self, name: str, s: dict, processor: Any, where: str) -> None:
        """``ItemReader``, ``ItemBatcher`` and ``ResultWriter`` belong to a distributed Map,
        reading and writing through the S3 resources a local folder stands in for."""
        mode = ((processor.get("ProcessorConfig") or {}).get("Mode", "INLINE")
                if isinstance(processor, dict) else "INLINE")
        for key in ("ItemReader", "ItemBatcher", "ResultWriter"):
            if key in s and mode != "DISTRIBUTED":
                raise _fail(f"'{key}' needs ProcessorConfig.Mode DISTRIBUTED", name, key,
                            f"{where}/{key}")
            if key in s and not isinstance(s[key], dict):
                raise _fail(f"'{key}' must be an object", name, key, f"{where}/{key}")
        reader = s.get("ItemReader")
        if reader is not None:
            _unknown(reader, {"Resource", "Parameters", "ReaderConfig"}, name,
                     f"{where}/ItemReader")
            if reader.get("Resource") not in S3_READERS:
                raise _fail(f"ItemReader's Resource must be one of {', '.join(S3_READERS)}",
                            name, "ItemReader", f"{where}/ItemReader/Resource",
                            "INVALID_RESOURCE")
            config = reader.get("ReaderConfig") or {}
            kind = config.get("InputType")
            if reader["Resource"].endswith("getObject") and kind not in S3_INPUT_TYPES:
                raise _fail(f"ReaderConfig.InputType {kind!r} is not supported: one of "
                            f"{', '.join(S3_INPUT_TYPES)}", name, "ItemReader",
                            f"{where}/ItemReader/ReaderConfig/InputType")
        writer = s.get("ResultWriter")
        if writer is not None and writer.get("Resource") != S3_WRITER:
            raise _fail(f"ResultWriter's Resource must be {S3_WRITER}", name, "ResultWriter",
                        f"{where}/ResultWriter/Resource", "INVALID_RESOURCE")

    def type_map(self, name: str, s: dict, states: dict, where: str) -> None:
        if ("ItemProcessor" in s) == ("Iterator" in s):
            raise _fail("Exactly one of 'ItemProcessor' and 'Iterator' is required", name,
                        "ItemProcessor", f"{where}/ItemProcessor")
        if "Parameters" in s and "ItemSelector" in s:
            raise _fail("'Parameters' and 'ItemSelector' may not both be set", name,
                        "ItemSelector", f"{where}/ItemSelector")
        field = "ItemProcessor" if "ItemProcessor" in s else "Iterator"
        processor = s[field]
        if isinstance(processor, dict):
            _unknown(processor, {"StartAt", "States", "Comment", "ProcessorConfig"}, name,
                     f"{where}/{field}")
            mode = (processor.get("ProcessorConfig") or {}).get("Mode", "INLINE")
            if mode not in ("INLINE", "DISTRIBUTED"):
                raise _fail("'ProcessorConfig.Mode' must be INLINE or DISTRIBUTED", name,
                            "ProcessorConfig", f"{where}/{field}/ProcessorConfig")
        self.machine(processor, f"{where}/{field}")
        self._distributed(name, s, processor, where)
        if "ItemsPath" in s:
            _path(s["ItemsPath"], name, "ItemsPath", f"{where}/ItemsPath", reference=True)
        for key, lo, hi in (("MaxConcurrency", 0, None), ("ToleratedFailureCount", 0, None),
                            ("ToleratedFailurePercentage", 0, 100)):
            if key in s and f"{key}Path" in s:
                raise _fail(f"'{key}' and '{key}Path' may not both be set", name, key,
                            f"{where}/{key}")
            if key in s:
                value = s[key]
                good = (_number(value) if key == "ToleratedFailurePercentage" else _int(value))
                if not good or value < lo or (hi is not None and value > hi):
                    raise _fail(f"The value for the field '{key}' must be a number from {lo}"
                                + (f" to {hi}" if hi is not None else " up"), name, key,
                                f"{where}/{key}")
            if f"{key}Path" in s:
                _path(s[f"{key}Path"], name, f"{key}Path", f"{where}/{key}Path",
                      reference=True)
