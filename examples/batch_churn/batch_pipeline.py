"""Seed 004, pipeline 2 (daily): batch inference and data-quality monitoring.

A ``LambdaStep`` asks the model registry for the newest Approved version of the group and
returns the model it serves with and its data-quality baseline; a
``MonitorBatchTransformStep`` first checks the day's input against that baseline (the
step fails on any violation, so drifted data is never scored) and then scores it with a
batch transform. A day is a folder: ``input/`` holds its Parquet files, the predictions
land beside them in ``predictions/`` (one ``<file>.out`` per input file, one churn
probability per row) and the monitoring report in ``monitoring/``.

Run it:  stackyard run examples/batch_churn/batch_pipeline.py -p DayFolder=/path/to/day
(after a version of the group was approved: ``stackyard models approve GROUP/VERSION``).
"""

from pathlib import Path

from churn_data import NORMAL_DAY, write_day

from stackyard.jobs import Transformer
from stackyard.monitor import CheckJobConfig, DataQualityCheckConfig, MonitoringDatasetFormat
from stackyard.workflow import (
    Join,
    Lambda,
    LambdaOutput,
    LambdaOutputTypeEnum,
    LambdaStep,
    MonitorBatchTransformStep,
    ParameterString,
    Pipeline,
    PipelineSession,
)

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"

session = PipelineSession()
role = "arn:aws:iam::111122223333:role/ignored-locally"

day = ParameterString("DayFolder", default_value=str(write_day(HERE / "data" / "days",
                                                                NORMAL_DAY)))
model_group = ParameterString("ModelPackageGroup", default_value="churn-xgboost")
day_input = Join(on="/", values=[day, "input"])

get_approved_model = LambdaStep(
    name="GetApprovedModel",
    lambda_func=Lambda(function_name="churn-get-approved-model", execution_role_arn=role,
                       script=str(CODE / "get_approved_model.py"),
                       handler="get_approved_model.lambda_handler", session=session),
    inputs={"model_package_group_name": model_group},
    outputs=[LambdaOutput(output_name=name, output_type=LambdaOutputTypeEnum.String)
             for name in ("ModelPackageRef", "ModelName", "S3UriStatistics",
                          "S3UriConstraints")],
)
approved = get_approved_model.properties.Outputs

transformer = Transformer(
    model_name=approved["ModelName"], instance_count=1, instance_type="ml.m5.xlarge",
    accept="text/csv", assemble_with="Line",
    output_path=Join(on="/", values=[day, "predictions"]), sagemaker_session=session)

monitor_and_score = MonitorBatchTransformStep(
    name="MonitorAndScore",
    transform_step_args=transformer.transform(data=day_input, content_type="text/csv",
                                              split_type="Line"),
    monitor_configuration=DataQualityCheckConfig(
        baseline_dataset=day_input, dataset_format=MonitoringDatasetFormat.parquet(),
        output_s3_uri=Join(on="/", values=[day, "monitoring"])),
    check_job_configuration=CheckJobConfig(role=role, instance_count=1,
                                           instance_type="ml.m5.xlarge",
                                           sagemaker_session=session),
    monitor_before_transform=True,
    fail_on_violation=True,
    supplied_baseline_statistics=approved["S3UriStatistics"],
    supplied_baseline_constraints=approved["S3UriConstraints"],
)

pipeline = Pipeline(name="churn-batch-inference", parameters=[day, model_group],
                    steps=[get_approved_model, monitor_and_score], sagemaker_session=session)
