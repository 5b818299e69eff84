"""The conformance suite: every case in ``tests/states/conformance/*.json`` through the pure
functions and, as a whole definition, through ``states._local.run_definition``.

A case is one of (see ``conformance/README.md``):
* ``definition`` + ``input`` → ``output`` | ``error`` (+ ``cause``) | ``status``;
* ``state`` (one state, run as the only state of a machine) — same expectations;
* ``rule`` (a Choice rule) + ``input`` → ``match`` (true/false) or ``error``/``cause``;
* ``intrinsic`` (a call) + ``input`` → ``output`` or ``error``/``cause``;
* ``path`` + ``input`` → ``output`` or ``error`` (the Jayway message);
* ``invalid`` (a definition ``CreateStateMachine`` refuses) → ``code``, ``state``, ``field``.
``as_definition(case)`` turns the first five into a full definition so the durable
executor can run the same table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stackyard.states._choice import evaluate_rule
from stackyard.states._errors import DefinitionError, StatesError
from stackyard.states._local import run_definition
from stackyard.states._paths import PathNotFound, select
from stackyard.states._validate import validate

TABLES = Path(__file__).parent / "conformance"
START = datetime(2024, 1, 1, tzinfo=UTC)


def load_cases() -> list[dict[str, Any]]:
    cases = []
    for table in sorted(TABLES.glob("*.json")):
        for case in json.loads(table.read_text())["cases"]:
            cases.append({**case, "table": table.stem})
    return cases


CASES = load_cases()


def as_definition(case: dict[str, Any]) -> dict[str, Any] | None:
    """The whole definition a case runs as (None for ``path``/``invalid`` cases)."""
    if "definition" in case:
        return case["definition"]
    if "state" in case:
        state = dict(case["state"])
        if state["Type"] not in ("Succeed", "Fail", "Choice"):
            state["End"] = True
        return {"StartAt": "S", "States": {"S": state}}
    if "rule" in case:
        return {"StartAt": "S", "States": {
            "S": {"Type": "Choice", "Choices": [{**case["rule"], "Next": "T"}],
                  "Default": "F"},
            "T": {"Type": "Pass", "Result": True, "End": True},
            "F": {"Type": "Pass", "Result": False, "End": True}}}
    if "intrinsic" in case:
        return {"StartAt": "S", "States": {
            "S": {"Type": "Pass", "Parameters": {"r.$": case["intrinsic"]}, "End": True}}}
    return None


def expected_output(case: dict[str, Any]) -> Any:
    if "rule" in case:
        return case.get("match")
    if "intrinsic" in case:
        return {"r": case["output"]} if "output" in case else None
    return case.get("output")


def _id(case: dict[str, Any]) -> str:
    return f"{case['table']}:{case['id']}"


@pytest.mark.parametrize("case", [c for c in CASES if as_definition(c) is not None], ids=_id)
def test_whole_definition(case: dict[str, Any]) -> None:
    if case.get("definition_error"):
        with pytest.raises(DefinitionError):
            run_definition(as_definition(case), case.get("input"))
        return
    status, output, error, cause = run_definition(as_definition(case), case.get("input"),
                                                  name="exec", state_machine="machine",
                                                  start=START)
    if "error" in case:
        assert (status, error) == (case.get("status", "FAILED"), case["error"]), cause
        if "cause" in case:
            assert cause == case["cause"]
        return
    assert status == case.get("status", "SUCCEEDED"), (error, cause)
    if case.get("status", "SUCCEEDED") == "SUCCEEDED" and not case.get("nondeterministic"):
        assert output == expected_output(case)


@pytest.mark.parametrize("case", [c for c in CASES if "rule" in c], ids=_id)
def test_choice_rule(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(StatesError) as e:
            evaluate_rule(case["rule"], case["input"])
        assert e.value.error == case["error"]
    else:
        assert evaluate_rule(case["rule"], case["input"]) is case["match"]


@pytest.mark.parametrize("case", [c for c in CASES if "path" in c], ids=_id)
def test_path(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PathNotFound) as e:
            select(case["path"], case["input"])
        assert str(e.value) == case["error"]
    else:
        assert select(case["path"], case["input"]) == case["output"]


@pytest.mark.parametrize("case", [c for c in CASES if "invalid" in c], ids=_id)
def test_refused_definition(case: dict[str, Any]) -> None:
    with pytest.raises(DefinitionError) as e:
        validate(case["invalid"], supported_resource=lambda r: r.startswith("arn:aws:states:::"))
    assert e.value.code == case["code"], str(e.value)
    assert (e.value.state, e.value.field) == (case.get("state"), case.get("field")), str(e.value)


def test_the_suite_is_large() -> None:
    """The README quotes the case count; keep the table from shrinking unnoticed."""
    assert len(CASES) >= 600
