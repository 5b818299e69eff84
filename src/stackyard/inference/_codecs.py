"""Request bytes <-> arrays for the four content types SageMaker's containers speak.

Every parse error is an ``InputError`` naming the problem, so servers can answer 4xx.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

CSV, JSON, JSONLINES, NPY = "text/csv", "application/json", "application/jsonlines", "application/x-npy"
CONTENT_TYPES = (CSV, JSON, JSONLINES, NPY)


class InputError(ValueError):
    """The request cannot be used: a client error (status 400, 406 or 415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def base_type(content_type: str | None) -> str:
    return (content_type or CSV).split(";")[0].strip().lower()


def accepted(accept: str | None, offered: list[str]) -> str | None:
    """The first offered type the Accept header allows (``*/*`` and lists included)."""
    if not accept:
        return offered[0]
    for part in accept.split(","):
        want = base_type(part)
        if want in ("*/*", ""):
            return offered[0]
        if want in offered:
            return want
    return None


def _rows(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError, OverflowError) as e:
        raise InputError(f"{what}: values must be numbers ({e})") from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InputError(f"{what}: expected a row or a list of rows, got {arr.ndim} dimensions")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{what}: the request holds no data")
    return arr


def decode(body: bytes, content_type: str | None) -> np.ndarray:
    """A 2-D float array of rows."""
    ct = base_type(content_type)
    if ct == CSV:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("text/csv body is not UTF-8") from None
        lines = [ln for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
        if not lines:
            raise InputError("text/csv: the request holds no rows")
        rows = [ln.split(",") for ln in lines]
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise InputError(f"text/csv: rows have different numbers of columns {sorted(widths)}")
        try:
            return np.array([[float(v) for v in r] for r in rows], dtype=float)
        except ValueError as e:
            raise InputError(f"text/csv: {e}") from None
    if ct == JSON:
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError) as e:  # bad JSON, huge ints, deep nesting
            raise InputError(f"application/json: not valid JSON ({e})") from None
        if isinstance(doc, dict):
            doc = doc.get("instances", doc.get("features", doc.get("data")))
            if doc is None:
                raise InputError('application/json: expected a list of rows or {"instances": '
                                 "[...]}")
        return _rows(doc, "application/json")
    if ct == JSONLINES:
        try:
            rows = [json.loads(ln) for ln in body.decode("utf-8").splitlines() if ln.strip()]
        except (ValueError, RecursionError) as e:
            raise InputError(f"application/jsonlines: a line is not valid JSON ({e})") from None
        rows = [r.get("features", r) if isinstance(r, dict) else r for r in rows]
        return _rows(rows, "application/jsonlines")
    if ct == NPY:
        try:
            arr = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any decode failure is the client's
            raise InputError(f"application/x-npy: not a .npy array ({e})") from None
        return _rows(arr, "application/x-npy")
    raise InputError(f"unsupported content type {ct!r}; use one of {', '.join(CONTENT_TYPES)}",
                     415)


def encode(prediction: Any, accept: str | None) -> tuple[bytes, str]:
    ct = base_type(accept) if accept and base_type(accept) != "*/*" else CSV
    arr = np.asarray(prediction)
    if ct == CSV:
        if arr.ndim <= 1:
            return ("\n".join(repr(float(v)) for v in np.atleast_1d(arr)) + "\n").encode(), CSV
        return ("\n".join(",".join(repr(float(v)) for v in row) for row in arr) + "\n").encode(), CSV
    if ct == JSON:
        return json.dumps({"predictions": arr.tolist()}).encode(), JSON
    if ct == JSONLINES:
        return ("\n".join(json.dumps({"prediction": p}) for p in arr.tolist()) + "\n").encode(), \
            JSONLINES
    if ct == NPY:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue(), NPY
    raise InputError(f"cannot answer in {ct!r}; Accept one of {', '.join(CONTENT_TYPES)}", 406)
