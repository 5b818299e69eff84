"""The conformance table (``tests/states/conformance``) through the durable executor: the
same output, error and cause as the pure reference driver and AWS's recorded answers."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from test_conformance import CASES, as_definition, expected_output

from stackyard.states import StateMachine
from stackyard.states._errors import DefinitionError


def _runnable(case: dict[str, Any]) -> bool:
    """Cases whose answer does not hang on the reference driver's virtual clock."""
    text = json.dumps(as_definition(case))
    return as_definition(case) is not None and '"Wait"' not in text and \
        "StartTime" not in text and "EnteredTime" not in text


# every third runnable case keeps this file quick; all of them pass (STATES_ALL_CASES=1)
SUBSET = [c for i, c in enumerate(c for c in CASES if _runnable(c))
          if os.environ.get("STATES_ALL_CASES") or i % 3 == 0]


@pytest.mark.parametrize("case", SUBSET, ids=lambda c: f"{c['table']}:{c['id']}")
def test_case_through_the_executor(case: dict[str, Any]) -> None:
    if case.get("definition_error"):
        with pytest.raises(DefinitionError):
            StateMachine.create("machine", as_definition(case))
        return
    machine = StateMachine.create("machine", as_definition(case))
    desc = machine.start_execution(case.get("input"), name="exec").describe()
    if "error" in case:
        assert (desc["status"], desc.get("error")) == (case.get("status", "FAILED"),
                                                       case["error"]), desc.get("cause")
        if "cause" in case:
            assert desc.get("cause") == case["cause"]
        return
    assert desc["status"] == case.get("status", "SUCCEEDED"), (desc.get("error"),
                                                                desc.get("cause"))
    if desc["status"] == "SUCCEEDED" and not case.get("nondeterministic"):
        assert json.loads(desc["output"]) == expected_output(case)
