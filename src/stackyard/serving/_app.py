"""The endpoint server: SageMaker's inference container contract over HTTP.

``GET /ping``, ``POST /invocations`` (``X-Target-Variant`` picks a variant, the answer
names the one that answered), ``POST /feedback`` (bandit rewards), ``GET /metrics``
(Prometheus), ``GET /variants``. Model work runs in worker threads; the event loop only
routes, so a slow shadow or a full capture queue never delays a live answer.

Every error answer, whoever produces it (our checks, the router's 404/405, an unexpected
exception), is JSON ``{"error": "..."}``. With a token, everything but ``/ping`` needs
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sys
import time
import traceback
import uuid
from collections import OrderedDict
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from stackyard.inference import InputError, ModelError
from stackyard.inference._codecs import finite_answer
from stackyard.serving._capture import CaptureWriter
from stackyard.serving._fleet import Fleet, Variant

log = logging.getLogger("stackyard.serving")
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.invocations = Counter("stackyard_invocations", "Requests answered, by variant",
                                   ["variant"], registry=self.registry)
        self.errors = Counter("stackyard_invocation_errors", "Failed requests",
                              ["variant", "status"], registry=self.registry)
        self.model_latency = Histogram("stackyard_model_latency_seconds",
                                       "Time inside the model", ["variant"],
                                       buckets=BUCKETS, registry=self.registry)
        self.overhead_latency = Histogram("stackyard_overhead_latency_seconds",
                                          "Request time outside the model", ["variant"],
                                          buckets=BUCKETS, registry=self.registry)


class State:
    """What the app serves right now; the control thread swaps fleets under it."""

    def __init__(self, name: str, fleet: Fleet, config: dict[str, Any],
                 token: str | None = None) -> None:
        self.name = name
        self.token = token
        self.body_timeout = float(config.get("header_timeout", 10.0))
        self.fleet = fleet
        self.next: Fleet | None = None     # a fleet being rolled out
        self.next_share = 0.0              # fraction of traffic it gets
        self.config = config
        self.max_concurrency = int(config.get("max_concurrency", 64))
        self.max_body = int(config.get("max_body_bytes", 6 * 1024 * 1024))
        self.inflight = 0
        self.capture = CaptureWriter(name, float(config.get("capture_percent", 0)),
                                     always=bool(fleet.shadows),
                                     root=config.get("capture_destination"),
                                     modes=config.get("capture_modes"))
        self.metrics = Metrics()
        self.served_by: OrderedDict[str, str] = OrderedDict()  # inference id -> variant
        self.access = None
        if config.get("access_log"):
            self.access = open(config["access_log"], "a", buffering=1)  # noqa: SIM115 - open while serving

    def choose(self, target: str | None) -> tuple[Fleet, Variant]:
        fleet = self.fleet
        if self.next is not None and not target:
            import random

            if random.random() < self.next_share:
                fleet = self.next
        elif self.next is not None and target and target in self.next.variants:
            fleet = self.next
        return fleet, fleet.pick(target)

    def remember(self, inference_id: str, variant: str) -> None:
        self.served_by[inference_id] = variant
        if len(self.served_by) > 100_000:
            self.served_by.popitem(last=False)


def _error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BearerAuth:
    """Everything but ``GET /ping`` (health checks) needs ``Authorization: Bearer TOKEN``;
    compared in constant time. A pure ASGI wrapper: ~2 µs, no request object built."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/ping":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if hmac.compare_digest(given, self.expected):
            return await self.app(scope, receive, send)
        answer = _error(401, "this endpoint needs the header Authorization: Bearer <token> "
                             "(the token the endpoint was created with)",
                        **{"WWW-Authenticate": "Bearer"})
        return await answer(scope, receive, send)


def create_app(state: State) -> FastAPI:
    app = FastAPI(title=f"stackyard endpoint {state.name}",
                  description="SageMaker inference container contract",
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.endpoint = state
    if state.token is not None:
        app.add_middleware(BearerAuth, token=state.token)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: f"no such path {request.url.path!r}; this endpoint serves /ping, "
                        "/invocations, /feedback, /metrics and /variants",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(
            exc.status_code, str(exc.detail))
        return _error(exc.status_code, message, **(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(400, f"malformed request: {exc.errors()}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        error_id = uuid.uuid4().hex[:12]
        log.error("error %s serving %s %s\n%s", error_id, request.method, request.url.path,
                  "".join(traceback.format_exception(exc)))
        return _error(500, f"internal error (error id {error_id}; see the endpoint log)",
                      **{"X-Error-Id": error_id})

    @app.get("/ping")
    async def ping() -> Response:
        return Response(status_code=200)

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        t0 = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > state.max_body:
            return _error(413, f"request body of {length} bytes exceeds the limit of "
                               f"{state.max_body}")
        if state.inflight >= state.max_concurrency:
            state.metrics.errors.labels("-", "429").inc()
            return _error(429, f"more than {state.max_concurrency} requests in flight; "
                               "retry shortly", **{"Retry-After": "1"})
        state.inflight += 1
        variant_name = "-"
        try:
            body = bytearray()
            with anyio.move_on_after(state.body_timeout) as reading:
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > state.max_body:
                        return _error(413, f"request body exceeds the limit of "
                                           f"{state.max_body}")
            if reading.cancelled_caught:
                return _error(408, f"the request body did not arrive within "
                                   f"{state.body_timeout:g}s", Connection="close")
            content_type = request.headers.get("content-type", "text/csv")
            accept = request.headers.get("accept")
            inference_id = request.headers.get("x-inference-id") or uuid.uuid4().hex
            try:
                fleet, variant = state.choose(request.headers.get("x-target-variant"))
            except InputError as e:
                return _error(e.status, str(e))
            variant_name = variant.name
            m0 = time.perf_counter()
            try:
                out, out_type = await anyio.to_thread.run_sync(
                    variant.model.invoke, bytes(body), content_type, accept)
            except InputError as e:
                state.metrics.errors.labels(variant.name, str(e.status)).inc()
                return _error(e.status, str(e), **{"X-Variant": variant.name})
            except ModelError as e:
                error_id = uuid.uuid4().hex[:12]
                variant.errors += 1
                state.metrics.errors.labels(variant.name, "500").inc()
                log.error("error %s in model code of variant %s: %s\n%s", error_id,
                          variant.name, e, "".join(traceback.format_exception(e)))
                return _error(500, f"the model raised an error (error id {error_id}; see "
                                   "the endpoint log)", **{"X-Variant": variant.name,
                                                           "X-Error-Id": error_id})
            model_time = time.perf_counter() - m0
            out = finite_answer(out, out_type)  # NaN/inf predictions: null, valid JSON
            variant.requests += 1
            state.remember(inference_id, variant.name)
            state.metrics.invocations.labels(variant.name).inc()
            state.metrics.model_latency.labels(variant.name).observe(model_time)
            sample = state.capture.sampled()
            if sample:
                state.capture.capture(variant.name, uuid.uuid4().hex, inference_id, bytes(body),
                                      content_type, out, out_type)
            for shadow in fleet.shadows:  # a copy of the traffic; never awaited
                asyncio.get_running_loop().create_task(
                    _shadow(state, shadow, bytes(body), content_type, accept, inference_id))
            state.metrics.overhead_latency.labels(variant.name).observe(
                time.perf_counter() - t0 - model_time)
            return Response(out, media_type=out_type, headers={
                "X-Variant": variant.name, "X-Inference-Id": inference_id})
        finally:
            state.inflight -= 1
            if state.access is not None:
                state.access.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} POST /invocations "
                                   f"variant={variant_name} "
                                   f"ms={(time.perf_counter() - t0) * 1000:.2f}\n")

    @app.post("/feedback")
    async def feedback(request: Request) -> Response:
        try:
            doc = await request.json()
            inference_id, reward = str(doc["inference_id"]), float(doc["reward"])
        except Exception:  # noqa: BLE001 - any malformed feedback is the client's
            return _error(400, 'feedback must be JSON {"inference_id": "...", "reward": 0..1}')
        if not 0.0 <= reward <= 1.0:
            return _error(400, f"reward {reward} is outside [0, 1]")
        name = state.served_by.get(inference_id)
        if name is None:
            return _error(404, f"unknown inference id {inference_id!r}")
        for fleet in (state.fleet, state.next):
            if fleet is not None and name in fleet.variants:
                fleet.reward(name, reward)
        return JSONResponse({"variant": name, "reward": reward})

    @app.get("/metrics")
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(state.metrics.registry),
                                 media_type=CONTENT_TYPE_LATEST)

    @app.get("/variants")
    async def variants() -> Response:
        def rows(fleet: Fleet | None, share: float) -> list[dict[str, Any]]:
            if fleet is None:
                return []
            return [{"name": v.name, "weight": v.weight, "shadow": v.shadow, "share": share,
                     "requests": v.requests, "errors": v.errors,
                     "posterior_mean": v.alpha / (v.alpha + v.beta)} for v in
                    fleet.variants.values()]
        return JSONResponse({"routing": state.fleet.routing,
                             "live": rows(state.fleet, 1.0 - state.next_share),
                             "next": rows(state.next, state.next_share)})

    return app


async def _shadow(state: State, variant: Variant, body: bytes, content_type: str,
                  accept: str | None, inference_id: str) -> None:
    try:
        out, out_type = await anyio.to_thread.run_sync(variant.model.invoke, body,
                                                        content_type, accept)
        variant.requests += 1
        state.metrics.invocations.labels(variant.name).inc()
        state.capture.capture(variant.name, uuid.uuid4().hex, inference_id, body,
                              content_type, out, out_type)
    except Exception as e:  # noqa: BLE001 - a shadow's failure never reaches the client
        variant.errors += 1
        state.metrics.errors.labels(variant.name, "shadow").inc()
        print(f"shadow {variant.name} failed: {e}", file=sys.stderr)
