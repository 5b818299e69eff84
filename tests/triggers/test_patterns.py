"""EventBridge pattern matching, as a pure function: every matcher, on hits and misses."""

from __future__ import annotations

import pytest

from stackyard.errors import UsageError
from stackyard.triggers import check_pattern, matches, parse_pattern

EVENT = {"source": "stackyard", "detail-type": "run-failed",
         "detail": {"run_id": "20260101-000000-abcdef", "pipeline": "churn-batch",
                    "status": "Failed", "violations": 3, "score": 0.42, "flag": True,
                    "tags": ["nightly", "eu"], "failure_reason": None,
                    "uri": "file:///data/In%20Box/part-0001.parquet"}}


@pytest.mark.parametrize(("pattern", "hit"), [
    ({"detail-type": ["run-failed"]}, True),
    ({"detail-type": ["run-succeeded"]}, False),
    ({"detail-type": ["run-succeeded", "run-failed"]}, True),  # any of the list
    ({"detail": {"pipeline": [{"prefix": "churn-"}]}}, True),
    ({"detail": {"pipeline": [{"prefix": "diab"}]}}, False),
    ({"detail": {"uri": [{"suffix": ".parquet"}]}}, True),
    ({"detail": {"uri": [{"wildcard": "file:///data/*/part-*.parquet"}]}}, True),
    ({"detail": {"uri": [{"wildcard": "*.csv"}]}}, False),
    ({"detail": {"status": [{"equals-ignore-case": "FAILED"}]}}, True),
    ({"detail": {"violations": [{"numeric": [">", 0, "<=", 5]}]}}, True),
    ({"detail": {"violations": [{"numeric": [">", 3]}]}}, False),
    ({"detail": {"violations": [3.0]}}, True),  # numbers compare as numbers
    ({"detail": {"violations": ["3"]}}, False),  # a string is not a number
    ({"detail": {"score": [{"numeric": [">=", 0.4, "<", 0.5]}]}}, True),
    ({"detail": {"pipeline": [{"numeric": [">", 0]}]}}, False),  # not a number
    ({"detail": {"flag": [True]}}, True),
    ({"detail": {"flag": [1]}}, False),  # true is not 1
    ({"detail": {"failure_reason": [None]}}, True),
    ({"detail": {"run_id": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"run_id": [{"exists": False}]}}, False),
    ({"detail": {"status": [{"anything-but": "Succeeded"}]}}, True),
    ({"detail": {"status": [{"anything-but": ["Failed", "Stopped"]}]}}, False),
    ({"detail": {"pipeline": [{"anything-but": {"prefix": "churn"}}]}}, False),
    ({"detail": {"pipeline": [{"anything-but": {"suffix": "-train"}}]}}, True),
    ({"detail": {"missing": [{"anything-but": "x"}]}}, False),  # absent never matches
    ({"detail": {"tags": ["eu"]}}, True),  # a list value: any element
    ({"detail": {"tags": [{"prefix": "night"}]}}, True),
    ({"detail": {"tags": ["us"]}}, False),
    ({"detail": {"tags": [{"anything-but": "us"}]}}, True),
    ({"detail": {"tags": [{"anything-but": "eu"}]}}, False),  # every element must differ
    ({"detail-type": ["run-failed"], "detail": {"status": ["Succeeded"]}}, False),  # AND
    ({"detail": {"nested": {"x": ["y"]}}}, False),  # a missing object
    ({"detail": {"pipeline": ["churn-batch", {"prefix": "zzz"}]}}, True),
])
def test_matching(pattern, hit) -> None:
    assert matches(check_pattern(pattern), EVENT) is hit


@pytest.mark.parametrize(("text", "says"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"detail-type": "run-failed"}', "list of values"),
    ('{"detail": {}}', "empty object"),
    ('{"detail-type": []}', "empty list"),
    ('{"x": [{"prefix": 1}]}', "prefix takes a string"),
    ('{"x": [{"numeric": [">", "1"]}]}', "not a finite number"),
    ('{"x": [{"numeric": ["~", 1]}]}', "numeric operator"),
    ('{"x": [{"numeric": [">", 1, "<"]}]}', "numeric takes"),
    ('{"x": [{"exists": "yes"}]}', "exists takes"),
    ('{"x": [{"anything-but": []}]}', "non-empty list"),
    ('{"x": [{"anything-but": {"wildcard": "a"}}]}', "anything-but takes"),
    ('{"x": [{"cidr": "10.0.0.0/8"}]}', "unknown matcher"),
    ('{"x": [{"prefix": "a", "suffix": "b"}]}', "one key"),
    ('{"x": [[1]]}', "neither a value nor a matcher"),
    ('{"x": [NaN]}', "neither a value"),
])
def test_bad_patterns_say_where(text, says) -> None:
    with pytest.raises(UsageError, match=says):
        parse_pattern(text)


def test_a_non_object_event_matches_nothing() -> None:
    assert not matches({"a": ["b"]}, ["a"])
    assert matches({}, EVENT)  # the empty pattern (no filter) matches every event


@pytest.mark.parametrize(("wildcard", "value", "hit"), [
    ("*", "", True), ("a*", "a", True), ("*a", "ba", True), ("a*a", "a", False),
    ("a*b*c", "abc", True), ("a*b*c", "acb", False), ("*ab*ab*", "xabyab", True),
    ("*ab*ab*", "xaby", False), ("exact", "exact", True), ("exact", "exacts", False),
    ("**", "x\ny", True), ("a*ba", "aba", True), ("a*aa", "aa", False),
])
def test_wildcard_semantics(wildcard, value, hit) -> None:
    assert matches({"v": [{"wildcard": wildcard}]}, {"v": value}) is hit


@pytest.mark.timeout(20)
def test_a_many_star_wildcard_cannot_stall_the_loop() -> None:
    """The regex of one `.*` per star backtracked exponentially: 13 stars against 40
    characters took minutes, and the server's triggers loop with it."""
    pattern = check_pattern({"detail": {"reason": [{"wildcard": "*a" * 200 + "*b"}]}})
    assert not matches(pattern, {"detail": {"reason": "a" * 5000}})
    assert matches(pattern, {"detail": {"reason": "a" * 5000 + "b"}})


def test_a_filter_nested_too_deeply_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--filter"):
        parse_pattern('{"a":' * 5000 + "1" + "}" * 5000)
