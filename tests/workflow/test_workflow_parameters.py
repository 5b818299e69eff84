"""Typed parameters: values are checked (and CLI strings converted) before anything runs."""

from __future__ import annotations

import pytest

from stackyard.engine._params import resolve_parameters as _resolve
from stackyard.errors import ParameterError
from stackyard.workflow import ParameterBoolean, ParameterFloat, ParameterInteger, ParameterString
from stackyard.workflow._parameters import parameter_from_definition


def resolve_parameters(params, given):
    """What a run does with the parameters of its definition."""
    return _resolve([p.to_definition() for p in params], given)


@pytest.mark.parametrize("param, given, expected", [
    (ParameterString("S"), "x", "x"),
    (ParameterString("S"), "", ""),
    (ParameterInteger("I"), 7, 7),
    (ParameterInteger("I"), " 7 ", 7),
    (ParameterInteger("I"), "-3", -3),
    (ParameterFloat("F"), 2, 2.0),
    (ParameterFloat("F"), "0.25", 0.25),
    (ParameterFloat("F"), 1.5, 1.5),
    (ParameterBoolean("B"), True, True),
    (ParameterBoolean("B"), "false", False),
    (ParameterBoolean("B"), "TRUE", True),
])
def test_values_are_coerced(param, given, expected):
    got = resolve_parameters([param], {param.name: given})[param.name]
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize("param, given", [
    (ParameterString("S"), 3),
    (ParameterInteger("I"), "abc"),
    (ParameterInteger("I"), 1.5),
    (ParameterInteger("I"), True),
    (ParameterFloat("F"), "x1"),
    (ParameterFloat("F"), False),
    (ParameterBoolean("B"), "yes"),
    (ParameterBoolean("B"), 1),
])
def test_wrong_types_are_rejected(param, given):
    with pytest.raises(ParameterError, match=param.name):
        resolve_parameters([param], {param.name: given})


def test_defaults_missing_and_unknown():
    params = [ParameterInteger("N", default_value=0), ParameterBoolean("B", default_value=False),
              ParameterString("Req")]
    assert resolve_parameters(params, {"Req": "r"}) == {"N": 0, "B": False, "Req": "r"}
    with pytest.raises(ParameterError, match="Req"):
        resolve_parameters(params, {})
    with pytest.raises(ParameterError, match="Nope"):
        resolve_parameters(params, {"Req": "r", "Nope": 1})


def test_enum_values_are_enforced():
    p = ParameterString("Mode", default_value="fast", enum_values=["fast", "slow"])
    assert resolve_parameters([p], {"Mode": "slow"}) == {"Mode": "slow"}
    with pytest.raises(ParameterError, match="one of"):
        resolve_parameters([p], {"Mode": "medium"})


def test_a_default_of_the_wrong_type_is_rejected_at_definition():
    with pytest.raises(ParameterError):
        ParameterInteger("N", default_value="many")


def test_parameters_rebuild_from_their_definition():
    for p in (ParameterString("S", "a", ["a", "b"]), ParameterInteger("I", 3),
              ParameterFloat("F", 0.5), ParameterBoolean("B", False)):
        again = parameter_from_definition(p.to_definition())
        assert type(again) is type(p)
        assert again.to_definition() == p.to_definition()
    with pytest.raises(ParameterError):
        parameter_from_definition({"Name": "X", "Type": "Complex"})
