"""Request bytes <-> arrays for the four content types SageMaker's containers speak.

Every wire format lives here: requests decoded and answers encoded by the server, the
bodies ``Predictor`` sends and parses, data-capture records, and health-check samples.
Every parse error is an ``InputError`` naming the problem, so servers can answer 4xx.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any

import numpy as np

from stackyard._checks import json_safe

CSV, JSON = "text/csv", "application/json"
JSONLINES, NPY = "application/jsonlines", "application/x-npy"
CONTENT_TYPES = (CSV, JSON, JSONLINES, NPY)
_FAST_CSV_BYTES = 4096  # below this, one row or a few: the plain path is as fast


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


def _csv_fast(body: bytes) -> np.ndarray | None:
    """Well-formed CSV of plain numbers through pandas' C tokenizer (about 10x faster than
    the checks of ``_csv``, which dominate batch transform). None whenever the body is not
    exactly that — a ragged row (pandas pads short rows, so the commas are counted), a value
    that is not a plain number, anything pandas refuses — so ``_csv`` decides, with its
    message."""
    import pandas as pd

    if body.startswith(b"\xef\xbb\xbf"):  # pandas drops a byte-order mark; _csv does not
        return None
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None, dtype=float, na_filter=False,
                            engine="c", encoding="utf-8", quoting=csv.QUOTE_NONE)
    except Exception:  # noqa: BLE001 - whatever it is, the careful path names it
        return None
    rows = frame.to_numpy(dtype=float)
    if rows.size == 0 or rows.shape[0] * (rows.shape[1] - 1) != body.count(b","):
        return None
    return rows


def _csv(body: bytes) -> np.ndarray:
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


def decode(body: bytes, content_type: str | None) -> np.ndarray:
    """A 2-D float array of rows."""
    ct = base_type(content_type)
    if ct == CSV:
        fast = _csv_fast(body) if len(body) > _FAST_CSV_BYTES else None
        return _csv(body) if fast is None else fast
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
        values = np.atleast_1d(arr).astype(float).tolist()  # Python floats in one C pass
        if arr.ndim <= 1:
            return ("\n".join(map(repr, values)) + "\n").encode(), CSV
        return ("\n".join(",".join(map(repr, row)) for row in values) + "\n").encode(), CSV
    if ct == JSON:
        return json.dumps({"predictions": json_safe(arr.tolist())}).encode(), JSON
    if ct == JSONLINES:
        return ("\n".join(json.dumps({"prediction": p}) for p in json_safe(arr.tolist()))
                + "\n").encode(), JSONLINES
    if ct == NPY:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue(), NPY
    raise InputError(f"cannot answer in {ct!r}; Accept one of {', '.join(CONTENT_TYPES)}", 406)


# --- answers are valid JSON ---------------------------------------------------------------
# A model can predict NaN or ±inf (an overflow, a NaN feature passed through). JSON has no
# such tokens, so JSON and JSON-lines answers carry ``null`` in their place (CSV writes
# ``nan``/``inf``, .npy keeps them): one bad row never turns a batch into an unparsable body.
def _finite_json(text: bytes, ct: str) -> bytes:
    """A JSON or JSON-lines answer (from ``encode`` or a model's ``output_fn``) with NaN and
    ±Infinity tokens replaced by ``null``; other bodies pass through untouched."""
    if ct not in (JSON, JSONLINES) or not (b"NaN" in text or b"Infinity" in text):
        return text
    try:
        if ct == JSON:
            return json.dumps(json_safe(json.loads(text))).encode()
        return ("\n".join(json.dumps(json_safe(json.loads(ln)))
                          for ln in text.decode().splitlines() if ln.strip()) + "\n").encode()
    except (ValueError, RecursionError):  # not JSON at all: the model's output, as it is
        return text


def finite_answer(body: bytes, content_type: str) -> bytes:
    """What an endpoint sends: ``body`` with non-finite JSON numbers as ``null``."""
    return _finite_json(body, base_type(content_type))


# --- client side: what ``Predictor`` sends and reads ----------------------------------------
def to_request(data: Any, content_type: str) -> bytes:
    """Rows (numpy, lists), text or bytes as a request body of ``content_type``."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode()
    ct = base_type(content_type)
    if ct == CSV:
        buf = io.StringIO()
        np.savetxt(buf, np.atleast_2d(np.asarray(data, dtype=float)), delimiter=",",
                   fmt="%.17g")
        return buf.getvalue().encode()
    if ct == NPY:
        buf = io.BytesIO()
        np.save(buf, np.asarray(data, dtype=float), allow_pickle=False)
        return buf.getvalue()
    return json.dumps(json_safe(np.asarray(data).tolist())).encode()


# --- data capture: SageMaker's captureData entries ------------------------------------------
_CAPTURE_TEXT = {CSV: "CSV", JSON: "JSON", JSONLINES: "JSON"}


def capture_entry(body: bytes, content_type: str, mode: str) -> dict[str, Any]:
    """One ``endpointInput``/``endpointOutput`` record: text types as text, anything else
    (or text that is not UTF-8) base64."""
    enc = _CAPTURE_TEXT.get(base_type(content_type))
    if enc is not None:
        try:
            return {"observedContentType": content_type, "mode": mode,
                    "data": body.decode("utf-8"), "encoding": enc}
        except UnicodeDecodeError:
            pass
    return {"observedContentType": content_type, "mode": mode,
            "data": base64.b64encode(body).decode(), "encoding": "BASE64"}


# --- a sample request (health checks) -------------------------------------------------------
def sample_request(sample: Any) -> tuple[bytes, str]:
    """A health-check request from a recorded sample payload: CSV text, a row or rows of
    numbers, or ``{"content_type": ..., "data": text}``."""
    if isinstance(sample, dict) and isinstance(sample.get("data"), str):
        ct = base_type(sample.get("content_type"))
        if ct not in CONTENT_TYPES or ct == NPY:
            raise InputError(f"sample payload content type {ct!r}: use a text type of "
                             f"{', '.join(CONTENT_TYPES[:3])}")
        return sample["data"].encode(), ct
    if isinstance(sample, str):
        return sample.encode(), CSV
    if isinstance(sample, list | tuple) and sample:
        return to_request(_rows(sample, "sample payload"), CSV), CSV
    raise InputError(f"sample payload {str(sample)[:80]!r}: write CSV text, a list of rows, "
                     'or {"content_type": ..., "data": ...}')
