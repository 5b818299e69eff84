"""The JSONPath subset of InputFilter/OutputFilter: SageMaker's inclusive slices, field
selection, and a clear refusal of everything else when the job is defined."""

from __future__ import annotations

import pytest

from stackyard.errors import UsageError
from stackyard.transform import RecordError, parse_jsonpath

ROW = ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]


@pytest.mark.parametrize(("expr", "expected"), [
    ("$", ROW),
    ("$[1:3]", ["c1", "c2", "c3"]),  # the end is inclusive: three columns, not two
    ("$[0:0]", ["c0"]),
    ("$[5:]", ["c5", "c6"]),
    ("$[:1]", ["c0", "c1"]),
    ("$[0,5:]", ["c0", "c5", "c6"]),
    ("$[6,0,2:3]", ["c6", "c0", "c2", "c3"]),
    ("$[ 1 , 3 ]", ["c1", "c3"]),
    ("$[2]", "c2"),
])
def test_array_selectors_on_a_csv_row(expr: str, expected: object) -> None:
    assert parse_jsonpath(expr).apply(ROW) == expected


def test_field_selectors_on_a_json_object() -> None:
    doc = {"id": 7, "features": [1, 2, 3], "meta": {"src": "a"}, "SageMakerOutput": 0.5}
    assert parse_jsonpath("$.features").apply(doc) == [1, 2, 3]
    assert parse_jsonpath("$.meta.src").apply(doc) == "a"
    assert parse_jsonpath("$.features[1:2]").apply(doc) == [2, 3]
    assert parse_jsonpath("$['id','SageMakerOutput']").apply(doc) == {
        "id": 7, "SageMakerOutput": 0.5}
    assert parse_jsonpath('$["features"]').apply(doc) == [1, 2, 3]


@pytest.mark.parametrize("expr", [
    "$.*", "$..id", "$[*]", "$[-1]", "$[1:3:2]", "$[?(@.a > 1)]", "features", "",
    "$[3:1]", "$[]", "$[a]", "$[0,1].x", "$['a','b'].c", "$." + "x" * 62, "$[0]junk",
])
def test_unsupported_expressions_are_refused_naming_them(expr: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_jsonpath(expr, "input_filter")
    assert "input_filter" in str(e.value)
    if len(expr) <= 63:
        assert repr(expr) in str(e.value)


@pytest.mark.parametrize(("expr", "value", "message"), [
    ("$[7]", ROW, "index 7 is beyond the record's 7 items"),
    ("$[5:7]", ROW, "beyond the record's 7 items"),
    ("$.id", ROW, "not a JSON object"),
    ("$[0]", {"id": 1}, "not an array"),
    ("$['id','x']", {"id": 1}, "no field 'x'"),
])
def test_a_record_the_filter_cannot_apply_to_is_a_record_error(expr: str, value: object,
                                                               message: str) -> None:
    with pytest.raises(RecordError, match=message.replace("'", ".")):
        parse_jsonpath(expr).apply(value)
