"""Request bytes -> response bytes: codecs and the model_fn/input_fn/predict_fn/output_fn
contract, shared by serving, batch transform and monitoring."""

from stackyard.inference._codecs import CONTENT_TYPES, InputError, decode, encode
from stackyard.inference._handler import InferencePipeline, ModelError, ModelHandler

__all__ = ["CONTENT_TYPES", "InferencePipeline", "InputError", "ModelError", "ModelHandler",
           "decode", "encode"]
