"""Seed 001 on stackyard: preprocess -> tune CatBoost + XGBoost trained together in one job
(k-fold CV; Bayesian search over eta and max_depth, 4 jobs, 2 in parallel, minimising
validation:rmse) -> evaluate the best model on a holdout -> if its RMSE beats a threshold,
register it (PendingManualApproval) with its metrics and drift baseline.

Run it:  stackyard run examples/diabetes_ensemble/pipeline.py [-p RmseThreshold=70]
Ported from SageMaker by changing imports; the AWS-only arguments (role, instance_type,
framework_version) are accepted and ignored.
"""

from pathlib import Path

from sklearn.datasets import load_diabetes

from stackyard.jobs import (
    DriftCheckBaselines,
    MetricsSource,
    Model,
    ModelMetrics,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    SKLearn,
    TrainingInput,
)
from stackyard.tuning import ContinuousParameter, HyperparameterTuner, IntegerParameter
from stackyard.workflow import (
    CacheConfig,
    ConditionLessThanOrEqualTo,
    ConditionStep,
    FailStep,
    Join,
    JsonGet,
    ModelStep,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    PipelineSession,
    ProcessingStep,
    PropertyFile,
    RetryPolicy,
    TuningStep,
    step,
)

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
DATA = HERE / "data" / "diabetes.csv"


def ensure_data() -> Path:
    """The raw table, from scikit-learn's bundled copy (no download)."""
    if not DATA.exists():
        DATA.parent.mkdir(parents=True, exist_ok=True)
        frame = load_diabetes(as_frame=True).frame
        frame.to_csv(DATA, index=False)
    return DATA


session = PipelineSession()
role = "arn:aws:iam::111122223333:role/ignored-locally"

input_data = ParameterString("InputData", default_value=str(ensure_data()))
k_fold = ParameterInteger("KFold", default_value=5)
max_jobs = 4
rmse_threshold = ParameterFloat("RmseThreshold", default_value=70.0)
model_group = ParameterString("ModelPackageGroup", default_value="diabetes-ensemble")
approval_status = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")

processor = ScriptProcessor(command=["python3"], image_uri="sklearn:1.2", role=role,
                            instance_type="ml.m5.xlarge", instance_count=1,
                            sagemaker_session=session)
preprocess = ProcessingStep(
    name="Preprocess",
    step_args=processor.run(
        code=str(CODE / "preprocess.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name=n, source=f"/opt/ml/processing/{n}")
                 for n in ("train", "validation", "test", "baseline")],
        arguments=["--test-size", "0.2"],
    ),
    cache_config=CacheConfig(enable_caching=True, expire_after="P30D"),
)

estimator = SKLearn(
    entry_point="train.py", source_dir=str(CODE), role=role, instance_type="ml.m5.xlarge",
    framework_version="1.2-1",
    hyperparameters={"eta": 0.1, "max_depth": 3, "num_round": 150, "k_fold": k_fold},
    metric_definitions=[{"Name": "validation:rmse", "Regex": "validation-rmse:([0-9.]+);"}],
    sagemaker_session=session,
)
outputs = preprocess.properties.ProcessingOutputConfig.Outputs
tuner = HyperparameterTuner(
    estimator,
    objective_metric_name="validation:rmse",
    hyperparameter_ranges={"eta": ContinuousParameter(0.2, 0.3),
                           "max_depth": IntegerParameter(3, 4)},
    metric_definitions=[{"Name": "validation:rmse", "Regex": "validation-rmse:([0-9.]+);"}],
    strategy="Bayesian", objective_type="Minimize", max_jobs=max_jobs, max_parallel_jobs=2,
    random_seed=0,
)
tune = TuningStep(
    name="TuneEnsemble",
    step_args=tuner.fit({
        "train": TrainingInput(outputs["train"].S3Output.S3Uri, content_type="text/csv"),
        "validation": TrainingInput(outputs["validation"].S3Output.S3Uri,
                                    content_type="text/csv"),
    }),
    retry_policies=[RetryPolicy(exception_types=["Killed"], interval_seconds=1,
                                max_attempts=1)],
)
best_model = tune.get_top_model_s3_uri(top_k=0)

evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation",
                                 path="evaluation.json")
evaluate = ProcessingStep(
    name="Evaluate",
    step_args=processor.run(
        code=str(CODE / "evaluate.py"),
        inputs=[
            ProcessingInput(source=best_model,
                            destination="/opt/ml/processing/model"),
            ProcessingInput(source=outputs["test"].S3Output.S3Uri,
                            destination="/opt/ml/processing/test"),
            ProcessingInput(source=str(CODE), destination="/opt/ml/processing/code"),
        ],
        outputs=[ProcessingOutput(output_name="evaluation",
                                  source="/opt/ml/processing/evaluation")],
    ),
    property_files=[evaluation_report],
)

test_rmse = JsonGet(step=evaluate, property_file=evaluation_report,
                    json_path="regression_metrics.rmse.value")


@step(name="Summarise")
def summarise(rmse: float, validation_rmse: float, model_uri: str) -> dict:
    """A plain Python step: what a person reads at the end of the run."""
    return {"test_rmse": round(rmse, 3), "validation_rmse": round(validation_rmse, 3),
            "model": model_uri}


best = tune.properties.BestTrainingJob
summary = summarise(test_rmse, best.FinalHyperParameterTuningJobObjectiveMetric.Value,
                    best_model)

def _in(output: object, file: str) -> Join:
    return Join(on="/", values=[output, file])


baseline_uri = outputs["baseline"].S3Output.S3Uri
evaluation_uri = evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri
register = ModelStep(
    name="RegisterEnsemble",
    step_args=Model(model_data=best_model, entry_point="train.py", source_dir=str(CODE),
                    sagemaker_session=session).register(
        content_types=["text/csv", "application/json"],
        response_types=["text/csv", "application/json"],
        model_package_group_name=model_group,
        approval_status=approval_status,
        model_metrics=ModelMetrics(model_statistics=MetricsSource(
            "application/json", _in(evaluation_uri, "evaluation.json"))),
        drift_check_baselines=DriftCheckBaselines(
            model_data_statistics=MetricsSource("application/json",
                                                _in(baseline_uri, "statistics.json")),
            model_data_constraints=MetricsSource("application/json",
                                                 _in(baseline_uri, "constraints.json"))),
        customer_metadata_properties={"seed": "001", "members": "catboost,xgboost"},
        description="CatBoost + XGBoost mean blend, tuned on validation RMSE",
    ),
)

check = ConditionStep(
    name="CheckRmse",
    conditions=[ConditionLessThanOrEqualTo(left=test_rmse, right=rmse_threshold)],
    if_steps=[summary, register],
    else_steps=[FailStep(name="RmseTooHigh", error_message=Join(
        on=" ", values=["test RMSE above the threshold of", rmse_threshold]))],
)

pipeline = Pipeline(name="diabetes-ensemble",
                    parameters=[input_data, k_fold, rmse_threshold, model_group, approval_status],
                    steps=[preprocess, tune, evaluate, check], sagemaker_session=session)
