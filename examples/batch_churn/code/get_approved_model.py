"""Lambda function (seed 004, pipeline 2): the newest Approved version of a model group,
the model that serves it and its data-quality baseline.

On AWS this queries the SageMaker model registry with boto3; here it asks stackyard's
registry, which recorded everything at registration: the model name (customer metadata
``ModelName``, written by the training pipeline's CreateModel step) and the baseline's
statistics and constraints with their sha256. The baseline is handed on only if its bytes
still hash to what was registered, so a monitor never checks against a changed baseline.
"""

from stackyard import artifacts
from stackyard.registry import ModelRegistry


def _baseline(record, kind):
    section = (record.get("drift_check_baselines") or {}).get("ModelDataQuality") or {}
    source = section.get(kind)
    if not source:
        raise ValueError(f"{record['ref']} has no data-quality baseline {kind}; register it "
                         "with DriftCheckBaselines(model_data_statistics=..., "
                         "model_data_constraints=...)")
    if artifacts.content_hash(source["uri"]) != source["sha256"]:
        raise ValueError(f"{record['ref']}: baseline {kind} {source['uri']} no longer matches "
                         "the sha256 recorded at registration")
    return source["uri"]


def lambda_handler(event, context):
    group = event["model_package_group_name"]
    registry = ModelRegistry()
    ref = registry.latest(group, "Approved").ref
    record = registry.describe(ref)
    model_name = (record.get("customer_metadata_properties") or {}).get("ModelName")
    if not model_name:
        raise ValueError(f"{ref} records no ModelName in its customer metadata; register it "
                         "from the training pipeline, which creates the model first")
    return {"statusCode": 200, "ModelPackageRef": ref, "ModelName": model_name,
            "S3UriStatistics": _baseline(record, "Statistics"),
            "S3UriConstraints": _baseline(record, "Constraints")}
