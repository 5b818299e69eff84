"""on_failure=<step>: the handler runs once the step has finally failed; the run still
ends Failed with the original error."""

from __future__ import annotations

from stackyard.errors import DefinitionError
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep, RetryPolicy, step

EVENTS: list[str] = []


@step(name="Cleanup")
def cleanup():
    EVENTS.append("cleanup")
    return "cleaned"


@step(name="Work")
def work():
    EVENTS.append("work")
    raise RuntimeError("disk full")


@step(name="Fine")
def fine():
    EVENTS.append("fine")
    return 1


@step(name="Next")
def after(x):
    EVENTS.append("next")
    return x


def test_the_handler_runs_after_the_final_failure(sy):
    EVENTS.clear()
    handler = cleanup()
    failing = step(name="Work", on_failure=handler, retry_policies=[
        RetryPolicy(interval_seconds=0.01, max_attempts=2)])(work.__wrapped__)()
    downstream = after(failing)
    ex = Pipeline("handled", steps=[failing, downstream]).start()
    assert ex.wait() == "Failed"
    assert EVENTS == ["work", "work", "work", "cleanup"]   # after every retry, once
    steps = {s["StepName"]: s for s in ex.list_steps()}
    assert steps["Work"]["StepStatus"] == "Failed" and steps["Work"]["AttemptCount"] == 3
    assert steps["Cleanup"]["StepStatus"] == "Succeeded"
    assert "Next" not in steps or steps["Next"]["StepStatus"] != "Succeeded"
    reason = ex.describe()["failure_reason"]
    assert "'Work'" in reason and "RuntimeError: disk full" in reason
    assert "Cleanup" not in reason
    assert ex.result("Cleanup") == "cleaned"


def test_the_handler_does_not_run_when_the_step_succeeds(sy):
    EVENTS.clear()
    handler = cleanup()
    ok = step(name="Fine", on_failure=handler)(fine.__wrapped__)()
    ex = Pipeline("unhandled", steps=[ok, after(ok)]).start()
    assert ex.wait() == "Succeeded"
    assert EVENTS == ["fine", "next"]
    assert "Cleanup" not in {s["StepName"]: s for s in ex.list_steps()} or \
        {s["StepName"]: s for s in ex.list_steps()}["Cleanup"]["StepStatus"] != "Succeeded"


def test_a_processing_handler_for_a_processing_step(sy):
    mark = sy.tmp / "handled"
    bad = sy.write("code/bad.py", "import sys; print('bad'); sys.exit(7)\n")
    handle = sy.write("code/handle.py", "open(MARK, 'w').write('handled')\n", MARK=str(mark))
    proc = ScriptProcessor(command=["python3"])
    h = ProcessingStep("Handle", processor=proc, code=str(handle))
    s = ProcessingStep("Bad", processor=proc, code=str(bad), on_failure=h)
    ex = Pipeline("prochandler", steps=[s]).start()
    assert ex.wait() == "Failed"
    assert mark.read_text() == "handled"
    reason = ex.describe()["failure_reason"]
    assert "'Bad'" in reason and "exited with code 7" in reason


def test_a_failing_handler_keeps_the_original_error(sy):
    EVENTS.clear()

    def broken_handler():
        EVENTS.append("handler")
        raise OSError("handler broke too")

    h = step(name="Handler")(broken_handler)()
    failing = step(name="Work", on_failure=h)(work.__wrapped__)()
    ex = Pipeline("brokenhandler", steps=[failing]).start()
    assert ex.wait() == "Failed"
    assert EVENTS == ["work", "handler"]
    reason = ex.describe()["failure_reason"]
    assert "disk full" in reason and "handler broke" not in reason


def test_a_step_depending_on_an_unused_failure_handler_is_accounted_for(sy):
    """Regression: a step depending on an unused failure handler used to be silently never run."""
    EVENTS.clear()
    handler = cleanup()
    ok = step(name="Fine", on_failure=handler)(fine.__wrapped__)()
    later = step(name="Later", depends_on=[handler])(after.__wrapped__)(1)
    try:
        ex = Pipeline("handler-dep", steps=[ok, later]).start()
    except DefinitionError:
        return  # refusing the definition up front is a fine answer too
    ex.wait()
    statuses = {s["StepName"]: s["StepStatus"] for s in ex.list_steps()}
    assert statuses.get("Later") == "Skipped", statuses
