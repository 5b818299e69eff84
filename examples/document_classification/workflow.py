"""The seed-003 state machine, written with the Step Functions Data Science SDK's builders
(``stackyard.states.sdk``: the same calls as ``stepfunctions.steps``):

    Prepare pages (processing job)
      -> Train base models (Parallel)
           | Train text model (createTrainingJob.sync, Retry)
           | Skip image model? (Choice) -> Reuse image model (Pass) | Train image model (Retry)
      -> Train sequence model (createTrainingJob.sync on both models' outputs, Retry)
      -> Register model (lambda:invoke) -> Done
    every Task and the Parallel state: Catch States.ALL -> Notify failure (sns:publish)
      -> Training failed (Fail)  ("fail successfully")

``python workflow.py`` prints the Amazon States Language it compiles to.
"""

import sys
from pathlib import Path

from stackyard.jobs import ProcessingInput, ProcessingOutput, SKLearn, SKLearnProcessor
from stackyard.states.sdk import (
    Catch,
    Chain,
    Choice,
    ChoiceRule,
    ExecutionInput,
    Fail,
    LambdaStep,
    Parallel,
    Pass,
    ProcessingStep,
    Retry,
    SnsPublishStep,
    StepInput,
    Succeed,
    TrainingStep,
    Workflow,
)

CODE = Path(__file__).resolve().parent / "code"
NAME = "document-classification"
FUNCTION = "register-document-classifier"
TOPIC = "arn:aws:sns:local:000000000000:model-training-alerts"
ROLE = "arn:aws:iam::123456789012:role/sm-stepfunction-iam-role"  # accepted, ignored


def _retry() -> Retry:
    """SageMaker hiccups are retried once, a second later (seed 003: 'retry if possible')."""
    return Retry(error_equals=["SageMaker.AmazonSageMakerException", "States.TaskFailed"],
                 interval_seconds=1, max_attempts=1, backoff_rate=1.1)


def _channel(name: str, path: str) -> dict:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri.$": path, "S3DataDistributionType": "FullyReplicated"}}}


def _base_model(state_id: str, script: str, job_name: object,
                hyperparameters: dict) -> TrainingStep:
    estimator = SKLearn(entry_point=script, source_dir=str(CODE), role=ROLE,
                        instance_type="ml.m5.xlarge", framework_version="1.2-1",
                        metric_definitions=[
                            {"Name": "oof:accuracy", "Regex": r"oof-accuracy=([0-9.]+);"},
                            {"Name": "test:accuracy", "Regex": r"test-accuracy=([0-9.]+);"}])
    return TrainingStep(state_id, estimator=estimator, job_name=job_name,
                        data={"pages": StepInput()["prepared"]["ProcessingOutputConfig"][
                            "Outputs"][0]["S3Output"]["S3Uri"]},
                        hyperparameters=hyperparameters, retry=_retry())


def build(n_docs: int = 500) -> Workflow:
    run = ExecutionInput()
    notify = SnsPublishStep("Notify failure", parameters={
        "TopicArn": TOPIC, "Subject": "[ERROR] Model Training failed!",
        "Message.$": "States.Format('Error during model training: {} ({})', $.error.Error, "
                     "$$.Execution.Name)"})
    failed = Fail("Training failed", error="ModelTrainingFailed",
                  cause="a training step failed; the alert was published")
    on_error = Catch(error_equals=["States.ALL"], next_step=notify, result_path="$.error")
    notify.next(failed)

    prepare = ProcessingStep(
        "Prepare pages", SKLearnProcessor(framework_version="1.2-1", role=ROLE,
                                          instance_type="ml.m5.xlarge", instance_count=1),
        job_name=run["PrepareJobName"],
        inputs=[ProcessingInput(source=str(CODE), destination="/opt/ml/processing/input/code",
                                input_name="source")],
        outputs=[ProcessingOutput(source="/opt/ml/processing/pages", output_name="pages")],
        container_entrypoint=["python3", "/opt/ml/processing/input/code/prepare.py"],
        container_arguments=["--n-docs", str(n_docs)],
        result_path="$.prepared", catch=on_error)

    text = _base_model("Train text model", "train_text.py", run["TextJobName"],
                       {"C": run["text_C"], "max_iter": "300"})
    image = _base_model("Train image model", "train_image.py", run["ImageJobName"],
                        {"C": "0.1"})
    skip = Choice("Skip image model?")
    skip.add_choice(ChoiceRule.BooleanEquals("$.train_image_model", False), Pass(
        "Reuse image model", parameters={"ModelArtifacts": {
            "S3ModelArtifacts": run["previous_image_model"]}}))
    skip.default_choice(image)
    base = Parallel("Train base models", result_path="$.models", catch=on_error)
    base.add_branch(text)
    base.add_branch(skip)

    sequence = TrainingStep(
        "Train sequence model",
        estimator=SKLearn(entry_point="train_sequence.py", source_dir=str(CODE), role=ROLE,
                          instance_type="ml.m5.xlarge", metric_definitions=[
                              {"Name": f"{m}:accuracy", "Regex": rf"{m}-accuracy=([0-9.]+);"}
                              for m in ("text", "image", "sequence")]),
        job_name=run["SequenceJobName"], hyperparameters={"C": "1.0"},
        parameters={"InputDataConfig": [  # channels read from the state's input
            _channel("text", "$.models[0].ModelArtifacts.S3ModelArtifacts"),
            _channel("image", "$.models[1].ModelArtifacts.S3ModelArtifacts")]},
        result_path="$.sequence", retry=_retry(), catch=on_error)
    register = LambdaStep("Register model", parameters={
        "FunctionName": FUNCTION,
        "Payload": {"ModelArtifacts.$": "$.sequence.ModelArtifacts",
                    "FinalMetricDataList.$": "$.sequence.FinalMetricDataList",
                    "ExecutionName.$": "$$.Execution.Name", "SourceDir": str(CODE)}},
        result_path="$.registered", catch=on_error)

    definition = Chain([prepare, base, sequence, register, Succeed("Done")])
    return Workflow(NAME, definition, role=ROLE, comment="Seed 003: smart document "
                    "classification, text + image models stacked by a sequence model")


if __name__ == "__main__":
    sys.stdout.write(build().definition.to_json(pretty=True) + "\n")
