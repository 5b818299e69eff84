"""Seed 000: three BERTopic layers in sequence, a person-or-program revising the mapping
between layers through callback steps, and the final model registered.

preprocess -> train layer 1 (tuned: Bayesian search with CV) -> FirstMappingUpdate
(callback: the mapping worker names the topics and marks the big generic ones) -> train
layer 2 on the marked topics' documents -> SecondMappingUpdate -> train layer 3 ->
register the model (it predicts a final topic for new text). A mapping that marks nothing
for splitting ends the model at that layer; the later steps carry it on unchanged.

Run it:  stackyard run examples/sequential_topics/pipeline.py -p InputData=DIR
with ``python examples/sequential_topics/mapping_worker.py opportunity-mapping`` answering
(``run_demo.py`` does both). Ported from the seed's SageMaker code by changing imports.
"""

from pathlib import Path

from opportunities import opportunities, write_jsonl

from stackyard.jobs import (
    Estimator,
    Model,
    ProcessingInput,
    ProcessingOutput,
    ScriptProcessor,
    TrainingInput,
)
from stackyard.workflow import (
    CallbackOutput,
    CallbackOutputTypeEnum,
    CallbackStep,
    ModelStep,
    ParameterInteger,
    ParameterString,
    Pipeline,
    PipelineSession,
    ProcessingStep,
    TrainingStep,
)

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
GROUP = "opportunity-topics"
DEFAULT_DATA = HERE / "data" / "opportunities"

session = PipelineSession()
role = "arn:aws:iam::111122223333:role/ignored-locally"
if not DEFAULT_DATA.exists():
    write_jsonl(opportunities(600), DEFAULT_DATA / "opportunities.jsonl")

input_data = ParameterString("InputData", default_value=str(DEFAULT_DATA))
queue = ParameterString("MappingQueue", default_value="opportunity-mapping")
mapping_folder = ParameterString("MappingFolder", default_value=str(HERE / "data" / "mapping"))
trials = ParameterInteger("TuningTrials", default_value=6)
embedding = ParameterString("Embedding", default_value="auto")
min_topics = ParameterInteger("MinTopics", default_value=15)
max_topics = ParameterInteger("MaxTopics", default_value=25)
approval = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")

processor = ScriptProcessor(command=["python3"], role=role, instance_type="ml.m5.4xlarge",
                            instance_count=1, sagemaker_session=session)
preprocess = ProcessingStep(
    name="DataPreprocessing",
    step_args=processor.run(
        code=str(CODE / "preprocess.py"),
        inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input/data"),
                ProcessingInput(source=str(CODE), destination="/opt/ml/processing/input/code/")],
        outputs=[ProcessingOutput(output_name="data_train", source="/opt/ml/processing/train")],
    ),
)
docs = TrainingInput(preprocess.properties.ProcessingOutputConfig.Outputs["data_train"]
                     .S3Output.S3Uri)
METRICS = [{"Name": "layer:topics", "Regex": "layer-topics:([0-9]+);"},
           {"Name": "cv:loss", "Regex": "cv-loss:([-0-9.]+);"}]


def layer(n: int, inputs: dict) -> TrainingStep:
    estimator = Estimator(
        entry_point="train_layer.py", source_dir=str(CODE), role=role,
        image_uri="opportunity-topics:latest", instance_type="ml.m5.4xlarge",
        instance_count=1, metric_definitions=METRICS, sagemaker_session=session,
        hyperparameters={"layer": n, "trials": trials, "embedding": embedding,
                         "min_topics": min_topics, "max_topics": max_topics})
    name = {1: "TrainFirstLayerModel", 2: "TrainSecondLayerModel", 3: "TrainThirdLayerModel"}
    return TrainingStep(name=name[n], step_args=estimator.fit(inputs))


def mapping_update(name: str, n: int, trained: TrainingStep) -> CallbackStep:
    return CallbackStep(
        name=name, sqs_queue_url=queue,
        inputs={"layer": n, "input_location": trained.properties.ModelArtifacts.S3ModelArtifacts,
                "output_location": mapping_folder},
        outputs=[CallbackOutput("mapping", CallbackOutputTypeEnum.String),
                 CallbackOutput("split_topics", CallbackOutputTypeEnum.Integer)],
        timeout=3600)


first = layer(1, {"train": docs})
first_update = mapping_update("FirstMappingUpdate", 1, first)
second = layer(2, {"train": docs, "previous": TrainingInput(
    first.properties.ModelArtifacts.S3ModelArtifacts), "mapping": TrainingInput(
    first_update.properties.Outputs["mapping"])})
second_update = mapping_update("SecondMappingUpdate", 2, second)
third = layer(3, {"train": docs, "previous": TrainingInput(
    second.properties.ModelArtifacts.S3ModelArtifacts), "mapping": TrainingInput(
    second_update.properties.Outputs["mapping"])})

model = Model(model_data=third.properties.ModelArtifacts.S3ModelArtifacts,
              entry_point="inference.py", source_dir=str(CODE), role=role,
              image_uri="opportunity-topics:latest", sagemaker_session=session)
register = ModelStep(name="OppUseCaseRegisterModel", step_args=model.register(
    content_types=["text/plain", "application/json"], response_types=["application/jsonlines"],
    inference_instances=["ml.m5.xlarge"], transform_instances=["ml.m5.xlarge"],
    model_package_group_name=GROUP, approval_status=approval,
    description="One to three sequential BERTopic layers (UMAP -> BIRCH -> c-TF-IDF) over "
                "sales opportunities, as many as the mappings split; predicts a final "
                "use-case topic for new text"))

pipeline = Pipeline(
    name="opportunity-use-cases",
    parameters=[input_data, queue, mapping_folder, trials, embedding, min_topics, max_topics,
                approval],
    steps=[preprocess, first, first_update, second, second_update, third, register],
    sagemaker_session=session)
