"""Job shapes from the SageMaker SDK: processors, estimators and their inputs/outputs."""

from stackyard.jobs._model import DriftCheckBaselines, MetricsSource, Model, ModelMetrics
from stackyard.jobs._processing import (
    ProcessingInput,
    ProcessingOutput,
    Processor,
    ScriptProcessor,
    SKLearnProcessor,
)
from stackyard.jobs._training import Estimator, SKLearn, TrainingInput, XGBoost
from stackyard.jobs._transformer import Transformer, TransformInput

__all__ = [
    "DriftCheckBaselines",
    "Estimator",
    "MetricsSource",
    "Model",
    "ModelMetrics",
    "ProcessingInput",
    "ProcessingOutput",
    "Processor",
    "SKLearn",
    "SKLearnProcessor",
    "ScriptProcessor",
    "TrainingInput",
    "TransformInput",
    "Transformer",
    "XGBoost",
]
