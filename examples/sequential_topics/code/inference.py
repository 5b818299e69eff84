"""Serving the registered three-layer model (SageMaker's model-server functions): raw
texts in (``text/plain``, one per line, or ``application/json``, a list of strings), one
JSON line per text out: its final topic and that topic's name."""

import json
from pathlib import Path

from layers import SequentialTopicModel
from textprep import clean


def model_fn(model_dir):
    return SequentialTopicModel.load(Path(model_dir))


def input_fn(body, content_type):
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if content_type == "application/json":
        texts = json.loads(text)
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ValueError("application/json: send a list of strings")
        return texts
    if content_type == "text/plain":
        return [line for line in text.splitlines() if line.strip()]
    raise ValueError(f"unsupported content type {content_type}; send text/plain or "
                     "application/json")


def predict_fn(texts, model):
    topics = model.predict([clean(t) for t in texts])
    return [{"topic": t, "name": model.name(t)} for t in topics]


def output_fn(prediction, accept):
    return "".join(json.dumps(p) + "\n" for p in prediction), "application/jsonlines"
