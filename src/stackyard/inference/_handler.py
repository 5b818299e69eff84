"""One model behind the SageMaker inference contract.

A model's own ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` (from its entry point)
are used when present, so a seed-001 script serves unchanged; a stackyard ensemble saved
with ``save(dir)`` needs none. Requests are checked before user code sees them (content
type, well-formed body, feature count): those failures are the client's (4xx). The
feature count comes from the model (``n_features_in_``), the registered baseline or a sample
payload, never from traffic: one odd first request must not decide what every later one may
send. A ``ValueError`` from model code means the model refused the input (a wrong width it
alone knew, NaN rows scikit-learn rejects): 400 with its message. Any other exception inside
model code is the server's (500), logged under an error id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stackyard._imports import load_module
from stackyard.inference._codecs import (
    CONTENT_TYPES,
    NPY,
    InputError,
    accepted,
    base_type,
    decode,
    encode,
    sample_request,
    to_request,
)


class ModelError(RuntimeError):
    """Model code raised: a server error (500)."""


def expected_features(model: Any) -> int | None:
    """``n_features_in_`` of the model, or of its first member when it is a collection."""
    candidates = [model]
    if isinstance(model, list | tuple):
        candidates += list(model)
    elif isinstance(model, dict):
        candidates += list(model.values())
    for m in candidates:
        n = getattr(m, "n_features_in_", None)
        if isinstance(n, int | np.integer) and n > 0:
            return int(n)
    return None


class ModelHandler:
    def __init__(
        self,
        model_dir: str | Path,
        entry_point: str | None = None,
        code_dir: str | Path | None = None,
        content_types: list[str] | None = None,
        response_types: list[str] | None = None,
        n_features: int | None = None,
        sample_payload: Any = None,
        code_files: Mapping[str, str] | None = None,
    ) -> None:
        """``code_files``: the sha256 of each file of ``code_dir`` when it comes from the
        store (``artifacts.checkout``); every module is checked against it as it is
        imported. The entry point and its helper modules load in a namespace of their own
        (``stackyard._imports``), so model versions in one server never share a module."""
        self.model_dir = Path(model_dir)
        self.content_types = [base_type(c) for c in content_types or CONTENT_TYPES]
        self.response_types = [base_type(c) for c in response_types or CONTENT_TYPES]
        self.fns: dict[str, Callable] = {}
        if entry_point:
            code_root = Path(code_dir or self.model_dir)
            if not (code_root / entry_point).is_file():
                raise ModelError(f"entry point {code_root / entry_point} does not exist")
            module = load_module(code_root, entry_point, code_files)
            self.fns = {k: getattr(module, k) for k in ("model_fn", "input_fn", "predict_fn",
                                                        "output_fn") if hasattr(module, k)}
        if "model_fn" in self.fns:
            self.model = self.fns["model_fn"](str(self.model_dir))
        elif (self.model_dir / "manifest.json").exists():
            from stackyard.ensemble import load

            self.model = load(self.model_dir)
        else:
            raise ModelError(f"{self.model_dir}: no model_fn in the entry point and no "
                             "stackyard ensemble (manifest.json) to load")
        self.n_features = n_features or expected_features(self.model)
        self.sample = None if sample_payload is None else sample_request(sample_payload)

    def health_request(self) -> tuple[bytes, str] | None:
        """A request this model must answer before it gets traffic: the recorded sample
        payload, else a row of zeros of the known width, else None (nothing to send)."""
        if self.sample is not None:
            return self.sample
        if not self.n_features:
            return None
        ct = next((c for c in self.content_types if c in CONTENT_TYPES), CONTENT_TYPES[0])
        return to_request(np.zeros((1, self.n_features)), ct), ct

    def predict_array(self, rows: np.ndarray) -> Any:
        """In-process prediction on decoded rows (what the endpoint must match)."""
        if "predict_fn" in self.fns:
            return self.fns["predict_fn"](rows, self.model)
        return self.model.predict(rows)

    def check(self, body: bytes, content_type: str | None, accept: str | None
              ) -> tuple[str, str, np.ndarray | None]:
        ct = base_type(content_type)
        if ct not in self.content_types:
            raise InputError(f"this model takes {', '.join(self.content_types)}; "
                             f"got content type {ct!r}", 415)
        want = accepted(accept, self.response_types)
        if want is None:
            raise InputError(f"this model answers in {', '.join(self.response_types)}; "
                             f"cannot satisfy Accept {accept!r}", 406)
        rows = decode(body, ct) if ct in CONTENT_TYPES else None
        if rows is not None and self.n_features and rows.shape[1] != self.n_features:
            raise InputError(f"expected {self.n_features} features per row, got "
                             f"{rows.shape[1]}")
        return ct, want, rows

    @staticmethod
    def _payload(body: bytes, ct: str) -> Any:
        """What ``input_fn`` receives: text for text types (BOM dropped), bytes for npy."""
        if ct == NPY:
            return body
        try:
            return body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{ct} body is not UTF-8 text") from None

    def invoke(self, body: bytes, content_type: str | None, accept: str | None
               ) -> tuple[bytes, str]:
        return self.answer(body, *self.check(body, content_type, accept))

    def answer(self, body: bytes, ct: str, want: str, rows: np.ndarray | None
               ) -> tuple[bytes, str]:
        """``invoke`` after ``check``: apart so that batch transform can check (decode) the
        next mini-batch in a thread while this one is predicted."""
        if "input_fn" in self.fns:
            self._payload(body, ct)  # undecodable text is the client's error, not the model's
        try:
            if "input_fn" in self.fns:
                data = self.fns["input_fn"](self._payload(body, ct), ct)
            else:
                data = rows
            prediction = self.predict_array(data)
            if "output_fn" in self.fns:
                out = self.fns["output_fn"](prediction, want)
                if isinstance(out, tuple):
                    out, want = out[0], base_type(out[1])
                return (out.encode() if isinstance(out, str) else bytes(out)), want
        except InputError:
            raise
        except ValueError as e:  # the model refused the input: the client's to fix
            raise InputError(f"the model refused this input: {str(e)[:500]}") from e
        except Exception as e:
            raise ModelError(f"{type(e).__name__}: {e}") from e
        return encode(prediction, want)


class InferencePipeline:
    """Models in sequence behind one endpoint (preprocess -> model -> postprocess): each
    one's answer is the next one's request, as SageMaker's PipelineModel does."""

    def __init__(self, handlers: list[ModelHandler]) -> None:
        if not handlers:
            raise ValueError("an inference pipeline needs at least one model")
        self.handlers = handlers
        self.n_features = handlers[0].n_features

    def health_request(self) -> tuple[bytes, str] | None:
        return self.handlers[0].health_request()

    def invoke(self, body: bytes, content_type: str | None, accept: str | None
               ) -> tuple[bytes, str]:
        for i, h in enumerate(self.handlers):
            last = i == len(self.handlers) - 1
            nxt = accept if last else self.handlers[i + 1].content_types[0]
            body, content_type = h.invoke(body, content_type, nxt)
        return body, content_type or "application/octet-stream"

    def predict_array(self, rows: np.ndarray) -> Any:
        out: Any = rows
        for h in self.handlers:
            out = h.predict_array(out)
        return out
