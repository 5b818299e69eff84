"""MONITOR: data-quality and model-quality baselines and checks in SageMaker Model
Monitor's file formats (``statistics.json``, ``constraints.json``,
``constraint_violations.json``), plus a self-contained HTML report per run.

SDK names (SageMaker Python SDK v2): ``DefaultModelMonitor``, ``ModelQualityMonitor``,
``DatasetFormat``, ``MonitoringDatasetFormat``, ``EndpointInput``, ``BatchTransformInput``,
and the pure-data ``DataQualityCheckConfig``, ``ModelQualityCheckConfig``,
``CheckJobConfig`` (the workflow package re-exports them for ``QualityCheckStep``).

The contract a pipeline step executor uses (files in, files out, nothing recorded)::

    run_check(kind, config, baseline_statistics=None, baseline_constraints=None, *,
              output_dir) -> {"statistics": path, "constraints": path,
                              "violations": path | None, "violations_list": [...],
                              "report": path}
    suggest_baseline(kind, config, *, output_dir)  # run_check with no baseline

* ``kind``: ``"DATA_QUALITY"`` or ``"MODEL_QUALITY"`` (QualityCheckStep's ``CheckType``).
* ``config``: ``DataQualityCheckConfig(...).to_dict()`` / ``ModelQualityCheckConfig(...)
  .to_dict()`` — ``baseline_dataset`` (a path, ``file://`` or fsspec URI, a folder, or a
  list of files) and ``dataset_format``; model quality adds ``problem_type`` and the
  ``*_attribute`` column names, and optionally ``ground_truth_input`` (predictions in
  ``baseline_dataset`` are then joined with it on inferenceId / eventId / row order).
* ``baseline_statistics`` / ``baseline_constraints``: both (paths, URIs or parsed dicts)
  for a check, neither for a new baseline. Constraints are validated first: invalid JSON,
  unknown checks, or statistics and constraints naming different columns are a
  ``UsageError`` before anything is read.
* ``output_dir``: must not exist or be empty; it is written through a temp folder and
  renamed into place, so it is either complete or absent. A baseline writes statistics,
  suggested constraints and the report (``violations`` is None); a check writes the data's
  statistics, the constraints it used, ``constraint_violations.json`` and the report.

``DefaultModelMonitor`` / ``ModelQualityMonitor`` and ``stackyard monitor`` wrap this in a
recorded run (store table ``monitoring_runs``; outputs content-addressed under
``$STACKYARD_HOME/artifacts``, published to ``output_s3_uri`` if given).
"""

from stackyard.monitor._api import (
    BatchTransformInput,
    CheckJobConfig,
    DataQualityCheckConfig,
    DefaultModelMonitor,
    EndpointInput,
    ModelQualityCheckConfig,
    ModelQualityMonitor,
    check_endpoint,
)
from stackyard.monitor._formats import DatasetFormat, MonitoringDatasetFormat
from stackyard.monitor._run import DATA_QUALITY, MODEL_QUALITY, run_check, suggest_baseline
from stackyard.monitor._schedule import CronExpressionGenerator, run_scheduled

__all__ = [
    "DATA_QUALITY",
    "MODEL_QUALITY",
    "BatchTransformInput",
    "CheckJobConfig",
    "CronExpressionGenerator",
    "DataQualityCheckConfig",
    "DatasetFormat",
    "DefaultModelMonitor",
    "EndpointInput",
    "ModelQualityCheckConfig",
    "ModelQualityMonitor",
    "MonitoringDatasetFormat",
    "check_endpoint",
    "run_check",
    "run_scheduled",
    "suggest_baseline",
]
