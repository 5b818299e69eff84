"""``Predictor``: call an endpoint by name, as the SageMaker SDK's predictor does; and
``DataCaptureConfig``, the SDK's way to turn on an endpoint's data capture."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx

from stackyard._checks import KwargRules, check_number, uri_to_path
from stackyard.errors import StackyardError, UsageError
from stackyard.serving._serde import (
    BaseDeserializer,
    BaseSerializer,
    CSVSerializer,
    NumpyDeserializer,
)

# ``invoke_endpoint`` arguments a predict() call can set through ``initial_args``.
_INITIAL_ARGS = KwargRules(frozenset({"ContentType", "Accept", "TargetVariant", "InferenceId"}))
_CAPTURE_MODES = {"REQUEST": "Input", "RESPONSE": "Output", "INPUT": "Input", "OUTPUT": "Output"}


class DataCaptureConfig:
    """Capture a sample of an endpoint's requests and answers (SageMaker's capture format).

    ``destination_s3_uri`` may name a local folder (or ``file://`` URI); captures go to
    ``<destination>/<endpoint>/<variant>/YYYY/MM/DD/HH/``, by default under
    ``$STACKYARD_HOME/capture``. ``capture_options`` picks ``"REQUEST"`` and/or
    ``"RESPONSE"`` (both by default). ``kms_key_id`` and the content-type lists only matter
    on AWS and are ignored.
    """

    def __init__(self, enable_capture: bool, sampling_percentage: float = 20,
                 destination_s3_uri: str | None = None, kms_key_id: str | None = None,
                 capture_options: list[str] | None = None,
                 csv_content_types: list[str] | None = None,
                 json_content_types: list[str] | None = None,
                 sagemaker_session: Any = None) -> None:
        self.enable_capture = bool(enable_capture)
        self.sampling_percentage = check_number(sampling_percentage, "sampling_percentage",
                                                lo=0, hi=100)
        self.destination = None
        if destination_s3_uri is not None:
            try:
                self.destination = str(uri_to_path(destination_s3_uri))
            except UsageError:
                raise UsageError(
                    f"DataCaptureConfig destination_s3_uri {destination_s3_uri!r}: data capture "
                    "writes local files; give a local folder or file:// URI, or leave it out "
                    "for $STACKYARD_HOME/capture") from None
        options = [str(o).upper() for o in (capture_options or ["REQUEST", "RESPONSE"])]
        bad = [o for o in options if o not in _CAPTURE_MODES]
        if bad or not options:
            raise UsageError(f"capture_options {capture_options!r}: use 'REQUEST' and/or "
                             "'RESPONSE'")
        self.modes = sorted({_CAPTURE_MODES[o] for o in options})

    def endpoint_options(self) -> dict[str, Any]:
        """The ``create_endpoint`` options this config stands for."""
        if not self.enable_capture:
            return {"capture_percent": 0.0}
        return {"capture_percent": float(self.sampling_percentage),
                "capture_destination": self.destination, "capture_modes": self.modes}


def _codecs(serializer: Any, deserializer: Any) -> tuple[BaseSerializer, BaseDeserializer]:
    """The predictor's codecs (defaults: CSV out, NumPy from CSV back), checked up front."""
    serializer = serializer if serializer is not None else CSVSerializer()
    deserializer = (deserializer if deserializer is not None
                    else NumpyDeserializer(accept="text/csv"))
    if not (hasattr(serializer, "serialize") and isinstance(
            getattr(serializer, "CONTENT_TYPE", None), str)):
        raise UsageError(f"serializer {serializer!r} needs a serialize(data) method and a "
                         "CONTENT_TYPE, like stackyard.serving.CSVSerializer()")
    if not (hasattr(deserializer, "deserialize") and isinstance(
            getattr(deserializer, "ACCEPT", None), tuple | list)):
        raise UsageError(f"deserializer {deserializer!r} needs a deserialize(stream, "
                         "content_type) method and an ACCEPT tuple, like "
                         "stackyard.serving.NumpyDeserializer()")
    return serializer, deserializer


class Predictor:
    """``Predictor("my-endpoint").predict(rows)`` -> the endpoint's answer, parsed.

    ``serializer`` turns the data into the request body (default CSV); ``deserializer``
    turns the answer into a value (default: a NumPy array from a CSV answer).
    """

    def __init__(self, endpoint_name: str, sagemaker_session: Any = None,
                 serializer: BaseSerializer | None = None,
                 deserializer: BaseDeserializer | None = None) -> None:
        from stackyard.serving._control import describe_endpoint, read_token

        self.serializer, self.deserializer = _codecs(serializer, deserializer)
        self.endpoint_name = endpoint_name
        self.url = describe_endpoint(endpoint_name)["url"]
        token = read_token(endpoint_name)  # the endpoint's own 0600 file, if it has one
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(timeout=60)
        self.last_response: httpx.Response | None = None

    @property
    def content_type(self) -> str:
        return self.serializer.CONTENT_TYPE

    @property
    def accept(self) -> str:
        return ", ".join(self.deserializer.ACCEPT)

    def predict(self, data: Any, initial_args: dict[str, Any] | None = None,
                target_variant: str | None = None, inference_id: str | None = None) -> Any:
        """``initial_args`` may set ``ContentType``, ``Accept``, ``TargetVariant`` and
        ``InferenceId`` (as ``invoke_endpoint`` takes them); the keyword arguments win."""
        args = _INITIAL_ARGS.check("predict(initial_args=...)", dict(initial_args or {}))
        headers = {"Content-Type": args.get("ContentType", self.content_type),
                   "Accept": args.get("Accept", self.accept), **self._auth}
        variant = target_variant or args.get("TargetVariant")
        if variant:
            headers["X-Target-Variant"] = variant
        inference = inference_id or args.get("InferenceId")
        if inference:
            headers["X-Inference-Id"] = inference
        r = self._client.post(f"{self.url}/invocations", content=self.serializer.serialize(data),
                              headers=headers)
        self.last_response = r
        if r.status_code != 200:
            raise StackyardError(f"endpoint {self.endpoint_name} answered {r.status_code}: "
                                 f"{r.text}")
        return self.deserializer.deserialize(io.BytesIO(r.content),
                                             r.headers.get("content-type", ""))

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        from stackyard.serving._control import delete_endpoint

        self._client.close()
        delete_endpoint(self.endpoint_name)


def deploy_model(model_data: str, entry_point: str | None, source_dir: str | None,
                 endpoint_name: str | None = None, serializer: BaseSerializer | None = None,
                 deserializer: BaseDeserializer | None = None,
                 data_capture_config: DataCaptureConfig | None = None,
                 **options: Any) -> Predictor:
    """``Model.deploy()`` / ``Estimator.deploy()``: an endpoint for an unregistered model."""
    from stackyard.serving._control import artifact_spec, create_endpoint

    if data_capture_config is not None and not isinstance(data_capture_config,
                                                          DataCaptureConfig):
        raise UsageError("data_capture_config must be a stackyard.serving.DataCaptureConfig, "
                         f"not {type(data_capture_config).__name__}")
    _codecs(serializer, deserializer)  # before anything is created
    name = endpoint_name or f"endpoint-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = artifact_spec(model_data, entry_point, source_dir)
    capture = data_capture_config.endpoint_options() if data_capture_config else {}
    create_endpoint(name, [{"name": "AllTraffic", "model": spec, "weight": 1.0}],
                    **capture, **options)
    return Predictor(name, serializer=serializer, deserializer=deserializer)
