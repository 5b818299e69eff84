"""Tuning jobs (trials, best so far, parallel coordinates, early-stopped trials), endpoints
(variants, live traffic from the endpoint's own ``/metrics`` and ``/variants``, the steps of
an update in progress and of the last one that ended) and monitoring (one run's report,
drift per feature across runs)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client.parser import text_string_to_metric_families

from stackyard._checks import check_name
from stackyard.store import open_store
from stackyard.ui import _svg
from stackyard.ui._web import Page, name_arg, render, run_arg

router = APIRouter(route_class=Page)
TIMELINE_FEATURES = 8


# ---- tuning --------------------------------------------------------------------------------
@router.get("/tuning")
def tuning_jobs(request: Request) -> Any:
    from stackyard.tuning import list_tuning_jobs

    return render(request, "tuning.html", jobs=list_tuning_jobs(200))


@router.get("/tuning/{name}")
def tuning_job(request: Request, name: str) -> Any:
    from stackyard.tuning import describe_tuning_job, list_trials

    name = check_name(name, "tuning job")
    job = describe_tuning_job(name)
    trials = list_trials(name)
    objective = open_store().get_tuning_job(name)["config"][
        "HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    metric, minimize = objective["MetricName"], objective["Type"] == "Minimize"
    by_number = sorted(trials, key=lambda t: t["number"])
    best, curve = None, []
    for t in by_number:
        v = t["objective"]
        if v is not None and math.isfinite(v) and (best is None or (v < best if minimize
                                                                     else v > best)):
            best = v
        if best is not None:
            curve.append((t["number"], best))
    names = sorted({k for t in trials for k in t["hyperparameters"]})
    charts = []
    if curve:
        charts.append(_svg.line_chart(
            {"best so far": curve,
             "trial": [(t["number"], t["objective"]) for t in by_number
                       if t["objective"] is not None]},
            title=f"best {metric} so far ({'lower' if minimize else 'higher'} is better)",
            xlabel="trial", style={"best so far": "step", "trial": "dots"}))
    if any(t["objective"] is not None for t in trials):
        charts.append(_svg.parallel(trials, names, metric, minimize))
    return render(request, "tuning_job.html", job=job, trials=trials, names=names,
                  metric=metric, charts=charts,
                  stopped=[t for t in by_number if t["status"] == "Stopped"])


# ---- endpoints -----------------------------------------------------------------------------
@router.get("/endpoints")
def endpoints(request: Request) -> Any:
    from stackyard.serving import list_endpoints

    return render(request, "endpoints.html", endpoints=list_endpoints())


def live(name: str) -> dict[str, Any]:
    """The endpoint's counters from its ``/metrics`` (per variant: requests, errors by
    status, p50/p90/p99 model latency from the histogram) and its ``/variants``."""
    from stackyard.serving import describe_endpoint
    from stackyard.serving._control import read_token

    e = describe_endpoint(name)
    if not e["url"] or e["status"] == "Stopped":
        return {"up": False, "status": e["status"], "variants": {}, "routing": None}
    token = read_token(name)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(timeout=3, headers=headers) as c:
            text = c.get(f"{e['url']}/metrics").text
            routing = c.get(f"{e['url']}/variants").json()
    except (httpx.HTTPError, ValueError) as err:
        return {"up": False, "status": e["status"], "error": type(err).__name__,
                "variants": {}, "routing": None}
    variants: dict[str, dict[str, Any]] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            v = s.labels.get("variant")
            if v is None:
                continue
            row = variants.setdefault(v, {"requests": 0.0, "errors": {}})
            if s.name == "stackyard_invocations_total":
                row["requests"] = s.value
            elif s.name == "stackyard_invocation_errors_total":
                row["errors"][s.labels.get("status", "?")] = s.value
            elif s.name == "stackyard_model_latency_seconds_bucket":
                buckets.setdefault(v, []).append((float(s.labels["le"]), s.value))
    for v, bs in buckets.items():
        variants[v].update({f"p{q}": _quantile(sorted(bs), q / 100) for q in (50, 90, 99)})
    return {"up": True, "status": e["status"], "variants": variants, "routing": routing}


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' ``histogram_quantile``: linear inside the bucket that holds rank q·n."""
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    rank, lo, below = q * total, 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return lo
            return lo + (le - lo) * ((rank - below) / (count - below) if count > below else 0)
        lo, below = le, count
    return lo


@router.get("/endpoints/{name}")
async def endpoint(request: Request, name: str) -> Any:
    from stackyard.serving import describe_endpoint

    name = check_name(name, "endpoint")
    e = await asyncio.to_thread(describe_endpoint, name)
    return render(request, "endpoint.html", e=e, live=await asyncio.to_thread(live, name))


@router.get("/endpoints/{name}/live")
async def endpoint_live(name: str) -> JSONResponse:
    """What the endpoint page refreshes every few seconds (JSON)."""
    from stackyard.serving import describe_endpoint

    name = check_name(name, "endpoint")
    e = await asyncio.to_thread(describe_endpoint, name)
    return JSONResponse({**await asyncio.to_thread(live, name), "deployment": e["deployment"],
                         "updates": e["updates"],
                         "weights": {v["name"]: v["weight"] for v in e["variants"]}},
                        headers={"Cache-Control": "no-store"})


# ---- monitoring ----------------------------------------------------------------------------
def _json(path: str | None) -> Any:
    if not path or not Path(path).is_file():
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@router.get("/monitoring")
def monitoring(request: Request, source: str | None = None) -> Any:
    from stackyard.monitor._run import list_monitoring_runs

    rows = list_monitoring_runs(name_arg(source, "endpoint"), 500)
    timeline: dict[str, list[tuple[float, float]]] = {}
    threshold = None
    checks = [r for r in sorted(rows, key=lambda r: r["created_at"])
              if (r.get("outputs") or {}).get("drift")]
    for n, r in enumerate(checks, 1):
        for d in (_json(r["outputs"]["drift"]) or {}).get("features", []):
            timeline.setdefault(d["feature_name"], []).append((n, d["effective"]))
            threshold = d["threshold"] if threshold is None else max(threshold, d["threshold"])
    top = sorted(timeline, key=lambda f: -max(v for _, v in timeline[f]))[:TIMELINE_FEATURES]
    chart = _svg.line_chart(
        {f: timeline[f] for f in top}, w=760, h=300, xlabel="check #",
        title=f"drift distance (after allowance) per check, the {len(top)} most drifted "
              f"of {len(timeline)} features",
        hline=(threshold, "threshold") if threshold is not None else None) if top else None
    return render(request, "monitoring.html", runs=rows, chart=chart, source=source or "",
                  sources=sorted({r["source"] for r in rows}))


@router.get("/monitoring/{run_id}")
def monitoring_run(request: Request, run_id: str) -> Any:
    from stackyard.monitor._run import describe_monitoring_run

    r = describe_monitoring_run(run_arg(run_id))
    outputs = r.get("outputs") or {}
    violations = (_json(outputs.get("violations")) or {}).get("violations", [])
    drift = (_json(outputs.get("drift")) or {}).get("features", [])
    chart = _svg.bars([(d["feature_name"], d["effective"], d["threshold"])
                       for d in sorted(drift, key=lambda d: -d["effective"])],
                      title="drift distance (after allowance) vs threshold") if drift else None
    return render(request, "monitoring_run.html", r=r, violations=violations, drift=drift,
                  chart=chart, has_report=bool(outputs.get("report")))
