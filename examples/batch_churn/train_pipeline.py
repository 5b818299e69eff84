"""Seed 004, pipeline 1 (monthly): train and baseline.

prepare the churn table -> train XGBoost -> evaluate on a holdout -> if the test accuracy
reaches the threshold: compute the data-quality baseline of the training features
(``QualityCheckStep``), create the model (``ModelStep(step_args=model.create())``) and
register the version, pending a person's approval, with its metrics, its baseline and the
created model's name (customer metadata ``ModelName``, which pipeline 2 reads).

Run it:  stackyard run examples/batch_churn/train_pipeline.py [-p AccuracyThreshold=0.8]
Ported from the SageMaker notebook by changing imports; the AWS-only arguments (role,
instance types, framework versions) are accepted and ignored.
"""

from pathlib import Path

from churn_data import write_training

from stackyard.jobs import (
    DriftCheckBaselines,
    MetricsSource,
    Model,
    ModelMetrics,
    ProcessingInput,
    ProcessingOutput,
    SKLearnProcessor,
    TrainingInput,
    XGBoost,
)
from stackyard.monitor import CheckJobConfig, DataQualityCheckConfig, DatasetFormat
from stackyard.workflow import (
    ConditionGreaterThanOrEqualTo,
    ConditionStep,
    FailStep,
    Join,
    JsonGet,
    ModelStep,
    ParameterFloat,
    ParameterString,
    Pipeline,
    PipelineSession,
    ProcessingStep,
    PropertyFile,
    QualityCheckStep,
    TrainingStep,
)

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
GROUP = "churn-xgboost"

session = PipelineSession()
role = "arn:aws:iam::111122223333:role/ignored-locally"

input_data = ParameterString("InputData", default_value=str(write_training(HERE / "data" /
                                                                         "churn.csv")))
accuracy_threshold = ParameterFloat("AccuracyThreshold", default_value=0.8)
model_group = ParameterString("ModelPackageGroup", default_value=GROUP)
approval_status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")

processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge",
                             instance_count=1, sagemaker_session=session)
prepare = ProcessingStep(
    name="PrepareData",
    step_args=processor.run(
        code=str(CODE / "prepare.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name=n, source=f"/opt/ml/processing/{n}")
                 for n in ("train", "validation", "test", "baseline")],
    ),
)
prepared = prepare.properties.ProcessingOutputConfig.Outputs

estimator = XGBoost(
    entry_point="train.py", source_dir=str(CODE), framework_version="1.7-1", role=role,
    instance_type="ml.m5.xlarge", instance_count=1,
    hyperparameters={"max_depth": 4, "eta": 0.1, "num_round": 150, "subsample": 0.9},
    metric_definitions=[{"Name": "validation:auc", "Regex": "validation-auc:([0-9.]+);"},
                        {"Name": "validation:logloss", "Regex": "validation-logloss:([0-9.]+);"}],
    sagemaker_session=session,
)
train = TrainingStep(
    name="TrainModel",
    step_args=estimator.fit({
        "train": TrainingInput(prepared["train"].S3Output.S3Uri, content_type="text/csv"),
        "validation": TrainingInput(prepared["validation"].S3Output.S3Uri,
                                    content_type="text/csv"),
    }),
)
model_data = train.properties.ModelArtifacts.S3ModelArtifacts

evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation",
                                 path="evaluation.json")
evaluate = ProcessingStep(
    name="EvaluateModel",
    step_args=processor.run(
        code=str(CODE / "evaluate.py"),
        inputs=[ProcessingInput(source=model_data, destination="/opt/ml/processing/model"),
                ProcessingInput(source=prepared["test"].S3Output.S3Uri,
                                destination="/opt/ml/processing/test"),
                ProcessingInput(source=str(CODE), destination="/opt/ml/processing/code")],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")],
    ),
    property_files=[evaluation_report],
)
evaluation_json = Join(on="/", values=[
    evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
    "evaluation.json"])

# The baseline: statistics and suggested constraints of the training features. With
# skip_check and register_new_baseline both true, the step only computes a new baseline.
baseline = QualityCheckStep(
    name="BaselineData",
    quality_check_config=DataQualityCheckConfig(
        baseline_dataset=prepared["baseline"].S3Output.S3Uri,
        dataset_format=DatasetFormat.csv(header=True)),
    check_job_config=CheckJobConfig(role=role, instance_count=1, instance_type="ml.m5.xlarge",
                                    sagemaker_session=session),
    skip_check=True,
    register_new_baseline=True,
    model_package_group_name=model_group,
)
statistics = MetricsSource("application/json",
                           baseline.properties.CalculatedBaselineStatistics)
constraints = MetricsSource("application/json",
                            baseline.properties.CalculatedBaselineConstraints)

model = Model(model_data=model_data, entry_point="train.py", source_dir=str(CODE), role=role,
              sagemaker_session=session)
create_model = ModelStep(name="CreateModel", step_args=model.create(instance_type="ml.m5.large"))
register = ModelStep(
    name="RegisterModel",
    step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.m5.large"], transform_instances=["ml.m5.xlarge"],
        model_package_group_name=model_group,
        approval_status=approval_status,
        model_metrics=ModelMetrics(
            model_statistics=MetricsSource("application/json", evaluation_json),
            model_data_statistics=statistics, model_data_constraints=constraints),
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=statistics, model_data_constraints=constraints),
        customer_metadata_properties={"ModelName": create_model.properties.ModelName},
        description="XGBoost churn classifier with its training-data quality baseline",
    ),
)

check_accuracy = ConditionStep(
    name="CheckAccuracy",
    conditions=[ConditionGreaterThanOrEqualTo(
        left=JsonGet(step=evaluate, property_file=evaluation_report,
                     json_path="binary_classification_metrics.accuracy.value"),
        right=accuracy_threshold)],
    if_steps=[baseline, create_model, register],
    else_steps=[FailStep(name="AccuracyTooLow", error_message=Join(
        on=" ", values=["test accuracy below the threshold of", accuracy_threshold]))],
)

pipeline = Pipeline(name="churn-train-baseline",
                    parameters=[input_data, accuracy_threshold, model_group, approval_status],
                    steps=[prepare, train, evaluate, check_accuracy], sagemaker_session=session)
