"""Variants, their models, and how a request picks one.

A *fleet* is the set of production variants an endpoint serves at one time. An update
loads a second fleet beside the first and moves traffic between them; in-flight requests
keep the fleet they started with, so a swap never fails a request.
"""

from __future__ import annotations

import math
import os
import random
import re
import secrets
import shutil
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard.errors import UsageError
from stackyard.inference import InferencePipeline, ModelHandler
from stackyard.registry import ModelRegistry, extract_model
from stackyard.runtime import alive, process_start_time


def check_deployable(ref: str, allow_unapproved: bool) -> dict[str, Any]:
    """Rejected versions never serve; pending ones only when explicitly allowed."""
    d = ModelRegistry().describe(ref)
    if d["approval_status"] == "Rejected":
        raise UsageError(f"{ref} is Rejected and cannot be deployed")
    if d["approval_status"] == "PendingManualApproval" and not allow_unapproved:
        raise UsageError(f"{ref} is PendingManualApproval; approve it "
                         f"(`stackyard models approve {ref}`) or pass --allow-unapproved")
    return d


def _n_features(record: dict[str, Any]) -> int | None:
    for group in record.get("drift_check_baselines", {}).values():
        for kind, src in group.items():
            if kind == "Constraints" and isinstance(src.get("content"), dict):
                feats = src["content"].get("features")
                if isinstance(feats, list) and feats:
                    return len(feats)
    return None


def _sample(record: dict[str, Any]) -> Any:
    """The version's recorded ``sample_payload``, else one row of the baseline's feature
    means (SageMaker Model Monitor statistics), else None: what the health check sends."""
    if record.get("sample_payload") is not None:
        return record["sample_payload"]
    for group in record.get("drift_check_baselines", {}).values():
        content = (group.get("Statistics") or {}).get("content")
        feats = content.get("features") if isinstance(content, dict) else None
        if isinstance(feats, list) and feats:
            means = [((f or {}).get("numerical_statistics") or {}).get("mean")
                     for f in feats]
            if all(isinstance(m, int | float) and math.isfinite(m) for m in means):
                return [means]
    return None


def sweep_unpacked() -> None:
    """Remove unpacked models whose server process is gone (killed, or ended by a signal,
    before its finalizers ran), and anything else there that is not a live process's."""
    root = _home.home() / "serving" / "models"
    for p in root.iterdir() if root.is_dir() else ():
        owner = re.match(r"\.?(\d+)-(\d+)-", p.name)
        if owner is None or not alive(int(owner[1]), owner[2]):
            shutil.rmtree(p, ignore_errors=True)


def _unpacked(artifact: str, sha256: str, code_uri: str | None, entry_point: str | None,
              content_types: list[str] | None = None, response_types: list[str] | None = None,
              n_features: int | None = None, sample_payload: Any = None) -> ModelHandler:
    """A handler over a fresh, private unpacking of the model: every load unpacks the
    archive (checked against ``sha256`` over the bytes unpacked) and copies its code (checked
    against its address) into a folder of this process, removed when the handler is
    dropped, so nothing unpacked is ever reused and there is no cache to tamper with. Each
    module is checked against the code's hashes again as it is imported; what the model
    writes next to its files (``model_dir``, ``__file__``) stays in that folder."""
    root = _home.home() / "serving" / "models"
    root.mkdir(parents=True, exist_ok=True)
    sweep_unpacked()
    pid = os.getpid()
    folder = root / f"{pid}-{process_start_time(pid)}-{secrets.token_hex(4)}"
    files = extract_model(artifact, sha256, code_uri, folder)
    try:
        handler = ModelHandler(folder, entry_point, folder / "code", content_types,
                               response_types, n_features, sample_payload, code_files=files)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(handler, shutil.rmtree, folder, True)
    return handler


def load_model(spec: dict[str, Any], allow_unapproved: bool) -> ModelHandler | InferencePipeline:
    """``{"ref": "G/V"}``, ``{"dir": path, "entry_point": f}`` or ``{"pipeline": [...]}``."""
    if "pipeline" in spec:
        return InferencePipeline([load_model(s, allow_unapproved) for s in spec["pipeline"]])
    if "ref" in spec:
        d = check_deployable(spec["ref"], allow_unapproved)
        inf = d["inference_spec"]
        return _unpacked(d["model_data"], d["model_sha256"], inf.get("code_uri"),
                         inf.get("entry_point"), inf.get("content_types"),
                         inf.get("response_types"), _n_features(d), _sample(d))
    if "artifact" in spec:
        return _unpacked(spec["artifact"], spec["sha256"], spec.get("code_uri"),
                         spec.get("entry_point"), sample_payload=spec.get("sample_payload"))
    if "dir" in spec:
        model_dir = Path(spec["dir"])
        return ModelHandler(model_dir, spec.get("entry_point"), spec.get("code_dir"),
                            spec.get("content_types"), spec.get("response_types"),
                            sample_payload=spec.get("sample_payload"))
    raise UsageError(f"cannot load model {spec!r}")


@dataclass
class Variant:
    name: str
    model: Any
    weight: float = 1.0
    shadow: bool = False
    spec: dict[str, Any] = field(default_factory=dict)
    # Thompson sampling posterior (rewards in [0, 1]) and live error counts
    alpha: float = 1.0
    beta: float = 1.0
    requests: int = 0
    errors: int = 0


class Fleet:
    def __init__(self, variants: list[Variant], routing: str = "weighted") -> None:
        live = [v for v in variants if not v.shadow]
        if not live:
            raise UsageError("an endpoint needs at least one variant that is not a shadow")
        if routing not in ("weighted", "bandit"):
            raise UsageError(f"routing {routing!r}: weighted or bandit")
        self.variants = {v.name: v for v in variants}
        self.live = live
        self.shadows = [v for v in variants if v.shadow]
        self.routing = routing
        self.lock = threading.Lock()

    def pick(self, target: str | None) -> Variant:
        if target:
            v = self.variants.get(target)
            if v is None or v.shadow:
                from stackyard.inference import InputError

                raise InputError(f"X-Target-Variant {target!r} is not a live variant "
                                 f"({', '.join(x.name for x in self.live)})")
            return v
        if len(self.live) == 1:
            return self.live[0]
        if self.routing == "bandit":
            with self.lock:
                draws = [(random.betavariate(v.alpha, v.beta), v) for v in self.live]
            return max(draws, key=lambda d: d[0])[1]
        return random.choices(self.live, weights=[v.weight for v in self.live])[0]

    def reward(self, name: str, reward: float) -> None:
        v = self.variants[name]
        with self.lock:
            v.alpha += reward
            v.beta += 1.0 - reward


def build_fleet(config: dict[str, Any]) -> Fleet:
    allow = bool(config.get("allow_unapproved"))
    variants = [Variant(v["name"], load_model(v["model"], allow), float(v.get("weight", 1.0)),
                        bool(v.get("shadow")), v["model"]) for v in config["variants"]]
    return Fleet(variants, config.get("routing", "weighted"))


def traffic_steps(traffic: str) -> list[float]:
    """``all`` -> [1]; ``canary:10%`` -> [.1, 1]; ``linear:25%`` -> [.25, .5, .75, 1]."""
    kind, _, pct = traffic.partition(":")
    if kind == "all":
        return [1.0]
    share = float(pct.rstrip("%")) / 100 if pct else 0.1
    if not 0 < share <= 1:
        raise ValueError(f"traffic share {pct!r} must be in (0%, 100%]")
    if kind == "canary":
        return [share, 1.0] if share < 1 else [1.0]
    if kind == "linear":
        steps, x = [], share
        while x < 1 - 1e-9:
            steps.append(round(x, 6))
            x += share
        return [*steps, 1.0]
    raise ValueError(f"traffic {traffic!r}: all, canary:N% or linear:N%")
