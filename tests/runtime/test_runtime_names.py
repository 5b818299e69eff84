"""Every name and container path that reaches the filesystem goes through one check
(``_checks.check_name``, ``_checks.container_path``/``inside``). Property: any string is
either refused with ``UsageError`` at the edge, or, when used, stays inside its folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stackyard import _checks
from stackyard.engine._definition import compile_definition
from stackyard.engine._execute import job_name
from stackyard.errors import UsageError
from stackyard.jobs import Estimator, ProcessingInput, ProcessingOutput, ScriptProcessor
from stackyard.runtime._job import host_path
from stackyard.serving._control import parse_variant
from stackyard.tuning._orchestrator import tuning_dir
from stackyard.tuning._tuner import start_tuning_job

# random text, and strings built from the pieces that break paths and headers
PIECES = ["..", ".", "/", "\\", "\n", "\r", " ", "\x00", "%2e", "a", "Z9", "-", "_", "é",
          "/opt/ml", "/opt/ml/processing", "processing", "~", "$HOME", "\t", "١"]
NAMES = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(PIECES), max_size=12)
                  .map("".join), st.text(alphabet="ab-", min_size=60, max_size=300))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_folder_under(root: Path, name: str) -> None:
    """``name`` used as a folder name under ``root`` is exactly one level below it."""
    assert (root / name).resolve().parent == root.resolve(), name
    assert not any(c in name for c in "\n\r\x00/"), name


@SETTINGS
@example(value="..", kind="schedule")
@given(value=NAMES, kind=st.sampled_from(sorted(_checks.NAME_RULES)))
def test_every_name_rule_gives_one_safe_path_component(tmp_path, value, kind):
    try:
        name = _checks.check_name(value, kind)
    except UsageError:
        return
    _one_folder_under(tmp_path, name)
    assert len(name) <= _checks.NAME_RULES[kind][1]


def _definition(steps: list[dict], name: str = "p") -> dict:
    return {"Name": name, "Steps": steps}


FAIL = {"Name": "a", "Type": "Fail", "Arguments": {}}


@SETTINGS
@example(value="x" * 65)
@example(value="a/../../b")
@example(value="..")
@given(value=NAMES)
def test_step_and_pipeline_names(stackyard_home, value):
    jobs = stackyard_home / "runs" / "r" / "jobs"
    try:
        compile_definition(_definition([{**FAIL, "Name": value}]))
    except UsageError:
        pass
    else:  # the engine puts a step's attempts at runs/<run>/jobs/<step>/attempt-<n>
        _one_folder_under(jobs, value)
        assert len(job_name("20261123-162713-497706", value)) <= 63
        assert job_name("20261123-162713-497706", value).endswith("20261123-162713-497706")
    try:
        compile_definition(_definition([FAIL], name=value))
    except UsageError:
        pass
    else:
        _one_folder_under(stackyard_home / "pipelines", value)


@SETTINGS
@example(value="../../x")
@example(value="t" * 64)
@given(value=NAMES)
def test_tuning_job_names(stackyard_home, value):
    try:
        start_tuning_job(value, {"HyperParameterTuningJobConfig": {},
                                 "TrainingJobDefinition": {}})
    except UsageError:
        return
    _one_folder_under(stackyard_home / "tuning", value)
    assert tuning_dir(value).parent == stackyard_home / "tuning"


@SETTINGS
@example(value="../../x")
@example(value="v\nX-Injected: 1")
@given(value=NAMES)
def test_endpoint_variant_names(stackyard_home, value):
    try:
        name, _, _ = parse_variant(f"{value}=g/1")
    except UsageError:
        return
    _one_folder_under(stackyard_home / "capture" / "ep", name)  # capture/<endpoint>/<variant>


@SETTINGS
@example(value="..")
@example(value="../../../x")
@given(value=NAMES)
def test_training_channel_names(tmp_path, value):
    try:
        req = Estimator(entry_point="train.py").request({value: str(tmp_path)})
    except UsageError:
        return
    for channel in req["InputDataConfig"]:
        container = f"/opt/ml/input/data/{channel['ChannelName']}"
        data = tmp_path / "job" / "ml" / "input" / "data"
        assert host_path(tmp_path / "job", container).parent == data.resolve()


@SETTINGS
@example(value="/opt/ml/processing/../../../x")
@example(value="/opt/ml/processing/a/../../x")
@example(value="/opt/ml/processingx")
@example(value="/opt/ml/processing/./in")
@given(value=st.one_of(NAMES, NAMES.map(lambda s: "/opt/ml/processing/" + s)))
def test_processing_container_paths(tmp_path, value):
    """Through the SDK and through a JSON definition (which skips the SDK)."""
    code = tmp_path / "c.py"
    code.write_text("")
    job = tmp_path / "job"
    root = (job / "ml" / "processing").resolve()
    local_paths = []
    try:
        req = ScriptProcessor().request(
            str(code), inputs=[ProcessingInput(source=str(tmp_path), destination=value)],
            outputs=[ProcessingOutput(source=value)])
    except UsageError:
        pass
    else:
        local_paths += [i["S3Input"]["LocalPath"] for i in req["ProcessingInputs"]]
    args = {"ProcessingInputs": [
        {"InputName": "code", "S3Input": {"S3Uri": code.as_uri(),
                                          "LocalPath": "/opt/ml/processing/input/code"}},
        {"InputName": "data", "S3Input": {"S3Uri": tmp_path.as_uri(), "LocalPath": value}}],
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "o", "S3Output": {"S3Uri": None, "LocalPath": value}}]}}
    try:
        compile_definition(_definition([{"Name": "a", "Type": "Processing",
                                         "Arguments": args}]))
    except UsageError:
        pass
    else:
        local_paths.append(value)
    for container in local_paths:
        target = host_path(job, container)
        assert target == root or root in target.parents, (container, target)


def test_an_entry_point_outside_source_dir_is_refused(sy):
    sy.write("outside.py", "")
    sy.write("src/train.py", "")
    d = _definition([{"Name": "t", "Type": "Training", "Arguments": {
        "Code": {"EntryPoint": "../outside.py", "SourceDir": str(sy.work / "src")}}}])
    with pytest.raises(UsageError, match="leaves"):
        compile_definition(d)
    d["Steps"][0]["Arguments"]["Code"]["EntryPoint"] = "train.py"
    compile_definition(d)


def test_a_job_name_keeps_its_unique_suffix():
    """Regression: names were cut at 63 characters, dropping the run id (two runs of a
    long-named step shared a job name) and the tuning trial number."""
    long_step = "Preprocess the whole data set with extra care " * 2
    a, b = job_name("20261123-162713-000001", long_step), job_name("20261123-162713-000002",
                                                                    long_step)
    assert a != b and len(a) <= 63 and a.endswith("000001")
    assert _checks.job_name("t" * 63, "007").endswith("-007")
