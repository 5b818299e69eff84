"""Lambda function: register the sequence model in stackyard's model registry, Pending,
with its held-out accuracies as metadata. The event is the sequence training job's
``DescribeTrainingJob`` output (``ModelArtifacts``, ``FinalMetricDataList``) plus the
execution's name, which makes a retried or resumed registration return the same version,
and ``SourceDir``, the code folder the model is served with.
On AWS this would call ``sagemaker.create_model_package`` with boto3."""

from stackyard.registry import ModelRegistry

GROUP = "document-classifier"


def handler(event, context):
    metrics = {m["MetricName"]: str(m["Value"]) for m in event.get("FinalMetricDataList", [])}
    pkg = ModelRegistry().register(
        GROUP, event["ModelArtifacts"]["S3ModelArtifacts"],
        entry_point="train_sequence.py", source_dir=event["SourceDir"],
        customer_metadata_properties=metrics, source_key=event["ExecutionName"],
        description=f"sequence model of execution {event['ExecutionName']}")
    return {"ModelPackageRef": pkg.ref, "Metrics": metrics}
