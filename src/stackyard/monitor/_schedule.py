"""Monitoring schedules, as in the SageMaker SDK: ``create_monitoring_schedule(...,
schedule_cron_expression=CronExpressionGenerator.daily())`` records a schedule in the
store; the trigger loop (``stackyard server``) runs it with ``run_scheduled``, and
``stackyard schedules`` lists, pauses and deletes it like any other schedule."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from stackyard._checks import check_name, parse_schedule_expression
from stackyard.errors import NotFoundError, UsageError


class CronExpressionGenerator:
    """SageMaker's helpers for ``schedule_cron_expression`` (AWS cron syntax, UTC)."""

    @staticmethod
    def hourly() -> str:
        return "cron(0 * ? * * *)"

    @staticmethod
    def daily(hour: int = 0) -> str:
        if not isinstance(hour, int) or not 0 <= hour <= 23:
            raise UsageError(f"daily(hour={hour!r}): an hour 0..23")
        return f"cron(0 {hour} ? * * *)"

    @staticmethod
    def daily_every_x_hours(hour_interval: int, starting_hour: int = 0) -> str:
        if not isinstance(hour_interval, int) or not 1 <= hour_interval <= 23:
            raise UsageError(f"hour_interval={hour_interval!r}: 1..23")
        if not isinstance(starting_hour, int) or not 0 <= starting_hour <= 23:
            raise UsageError(f"starting_hour={starting_hour!r}: 0..23")
        return f"cron(0 {starting_hour}/{hour_interval} ? * * *)"

    @staticmethod
    def now() -> str:
        """Run once, as soon as the scheduler sees it."""
        return "NOW"


def _baseline_doc(doc: Any) -> Any:
    doc = getattr(doc, "file_s3_uri", doc)
    return doc if doc is None or isinstance(doc, dict) else str(doc)


def create(monitor: Any, *, name: str | None, cron: str | None, request: dict[str, Any]
           ) -> dict[str, Any]:
    """Record schedule ``name`` running ``request`` (see ``run_scheduled``) at ``cron``."""
    from stackyard.store import open_store

    name = check_name(name or f"{monitor.base_job_name or 'monitoring-schedule'}-"
                      f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}", "schedule")
    expression = cron or CronExpressionGenerator.hourly()
    spec = {"expression": expression, "parsed": parse_schedule_expression(
                expression, "schedule_cron_expression"),
            "timezone": "UTC", "catchup": "last", "overlap": "skip",
            "start_ms": None, "end_ms": None}
    if request["constraints"] is None and monitor.latest_baselining_job is not None:
        request["statistics"] = monitor.latest_baselining_job["outputs"]["statistics"]
        request["constraints"] = monitor.latest_baselining_job["outputs"]["constraints"]
    if request["constraints"] is None:
        raise UsageError("no baseline to check against: pass statistics= and constraints=, "
                         "or call suggest_baseline() first")
    target = {"kind": "monitor", "monitor": type(monitor).__name__, **request}
    if not open_store().add_schedule(name, spec, target, None):
        raise UsageError(f"schedule {name!r} exists; pick another monitor_schedule_name")
    monitor.monitoring_schedule_name = name
    return describe(name)


def describe(name: str) -> dict[str, Any]:
    from stackyard.store import open_store

    row = open_store().get_schedule(check_name(name, "schedule"))
    if row is None:
        raise NotFoundError(f"no monitoring schedule {name!r}")
    return {"MonitoringScheduleName": row["name"],
            "MonitoringScheduleStatus": "Scheduled" if row["state"] == "ENABLED" else "Stopped",
            "ScheduleExpression": row["spec"]["expression"], "Target": row["target"],
            "CreationTime": row["created_at"]}


def delete(name: str) -> None:
    from stackyard.store import open_store

    if not open_store().delete_schedule(check_name(name, "schedule")):
        raise NotFoundError(f"no monitoring schedule {name!r}")


def request(endpoint_input: Any, batch_transform_input: Any, statistics: Any,
            constraints: Any, output_s3_uri: str | None, **extra: Any) -> dict[str, Any]:
    """The JSON a scheduled check is rebuilt from: exactly one input, the baseline."""
    from stackyard.monitor._api import BatchTransformInput, EndpointInput

    if (endpoint_input is None) == (batch_transform_input is None):
        raise UsageError("give exactly one of endpoint_input or batch_transform_input")
    if isinstance(endpoint_input, str):
        endpoint_input = EndpointInput(endpoint_name=endpoint_input)
    if endpoint_input is not None and not isinstance(endpoint_input, EndpointInput):
        raise UsageError("endpoint_input: an endpoint name or an EndpointInput")
    if batch_transform_input is not None and not isinstance(batch_transform_input,
                                                            BatchTransformInput):
        raise UsageError("batch_transform_input: a BatchTransformInput")
    if endpoint_input is not None:
        check_name(endpoint_input.endpoint_name, "endpoint")
    return {"endpoint_input": None if endpoint_input is None else asdict(endpoint_input),
            "batch_transform_input": None if batch_transform_input is None
            else asdict(batch_transform_input),
            "statistics": _baseline_doc(statistics), "constraints": _baseline_doc(constraints),
            "output_s3_uri": output_s3_uri, **extra}


def run_scheduled(target: dict[str, Any]) -> dict[str, Any]:
    """One run of a monitoring schedule (the trigger loop's launcher calls this)."""
    from stackyard.monitor._api import (
        BatchTransformInput,
        DefaultModelMonitor,
        EndpointInput,
        ModelQualityMonitor,
    )

    data: Any = (EndpointInput(**target["endpoint_input"]) if target.get("endpoint_input")
                 else BatchTransformInput(**target["batch_transform_input"]))
    if target["monitor"] == "ModelQualityMonitor":
        return ModelQualityMonitor().run_monitoring(
            data, target["ground_truth_input"], target["problem_type"],
            statistics=target["statistics"], constraints=target["constraints"],
            inference_attribute=target.get("inference_attribute"),
            output_s3_uri=target.get("output_s3_uri"))
    return DefaultModelMonitor().run_monitoring(
        data, statistics=target["statistics"], constraints=target["constraints"],
        output_s3_uri=target.get("output_s3_uri"))
