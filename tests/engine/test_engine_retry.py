"""RetryPolicy: which failures are retried, how often, and how long the engine waits."""

from __future__ import annotations

import itertools
import time

import pytest

from stackyard import engine
from stackyard.engine._retry import next_retry_delay
from stackyard.jobs import ProcessingInput, ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, RetryPolicy, step

CALLS: dict[str, list[float]] = {}


def _flaky(key: str, failures: int, exc: type[BaseException] = RuntimeError):
    """A @step that fails ``failures`` times (recording when each call happened)."""

    def flaky():
        calls = CALLS.setdefault(key, [])
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise exc(f"failure {len(calls)}")
        return len(calls)

    flaky.__name__ = flaky.__qualname__ = f"flaky_{key}"
    return flaky


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def _run(func, policies, name="retry"):
    s = step(name="Flaky", retry_policies=policies)(func)()
    ex = Pipeline(name, steps=[s]).start()
    status = ex.wait()
    return status, ex.list_steps()[0], ex


def test_backoff_timing_fail_twice_then_succeed(sy):
    status, s, _ = _run(_flaky("timing", 2), [RetryPolicy(
        exception_types=["ALL"], interval_seconds=0.2, backoff_rate=2, max_attempts=3)])
    assert status == "Succeeded"
    assert s["AttemptCount"] == 3
    calls = CALLS["timing"]
    assert len(calls) == 3
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4          # interval * backoff**k
    assert calls[-1] - calls[0] >= 0.6
    assert calls[-1] - calls[0] < 3.0                 # and not absurdly longer


def test_max_attempts_counts_retries_after_the_first(sy):
    status, s, ex = _run(_flaky("max1", 99), [RetryPolicy(interval_seconds=0, max_attempts=1)])
    assert status == "Failed"
    assert s["AttemptCount"] == 2 and len(CALLS["max1"]) == 2
    assert "failure 2" in s["FailureReason"]
    attempts = engine.describe_run(ex.run_id)["steps"][0]["attempts"]
    assert attempts == 2


def test_max_attempts_zero_means_no_retry(sy):
    status, s, _ = _run(_flaky("max0", 99), [RetryPolicy(interval_seconds=0, max_attempts=0)])
    assert status == "Failed" and s["AttemptCount"] == 1


def test_no_policy_means_no_retry(sy):
    status, s, _ = _run(_flaky("none", 1), [])
    assert status == "Failed" and s["AttemptCount"] == 1


def test_a_policy_for_another_exception_does_not_retry(sy):
    status, s, _ = _run(_flaky("other", 1, ValueError),
                        [RetryPolicy(exception_types=[KeyError], interval_seconds=0)])
    assert status == "Failed" and s["AttemptCount"] == 1
    assert s["FailureReason"].startswith("ValueError: failure 1")


def test_a_policy_for_a_base_class_retries_subclasses(sy):
    status, s, _ = _run(_flaky("base", 1, KeyError),
                        [RetryPolicy(exception_types=[LookupError], interval_seconds=0)])
    assert status == "Succeeded" and s["AttemptCount"] == 2


def test_exception_types_by_name(sy):
    status, s, _ = _run(_flaky("byname", 2, ValueError),
                        [RetryPolicy(exception_types=["ValueError"], interval_seconds=0.01)])
    assert status == "Succeeded" and s["AttemptCount"] == 3


def test_the_first_matching_policy_decides(sy):
    status, s, _ = _run(_flaky("first", 99, ValueError), [
        RetryPolicy(exception_types=["KeyError"], interval_seconds=0, max_attempts=5),
        RetryPolicy(exception_types=[ValueError], interval_seconds=0, max_attempts=2),
        RetryPolicy(exception_types=["ALL"], interval_seconds=0, max_attempts=7)])
    assert status == "Failed" and s["AttemptCount"] == 3


def test_expire_after_stops_retrying(sy):
    # 0.005 min = 0.3 s: the first retry (at ~0.2 s) fits, the second (~0.4 s) does not
    status, s, _ = _run(_flaky("expire", 99), [RetryPolicy(
        interval_seconds=0.2, backoff_rate=1, max_attempts=None, expire_after_mins=0.005)])
    assert status == "Failed"
    assert s["AttemptCount"] == 2


def test_a_failed_processing_job_is_retried_as_job_error(sy):
    counter = sy.tmp / "tries"
    code = sy.write("code/flaky.py", """
        import pathlib, sys
        p = pathlib.Path(COUNTER)
        n = len(p.read_text().splitlines()) + 1 if p.exists() else 1
        p.write_text("x\\n" * n)
        print(f"attempt {n}")
        if n == 1:
            sys.exit(4)
    """, COUNTER=str(counter))
    s = ProcessingStep("Flaky", processor=ScriptProcessor(command=["python3"]), code=str(code),
                       retry_policies=[RetryPolicy(exception_types=["JobError"],
                                                   interval_seconds=0.05, max_attempts=2)])
    ex = Pipeline("jobretry", steps=[s]).start()
    assert ex.wait() == "Succeeded"
    (st,) = ex.list_steps()
    assert st["AttemptCount"] == 2
    assert len(counter.read_text().splitlines()) == 2
    logs = engine.step_logs(ex.run_id, "Flaky")
    assert [(n, a) for n, a, _ in logs] == [("Flaky", 1), ("Flaky", 2)]
    assert "attempt 1" in logs[0][2].read_text() and "attempt 2" in logs[1][2].read_text()
    # each attempt had its own job folder
    assert logs[0][2].parent != logs[1][2].parent


@pytest.mark.parametrize("policies, kinds, done, expected", [
    ([{"ExceptionType": ["ALL"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
     ["JobError"], 0, 1.0),
    ([{"ExceptionType": ["ALL"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
     ["JobError"], 2, 4.0),
    ([{"ExceptionType": ["ALL"], "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3}],
     ["JobError"], 3, None),
    ([{"ExceptionType": ["Timeout"], "IntervalSeconds": 1, "BackoffRate": 2}],
     ["JobError"], 0, None),
    ([{"ExceptionType": ["States.ALL"], "IntervalSeconds": 0.5, "BackoffRate": 3}],
     ["Killed"], 1, 1.5),
])
def test_next_retry_delay(policies, kinds, done, expected):
    assert next_retry_delay(policies, kinds, done, 0.0, 0.0) == expected


def test_a_job_killed_by_a_signal_is_retried_as_killed(sy):
    counter = sy.tmp / "tries"
    code = sy.write("code/suicide.py", """
        import os, pathlib, signal
        p = pathlib.Path(COUNTER)
        p.open("a").write("x\\n")
        if len(p.read_text().splitlines()) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    """, COUNTER=str(counter))
    s = ProcessingStep("Killed", processor=ScriptProcessor(command=["python3"]), code=str(code),
                       retry_policies=[RetryPolicy(exception_types=["Killed"],
                                                   interval_seconds=0, max_attempts=1)])
    ex = Pipeline("killed", steps=[s]).start()
    assert ex.wait() == "Succeeded"
    assert ex.list_steps()[0]["AttemptCount"] == 2
    attempts = engine.step_logs(ex.run_id, "Killed")
    assert len(attempts) == 2
    from stackyard.store import open_store

    rows = open_store().get_attempts(ex.run_id, "Killed")
    assert [r["error_type"] for r in rows] == ["Killed", None]
    assert "signal 9" in rows[0]["reason"]


def test_a_missing_input_is_an_input_error(sy):
    code = sy.write("code/noop.py", "print('never')\n")
    s = ProcessingStep("Fetch", processor=ScriptProcessor(command=["python3"]), code=str(code),
                       inputs=[ProcessingInput(source=str(sy.work / "absent"),
                                               destination="/opt/ml/processing/in")],
                       retry_policies=[RetryPolicy(exception_types=["InputError"],
                                                   interval_seconds=0, max_attempts=2)])
    ex = Pipeline("inputerror", steps=[s]).start()
    assert ex.wait() == "Failed"
    (st,) = ex.list_steps()
    assert st["AttemptCount"] == 3
    assert st["FailureReason"].startswith("cannot fetch input")
    assert "absent" in st["FailureReason"]
