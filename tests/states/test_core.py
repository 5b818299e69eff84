"""Unit tests of the pure rules the conformance tables cannot show: retry timing (no
sleeping: the delays are computed), error matching, Wait end times and the AWS cause
prefix."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from stackyard.states._errors import StatesError
from stackyard.states._retry import catcher_for, error_matches, matching_retrier, retry_delay
from stackyard.states._wait import parse_timestamp, wait_until

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_backoff_counts_per_retrier_and_stops_at_max_attempts() -> None:
    state = {"Retry": [{"ErrorEquals": ["A"], "IntervalSeconds": 3, "BackoffRate": 1.5,
                        "MaxAttempts": 3},
                       {"ErrorEquals": ["States.ALL"]}]}
    assert [retry_delay(state, "A", [k]) for k in range(4)] == [3.0, 4.5, 6.75, None]
    # the second retrier keeps its own count and AWS's defaults (1 s, x2, 3 attempts)
    assert [retry_delay(state, "B", [3, k]) for k in range(4)] == [1.0, 2.0, 4.0, None]
    assert matching_retrier(state, "B") == 1


def test_max_delay_caps_and_full_jitter_stays_below_the_cap() -> None:
    state = {"Retry": [{"ErrorEquals": ["A"], "IntervalSeconds": 10, "MaxAttempts": 10,
                        "MaxDelaySeconds": 25, "JitterStrategy": "FULL"}]}
    rng = random.Random(7)
    delays = [retry_delay(state, "A", [k], rng=rng) for k in range(6)]
    assert all(d is not None and 0 <= d <= 25 for d in delays)
    assert len(set(delays)) == len(delays)  # jittered, not constant
    assert retry_delay({"Retry": [{**state["Retry"][0], "JitterStrategy": "NONE"}]}, "A",
                       [5]) == 25.0


def test_matching_rules_of_aws() -> None:
    assert error_matches(["States.ALL"], "Anything")
    assert not error_matches(["States.ALL"], "States.Runtime")
    assert not error_matches(["States.ALL"], "States.DataLimitExceeded")
    assert error_matches(["States.TaskFailed"], "States.HeartbeatTimeout")
    assert not error_matches(["States.TaskFailed"], "States.Timeout")
    assert error_matches(["States.Timeout"], "States.Timeout")
    assert retry_delay({"Retry": [{"ErrorEquals": ["States.ALL"]}]}, "States.Runtime", []) is None
    assert retry_delay({"Retry": [{"ErrorEquals": ["A"], "MaxAttempts": 0}]}, "A", []) is None
    catch = {"Catch": [{"ErrorEquals": ["X"], "Next": "a"}, {"ErrorEquals": ["States.ALL"],
                                                             "Next": "b"}]}
    assert catcher_for(catch, "X")["Next"] == "a"
    assert catcher_for(catch, "Y")["Next"] == "b"
    assert catcher_for(catch, "States.Runtime") is None


def test_wait_end_times() -> None:
    assert wait_until({"Seconds": 90}, {}, NOW) == NOW + timedelta(seconds=90)
    assert wait_until({"SecondsPath": "$.s"}, {"s": 0}, NOW) == NOW
    assert wait_until({"Timestamp": "2024-01-01T01:00:00+01:00"}, {}, NOW) == NOW
    assert wait_until({"TimestampPath": "$.t"}, {"t": "2024-01-01T00:00:00.123456789Z"},
                      NOW) == NOW + timedelta(microseconds=123456)


@pytest.mark.parametrize("seconds", [365 * 24 * 3600 + 1, 99_999_999_999_999])
def test_a_literal_wait_beyond_a_year_is_states_runtime_like_seconds_path(seconds) -> None:
    """`"Seconds": 99999999999999` overflowed timedelta: the driver died with an internal
    error and left the execution RUNNING for ever."""
    with pytest.raises(StatesError, match="Wait state delay is too long"):
        wait_until({"Seconds": seconds}, {}, NOW)
    with pytest.raises(StatesError, match="Wait state delay is too long"):
        wait_until({"SecondsPath": "$.s"}, {"s": seconds}, NOW)


def test_timestamps_keep_nanoseconds_and_refuse_impossible_dates() -> None:
    a = parse_timestamp("2024-01-01T00:00:00.000000001Z")
    b = parse_timestamp("2024-01-01T00:00:00.000000002Z")
    assert a is not None and b is not None and a < b
    for bad in ("2023-02-29T00:00:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00+19:00",
                "2024-01-01T00:00Z", "\u0662\u0660\u0662\u0664-01-01T00:00:00Z"):
        assert parse_timestamp(bad) is None, bad


@pytest.mark.parametrize("error", ["States.Runtime", "States.IntrinsicFailure"])
def test_located_adds_aws_prefix_once(error: str) -> None:
    err = StatesError(error, "detail").located("My State", 7).located("Other", 9)
    assert err.cause == ("An error occurred while executing the state 'My State' (entered at "
                         "the event id #7). detail")
    assert StatesError("Custom", "c").located("X", 2).cause == "c"
