"""Job shapes from the SageMaker SDK: processors, estimators and their inputs/outputs."""

from stackyard.jobs._processing import (
    ProcessingInput,
    ProcessingOutput,
    Processor,
    ScriptProcessor,
    SKLearnProcessor,
)
from stackyard.jobs._training import SKLearn, Estimator, TrainingInput, XGBoost

__all__ = [
    "Estimator",
    "ProcessingInput",
    "ProcessingOutput",
    "Processor",
    "SKLearn",
    "SKLearnProcessor",
    "ScriptProcessor",
    "TrainingInput",
    "XGBoost",
]
