"""The SageMaker Python SDK v2 names: monitors, their inputs and the check configs.

AWS-only arguments (``role``, ``instance_type``, ``sagemaker_session`` ...) are accepted and
ignored, as everywhere in stackyard; an unknown keyword is a ``TypeError``. A baselining
job runs in this process and is recorded like every monitoring run
(``stackyard monitor list``).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stackyard._checks import AWS_ONLY, check_kwargs, check_name
from stackyard.errors import UsageError
from stackyard.monitor._formats import DatasetFormat
from stackyard.monitor._run import DATA_QUALITY, MODEL_QUALITY, record

_MONITOR_KW = AWS_ONLY | {"max_runtime_in_seconds", "base_job_name", "env"}


# ---- configs (pure data; the workflow package re-exports them) -------------------------------
@dataclass
class CheckJobConfig:
    """Where a check job would run on AWS; locally only ``base_job_name`` is kept."""

    role: Any = None
    instance_count: int = 1
    instance_type: str = "ml.m5.xlarge"
    volume_size_in_gb: int = 30
    volume_kms_key: Any = None
    output_kms_key: Any = None
    max_runtime_in_seconds: int | None = None
    base_job_name: str | None = None
    sagemaker_session: Any = None
    env: dict[str, str] | None = None
    tags: Any = None
    network_config: Any = None


@dataclass
class _QualityCheckConfig:
    """As in the SDK, ``output_s3_uri`` and ``post_analytics_processor_script`` are
    keyword-only: the third positional argument is ``record_preprocessor_script`` (data
    quality) or ``problem_type`` (model quality)."""

    baseline_dataset: Any
    dataset_format: dict[str, Any]
    _: KW_ONLY
    output_s3_uri: Any = None
    post_analytics_processor_script: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``config`` of ``run_check`` (JSON-able: a pipeline step records it)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class DataQualityCheckConfig(_QualityCheckConfig):
    record_preprocessor_script: str | None = None

    def __post_init__(self) -> None:
        _no_scripts(self.post_analytics_processor_script, self.record_preprocessor_script)


@dataclass
class ModelQualityCheckConfig(_QualityCheckConfig):
    problem_type: Any = None
    inference_attribute: Any = None
    probability_attribute: Any = None
    ground_truth_attribute: Any = None
    probability_threshold_attribute: Any = None

    def __post_init__(self) -> None:
        from stackyard.monitor._quality import check_problem_type

        check_problem_type(self.problem_type)
        _no_scripts(self.post_analytics_processor_script)


def _no_scripts(*scripts: str | None) -> None:
    if any(scripts):
        raise UsageError("record_preprocessor_script / post_analytics_processor_script are not "
                         "supported locally; preprocess the dataset in a ProcessingStep")


# ---- inputs --------------------------------------------------------------------------------
@dataclass
class EndpointInput:
    """An endpoint's captured requests (``$STACKYARD_HOME/capture/<endpoint>/...``);
    ``start_time_offset`` (ISO 8601 duration, e.g. ``-PT1H``) limits them to recent hours."""

    endpoint_name: str
    destination: str = "/opt/ml/processing/input/endpoint"
    s3_input_mode: str = "File"
    s3_data_distribution_type: str = "FullyReplicated"
    start_time_offset: str | None = None
    end_time_offset: str | None = None
    features_attribute: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold_attribute: float | None = None
    exclude_features_attribute: str | None = None

    def files(self) -> list[Path]:
        from stackyard.monitor._capture import capture_files
        from stackyard.serving._capture import capture_root

        name = check_name(self.endpoint_name, "endpoint")
        since = (datetime.now(UTC) - parse_offset(self.start_time_offset)
                 if self.start_time_offset else None)
        files = capture_files(capture_root(name), since)
        if not files:
            raise UsageError(f"endpoint {name!r} has no captured requests"
                             + (f" since {since:%Y-%m-%d %H:00} UTC" if since else "")
                             + "; enable data capture (DataCaptureConfig) and send requests")
        return files


@dataclass
class BatchTransformInput:
    """A transform job's captured input/output (``data_captured_destination_s3_uri``)."""

    data_captured_destination_s3_uri: str
    destination: str = "/opt/ml/processing/input/transform"
    dataset_format: dict[str, Any] | None = None
    s3_input_mode: str = "File"
    s3_data_distribution_type: str = "FullyReplicated"
    features_attribute: str | None = None
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold_attribute: float | None = None
    start_time_offset: str | None = None
    end_time_offset: str | None = None
    exclude_features_attribute: str | None = None


_OFFSET = {"D": 86400, "H": 3600, "M": 60, "S": 1}
_MAX_OFFSET = timedelta(days=3660)  # ten years: more is a typo, and datetime overflows


def parse_offset(text: str) -> timedelta:
    """``-PT1H``, ``-P1D``, ``PT30M``, or the CLI's ``1h``/``30m``/``2d`` -> a positive span
    of at most ten years. ASCII digits only (``re``'s ``\\d`` would take ``١``)."""
    import re

    s = str(text).strip().upper().lstrip("-")
    span = None
    n = "([0-9]{1,12})"
    m = re.fullmatch(f"P(?:{n}D)?(?:T(?:{n}H)?(?:{n}M)?(?:{n}S)?)?", s)
    if m and any(m.groups()):
        d, h, mi, sec = (int(x or 0) for x in m.groups())
        span = d * 86400 + h * 3600 + mi * 60 + sec
    m = re.fullmatch(r"([0-9]{1,12})([DHMS])", s)
    if m:
        span = int(m.group(1)) * _OFFSET[m.group(2)]
    shown = repr(str(text)[:40])
    if span is None:
        raise UsageError(f"time offset {shown}: write e.g. 1h, 30m, 2d or -PT1H")
    if not 0 < span <= _MAX_OFFSET.total_seconds():
        raise UsageError(f"time offset {shown}: must be more than 0 and at most 3660 days")
    return timedelta(seconds=span)


def _dataset(data: Any, dataset_format: Any) -> tuple[Any, Any, str]:
    """(dataset for the reader, its format, a label for the run record)."""
    if isinstance(data, EndpointInput):
        return data.files(), DatasetFormat.sagemaker_capture_json(), \
            f"endpoint:{data.endpoint_name}"
    if isinstance(data, BatchTransformInput):
        return (data.data_captured_destination_s3_uri,
                data.dataset_format or dataset_format or DatasetFormat.sagemaker_capture_json(),
                str(data.data_captured_destination_s3_uri))
    if isinstance(data, str | Path):
        if dataset_format is None:
            raise UsageError("dataset_format is required (e.g. DatasetFormat.csv(header=True))")
        return str(data), dataset_format, str(data)
    raise UsageError(f"dataset {data!r}: give a path or URI, an EndpointInput or a "
                     "BatchTransformInput")


# ---- monitors ------------------------------------------------------------------------------
class _Monitor:
    kind = DATA_QUALITY

    def __init__(self, role: Any = None, **kwargs: Any) -> None:
        check_kwargs(type(self).__name__, kwargs, (), _MONITOR_KW)
        self.base_job_name = kwargs.get("base_job_name")
        self.latest_baselining_job: dict[str, Any] | None = None
        self.latest_monitoring_run: dict[str, Any] | None = None
        self.monitoring_schedule_name: str | None = None

    def describe_schedule(self) -> dict[str, Any]:
        """The schedule ``create_monitoring_schedule`` made (SageMaker's field names)."""
        from stackyard.monitor import _schedule

        return _schedule.describe(self._schedule_name())

    def delete_monitoring_schedule(self) -> None:
        from stackyard.monitor import _schedule

        _schedule.delete(self._schedule_name())
        self.monitoring_schedule_name = None

    def _schedule_name(self) -> str:
        if not self.monitoring_schedule_name:
            raise UsageError("no monitoring schedule yet; call create_monitoring_schedule()")
        return self.monitoring_schedule_name

    def baseline_statistics(self) -> dict[str, Any]:
        """The latest baselining job's ``statistics.json``."""
        return _read(self._baseline()["outputs"]["statistics"])

    def suggested_constraints(self) -> dict[str, Any]:
        """The latest baselining job's suggested ``constraints.json``."""
        return _read(self._baseline()["outputs"]["constraints"])

    def _baseline(self) -> dict[str, Any]:
        if self.latest_baselining_job is None:
            raise UsageError("no baselining job yet; call suggest_baseline() first")
        return self.latest_baselining_job

    def _run(self, config: dict[str, Any], source: str, statistics: Any, constraints: Any,
             destination: str | None) -> dict[str, Any]:
        if constraints is None and self.latest_baselining_job is not None:
            statistics = self.latest_baselining_job["outputs"]["statistics"]
            constraints = self.latest_baselining_job["outputs"]["constraints"]
        if constraints is None:
            raise UsageError("no baseline to check against: pass statistics= and "
                             "constraints=, or call suggest_baseline() first")
        self.latest_monitoring_run = record(
            self.kind, config, source=source, baseline_label=_label(constraints),
            baseline_statistics=_path(statistics), baseline_constraints=_path(constraints),
            destination=destination)
        return self.latest_monitoring_run


def _path(doc: Any) -> Any:
    """A baseline given as a path, URI, dict, or an object with ``file_s3_uri``."""
    return getattr(doc, "file_s3_uri", doc)


def _label(doc: Any) -> str | None:
    doc = _path(doc)
    return None if isinstance(doc, dict) else str(doc)


def _read(path: str) -> dict[str, Any]:
    from stackyard.monitor._violations import read_json

    return read_json(path, "monitoring output")


class DefaultModelMonitor(_Monitor):
    """Data quality: baselines and checks in Model Monitor's file formats."""

    kind = DATA_QUALITY

    def suggest_baseline(self, baseline_dataset: Any, dataset_format: Any,
                         record_preprocessor_script: str | None = None,
                         post_analytics_processor_script: str | None = None,
                         output_s3_uri: str | None = None, wait: bool = True,
                         logs: bool = True, job_name: str | None = None,
                         monitor_schedule_name: str | None = None) -> dict[str, Any]:
        """Profile ``baseline_dataset``; writes ``statistics.json``, ``constraints.json``
        and ``report.html`` (also under ``output_s3_uri`` when given). Runs to completion
        (``wait`` is accepted for compatibility)."""
        _no_scripts(record_preprocessor_script, post_analytics_processor_script)
        data, fmt, label = _dataset(baseline_dataset, dataset_format)
        self.latest_baselining_job = record(DATA_QUALITY, {"baseline_dataset": data,
                                                           "dataset_format": fmt},
                                            source=label, baseline_label=None,
                                            destination=output_s3_uri)
        return self.latest_baselining_job

    def run_monitoring(self, dataset: Any, dataset_format: Any = None,
                       statistics: Any = None, constraints: Any = None,
                       output_s3_uri: str | None = None) -> dict[str, Any]:
        """One monitoring run now (what a schedule would start): ``dataset`` (a path/URI,
        an ``EndpointInput`` or a ``BatchTransformInput``) against ``statistics`` /
        ``constraints`` (default: the latest baselining job). Returns the run record with
        ``violations_list``."""
        data, fmt, label = _dataset(dataset, dataset_format)
        return self._run({"baseline_dataset": data, "dataset_format": fmt}, label,
                         statistics, constraints, output_s3_uri)


    def create_monitoring_schedule(
            self, endpoint_input: Any = None, record_preprocessor_script: str | None = None,
            post_analytics_processor_script: str | None = None,
            output_s3_uri: str | None = None, constraints: Any = None, statistics: Any = None,
            monitor_schedule_name: str | None = None, schedule_cron_expression: str | None = None,
            enable_cloudwatch_metrics: bool = True, batch_transform_input: Any = None,
            data_analysis_start_time: str | None = None,
            data_analysis_end_time: str | None = None) -> dict[str, Any]:
        """Check ``endpoint_input`` (captured requests) or ``batch_transform_input`` against
        the baseline at ``schedule_cron_expression`` (default hourly); run by the trigger
        loop of ``stackyard server``. Baseline default: the latest ``suggest_baseline``."""
        from stackyard.monitor import _schedule

        _no_scripts(record_preprocessor_script, post_analytics_processor_script)
        return _schedule.create(self, name=monitor_schedule_name, cron=schedule_cron_expression,
                                request=_schedule.request(endpoint_input, batch_transform_input,
                                                          statistics, constraints, output_s3_uri))


class ModelQualityMonitor(_Monitor):
    """Model quality: metrics of predictions joined with ground truth."""

    kind = MODEL_QUALITY

    def suggest_baseline(self, baseline_dataset: Any, dataset_format: Any, problem_type: str,
                         inference_attribute: str | None = None,
                         probability_attribute: str | None = None,
                         ground_truth_attribute: str | None = None,
                         probability_threshold_attribute: float | None = None,
                         post_analytics_processor_script: str | None = None,
                         output_s3_uri: str | None = None, wait: bool = False,
                         logs: bool = False, job_name: str | None = None) -> dict[str, Any]:
        """Score a dataset holding predictions and labels; its metrics become the baseline
        and suggested thresholds (``constraints.json``)."""
        config = ModelQualityCheckConfig(
            baseline_dataset=str(baseline_dataset), dataset_format=dataset_format,
            problem_type=problem_type, inference_attribute=inference_attribute,
            probability_attribute=probability_attribute,
            ground_truth_attribute=ground_truth_attribute,
            probability_threshold_attribute=probability_threshold_attribute,
            post_analytics_processor_script=post_analytics_processor_script).to_dict()
        self.latest_baselining_job = record(MODEL_QUALITY, config, source=str(baseline_dataset),
                                            baseline_label=None, destination=output_s3_uri)
        return self.latest_baselining_job

    def run_monitoring(self, predictions: Any, ground_truth_input: str, problem_type: str,
                       statistics: Any = None, constraints: Any = None,
                       inference_attribute: str | None = None,
                       output_s3_uri: str | None = None) -> dict[str, Any]:
        """Join ``predictions`` (capture files via ``EndpointInput``, a transform's output
        file or folder) with ``ground_truth_input`` and check the metrics against the
        baseline's constraints."""
        data, _fmt, label = _dataset(predictions, DatasetFormat.sagemaker_capture_json())
        config = ModelQualityCheckConfig(
            baseline_dataset=data, dataset_format=DatasetFormat.sagemaker_capture_json(),
            problem_type=problem_type, inference_attribute=inference_attribute).to_dict()
        config["ground_truth_input"] = str(ground_truth_input)
        return self._run(config, label, statistics, constraints, output_s3_uri)

    def create_monitoring_schedule(
            self, endpoint_input: Any = None, ground_truth_input: str | None = None,
            problem_type: str | None = None, record_preprocessor_script: str | None = None,
            post_analytics_processor_script: str | None = None,
            output_s3_uri: str | None = None, constraints: Any = None,
            monitor_schedule_name: str | None = None, schedule_cron_expression: str | None = None,
            enable_cloudwatch_metrics: bool = True, batch_transform_input: Any = None,
            data_analysis_start_time: str | None = None,
            data_analysis_end_time: str | None = None) -> dict[str, Any]:
        """Join the predictions (``endpoint_input`` / ``batch_transform_input``) with
        ``ground_truth_input`` and check the metrics at ``schedule_cron_expression``."""
        from stackyard.monitor import _schedule
        from stackyard.monitor._quality import check_problem_type

        _no_scripts(record_preprocessor_script, post_analytics_processor_script)
        if not ground_truth_input:
            raise UsageError("ground_truth_input is required (a file or folder of labels)")
        check_problem_type(problem_type)
        return _schedule.create(self, name=monitor_schedule_name, cron=schedule_cron_expression,
                                request=_schedule.request(
                                    endpoint_input, batch_transform_input, None, constraints,
                                    output_s3_uri, ground_truth_input=str(ground_truth_input),
                                    problem_type=problem_type))




def check_endpoint(endpoint_name: str, baseline: str, since: str | None = None
                   ) -> dict[str, Any]:
    """Check an endpoint's captured requests (within ``since``, e.g. ``1h``) against the data
    baseline registered with model version ``baseline`` (``GROUP/VERSION``: its
    ``drift_check_baselines.ModelDataQuality`` statistics and constraints, as recorded and
    hashed at registration)."""
    from stackyard.registry import ModelRegistry

    record_ = ModelRegistry().describe(baseline)
    section = record_.get("drift_check_baselines", {}).get("ModelDataQuality") or {}
    stats = (section.get("Statistics") or {}).get("content")
    cons = (section.get("Constraints") or {}).get("content")
    if not isinstance(stats, dict) or not isinstance(cons, dict):
        raise UsageError(f"{baseline} has no data-quality baseline; register it with "
                         "DriftCheckBaselines(model_data_statistics=..., "
                         "model_data_constraints=...)")
    data = EndpointInput(endpoint_name, start_time_offset=since)
    return record(DATA_QUALITY, {"baseline_dataset": data.files(),
                                 "dataset_format": DatasetFormat.sagemaker_capture_json()},
                  source=f"endpoint:{endpoint_name}", baseline_label=baseline,
                  baseline_statistics=stats, baseline_constraints=cons)
