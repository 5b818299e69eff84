"""The SageMaker SDK's serializers and deserializers, for ``Predictor`` and ``deploy()``.

Same class names, ``CONTENT_TYPE``/``ACCEPT`` and ``serialize(data)`` /
``deserialize(stream, content_type)`` methods as ``sagemaker.serializers`` and
``sagemaker.deserializers``, so predictor code ports by changing imports. One difference on
purpose: ``NumpyDeserializer`` never unpickles an answer (``allow_pickle=True`` is refused).
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any

import numpy as np

from stackyard.errors import UsageError

CSV, JSON, NPY = "text/csv", "application/json", "application/x-npy"


class BaseSerializer:
    """Turns ``predict()``'s data into a request body of type ``CONTENT_TYPE``."""

    CONTENT_TYPE = "application/octet-stream"

    def serialize(self, data: Any) -> bytes:
        raise NotImplementedError


class BaseDeserializer:
    """Turns an answer body into a Python value; ``ACCEPT`` is what it asks for."""

    ACCEPT: tuple[str, ...] = ("*/*",)

    def deserialize(self, stream: IO[bytes], content_type: str) -> Any:
        raise NotImplementedError


def _readable(data: Any) -> bytes | None:
    """Bytes, text and file-like objects go out as they are (as in SageMaker)."""
    if hasattr(data, "read"):
        data = data.read()
    if isinstance(data, str):
        return data.encode()
    return bytes(data) if isinstance(data, bytes | bytearray) else None


class CSVSerializer(BaseSerializer):
    """Rows (a list, list of lists or array) as CSV lines; numbers keep full precision."""

    def __init__(self, content_type: str = CSV) -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes:
        raw = _readable(data)
        if raw is not None:
            return raw
        try:
            arr = np.atleast_2d(np.asarray(data, dtype=float))
        except (TypeError, ValueError):
            buf = io.StringIO()
            rows = data if data and isinstance(data[0], list | tuple) else [data]
            csv.writer(buf, lineterminator="\n").writerows(rows)
            return buf.getvalue().encode()
        if arr.ndim > 2 or arr.size == 0:
            raise UsageError(f"CSVSerializer: cannot write {arr.ndim}-D or empty data as CSV")
        buf = io.StringIO()
        np.savetxt(buf, arr, delimiter=",", fmt="%.17g")
        return buf.getvalue().encode()


class JSONSerializer(BaseSerializer):
    """Any JSON-able value; NumPy arrays (also inside a dict) as nested lists."""

    def __init__(self, content_type: str = JSON) -> None:
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes:
        if hasattr(data, "read") or isinstance(data, bytes | bytearray):
            return _readable(data) or b""
        if isinstance(data, dict):
            data = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in data.items()}
        elif isinstance(data, np.ndarray):
            data = data.tolist()
        return json.dumps(data).encode()


class NumpySerializer(BaseSerializer):
    """An array in NumPy's ``.npy`` format (never pickled)."""

    def __init__(self, dtype: Any = None, content_type: str = NPY) -> None:
        self.dtype = dtype
        self.CONTENT_TYPE = content_type

    def serialize(self, data: Any) -> bytes:
        raw = _readable(data) if not isinstance(data, str) else None
        if raw is not None:
            return raw
        buf = io.BytesIO()
        np.save(buf, np.asarray(data, dtype=self.dtype), allow_pickle=False)
        return buf.getvalue()


def _text(stream: IO[bytes], encoding: str = "utf-8") -> str:
    return stream.read().decode(encoding)


class CSVDeserializer(BaseDeserializer):
    """CSV text -> a list of rows of strings (as SageMaker's)."""

    def __init__(self, encoding: str = "utf-8", accept: str = CSV) -> None:
        self.encoding = encoding
        self.ACCEPT = (accept,)

    def deserialize(self, stream: IO[bytes], content_type: str) -> list[list[str]]:
        return [row for row in csv.reader(io.StringIO(_text(stream, self.encoding))) if row]


class JSONDeserializer(BaseDeserializer):
    """JSON -> the parsed value."""

    def __init__(self, accept: str = JSON) -> None:
        self.ACCEPT = (accept,)

    def deserialize(self, stream: IO[bytes], content_type: str) -> Any:
        return json.loads(_text(stream))


class NumpyDeserializer(BaseDeserializer):
    """CSV, JSON or ``.npy`` -> an array. A one-column answer becomes a 1-D array, and a
    JSON ``{"predictions": [...]}`` answer its predictions."""

    def __init__(self, dtype: Any = None, accept: str = NPY, allow_pickle: bool = False) -> None:
        if allow_pickle:
            raise UsageError("NumpyDeserializer(allow_pickle=True): stackyard never unpickles "
                             "an endpoint's answer; answer in .npy, CSV or JSON")
        self.dtype = dtype
        self.ACCEPT = (accept,)

    def deserialize(self, stream: IO[bytes], content_type: str) -> np.ndarray:
        ct = (content_type or "").split(";")[0].strip().lower()
        if ct == NPY:
            return np.load(io.BytesIO(stream.read()), allow_pickle=False)
        if ct == JSON:
            doc = json.loads(_text(stream))
            if isinstance(doc, dict) and "predictions" in doc:
                doc = doc["predictions"]
            return np.asarray(doc, dtype=self.dtype)
        if ct == CSV:
            rows = [r for r in csv.reader(io.StringIO(_text(stream))) if r]
            arr = np.array(rows, dtype=self.dtype or float)
            return arr[:, 0] if arr.ndim == 2 and arr.shape[1] == 1 else arr
        raise UsageError(f"NumpyDeserializer cannot read an answer of type {content_type!r}")
