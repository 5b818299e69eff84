"""The predictor side of the SDK: serializers/deserializers, ``predict(initial_args=...)``
and ``deploy(data_capture_config=...)``, against a real endpoint."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from stackyard.errors import UsageError
from stackyard.jobs import Model
from stackyard.serving import (
    CSVDeserializer,
    CSVSerializer,
    DataCaptureConfig,
    JSONDeserializer,
    JSONSerializer,
    NumpyDeserializer,
    NumpySerializer,
)

ROWS = np.array([[1.0, 2.0, 3.0], [0.5, 0.25, 1e-17]])


def test_codecs_round_trip_and_never_unpickle() -> None:
    csv = CSVSerializer().serialize(ROWS)
    assert np.array_equal(NumpyDeserializer().deserialize(io.BytesIO(csv), "text/csv"), ROWS)
    assert CSVDeserializer().deserialize(io.BytesIO(b"a,b\n1,2\n"), "text/csv") == [
        ["a", "b"], ["1", "2"]]
    npy = NumpySerializer().serialize(ROWS)
    assert np.array_equal(NumpyDeserializer().deserialize(io.BytesIO(npy),
                                                          "application/x-npy"), ROWS)
    body = JSONSerializer().serialize({"instances": ROWS})
    assert json.loads(body) == {"instances": ROWS.tolist()}
    assert JSONDeserializer().deserialize(io.BytesIO(b'{"a": 1}'), "application/json") == {
        "a": 1}
    assert NumpyDeserializer().deserialize(
        io.BytesIO(b'{"predictions": [1, 2]}'), "application/json").tolist() == [1, 2]
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        NumpyDeserializer().deserialize(io.BytesIO(buf.getvalue()), "application/x-npy")
    with pytest.raises(UsageError, match="never unpickles"):
        NumpyDeserializer(allow_pickle=True)
    assert (CSVSerializer().CONTENT_TYPE, JSONSerializer().CONTENT_TYPE,
            NumpySerializer().CONTENT_TYPE) == ("text/csv", "application/json",
                                                "application/x-npy")
    assert NumpyDeserializer().ACCEPT == ("application/x-npy",)
    assert CSVDeserializer().ACCEPT == ("text/csv",)


def test_data_capture_config_is_checked() -> None:
    with pytest.raises(UsageError, match="local folder"):
        DataCaptureConfig(True, 10, destination_s3_uri="s3://bucket/capture")
    with pytest.raises(UsageError, match="REQUEST"):
        DataCaptureConfig(True, 10, capture_options=["EVERYTHING"])
    with pytest.raises(UsageError, match="sampling_percentage"):
        DataCaptureConfig(True, 101)
    assert DataCaptureConfig(False).endpoint_options() == {"capture_percent": 0.0}


def test_bad_codecs_or_capture_config_create_no_endpoint(home: Path, sy) -> None:
    from serving_helpers import write_model

    tar, code = write_model(home / "m", [1, 2, 3], 0.5)
    model = Model(model_data=str(tar), entry_point="inference.py", source_dir=str(code))
    with pytest.raises(UsageError, match="serializer 'csv'"):
        model.deploy(endpoint_name="bad", serializer="csv")
    with pytest.raises(UsageError, match="deserializer"):
        model.deploy(endpoint_name="bad", deserializer=json)
    with pytest.raises(UsageError, match="DataCaptureConfig"):
        model.deploy(endpoint_name="bad", data_capture_config={"EnableCapture": True})
    from stackyard import serving

    assert serving.list_endpoints() == []


@pytest.mark.slow
def test_deploy_with_codecs_capture_and_initial_args(home: Path, sy) -> None:
    """Regression: deploy() dropped serializer, deserializer and data_capture_config, and
    predict() dropped initial_args."""
    from serving_helpers import write_model

    tar, code = write_model(home / "m", [1, 2, 3], 0.5)
    dest = home / "capture here ü"
    predictor = Model(model_data=str(tar), entry_point="inference.py",
                      source_dir=str(code)).deploy(
        endpoint_name="sdk", serializer=JSONSerializer(), deserializer=JSONDeserializer(),
        data_capture_config=DataCaptureConfig(True, 100, destination_s3_uri=str(dest),
                                              capture_options=["REQUEST"]))
    assert predictor.content_type == "application/json"
    assert predictor.predict(ROWS) == {"predictions": (ROWS @ [1, 2, 3] + 0.5).tolist()}
    assert predictor.last_response.headers["content-type"].startswith("application/json")

    answer = predictor.predict(b"1,1,1\n", initial_args={
        "ContentType": "text/csv", "Accept": "text/csv", "InferenceId": "inf-42",
        "TargetVariant": "AllTraffic"})
    assert predictor.last_response.headers["x-inference-id"] == "inf-42"
    assert predictor.last_response.headers["content-type"].startswith("text/csv")
    assert answer == 6.5  # the CSV answer "6.5" read by the JSONDeserializer
    with pytest.raises(TypeError, match="TargetModel"):
        predictor.predict(ROWS, initial_args={"TargetModel": "m.tar.gz"})

    def captured() -> list[dict]:
        return [json.loads(line) for f in sorted(dest.rglob("*.jsonl"))
                for line in f.read_text().splitlines()]

    lines = sy.wait_until(lambda: len(captured()) >= 2 and captured(), timeout=30,
                               what="two captured requests")
    assert all(p.relative_to(dest).parts[:2] == ("sdk", "AllTraffic")
               for p in dest.rglob("*.jsonl"))
    for line in lines:  # REQUEST only: no endpointOutput
        assert set(line["captureData"]) == {"endpointInput"}
    assert {line["eventMetadata"]["inferenceId"] for line in lines} >= {"inf-42"}
    predictor.delete_endpoint()
