"""``Predictor``: call an endpoint by name, as the SageMaker SDK's predictor does."""

from __future__ import annotations

from typing import Any

import httpx

from stackyard.errors import StackyardError
from stackyard.inference._codecs import from_answer, to_request


class Predictor:
    """``Predictor("my-endpoint").predict(rows)`` -> the endpoint's answer, parsed."""

    def __init__(self, endpoint_name: str, sagemaker_session: Any = None,
                 content_type: str = "text/csv", accept: str = "text/csv",
                 **_: Any) -> None:
        from stackyard.serving._control import describe_endpoint, read_token

        self.endpoint_name = endpoint_name
        self.url = describe_endpoint(endpoint_name)["url"]
        token = read_token(endpoint_name)  # the endpoint's own 0600 file, if it has one
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.content_type = content_type
        self.accept = accept
        self._client = httpx.Client(timeout=60)
        self.last_response: httpx.Response | None = None

    def predict(self, data: Any, initial_args: dict[str, Any] | None = None,
                target_variant: str | None = None, inference_id: str | None = None) -> Any:
        headers = {"Content-Type": self.content_type, "Accept": self.accept, **self._auth}
        if target_variant:
            headers["X-Target-Variant"] = target_variant
        if inference_id:
            headers["X-Inference-Id"] = inference_id
        r = self._client.post(f"{self.url}/invocations",
                              content=to_request(data, self.content_type), headers=headers)
        self.last_response = r
        if r.status_code != 200:
            raise StackyardError(f"endpoint {self.endpoint_name} answered {r.status_code}: "
                                 f"{r.text}")
        return from_answer(r.content, r.headers.get("content-type"))

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        from stackyard.serving._control import delete_endpoint

        self._client.close()
        delete_endpoint(self.endpoint_name)


def deploy_model(model_data: str, entry_point: str | None, source_dir: str | None,
                 endpoint_name: str | None = None, **kwargs: Any) -> Predictor:
    """``Model.deploy()`` / ``Estimator.deploy()``: an endpoint for an unregistered model."""
    import time

    from stackyard.serving._control import artifact_spec, create_endpoint

    name = endpoint_name or f"endpoint-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = artifact_spec(model_data, entry_point, source_dir)
    create_endpoint(name, [{"name": "AllTraffic", "model": spec, "weight": 1.0}], **kwargs)
    return Predictor(name)
