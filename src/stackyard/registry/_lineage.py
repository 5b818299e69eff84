"""Lineage: from a model artifact back through the steps that made it to data and code.

The evidence is what the engine recorded: each step's resolved arguments (what it read)
and outputs (what it wrote, content-addressed). Walking from an artifact to the step that
wrote it, then to that step's inputs, gives a tree whose leaves are external data files
and code, each with its content hash.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from stackyard import artifacts
from stackyard.engine.steps import STEP_TYPES, step_type
from stackyard.store import Store

KEY_PACKAGES = ("stackyard", "numpy", "pandas", "scikit-learn", "xgboost", "xgboost-cpu",
                "catboost", "lightgbm", "optuna")


def environment() -> dict[str, Any]:
    import importlib.metadata  # ~15 ms; only registration records the environment

    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), "packages": versions}


def git_commit(path: str | Path) -> str | None:
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                             check=False, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _hash(uri: str) -> str | None:
    try:
        return artifacts.content_hash(str(uri))
    except Exception:  # noqa: BLE001 - a vanished input is recorded as unknown, not fatal
        return None


def code_info(path: str | None, entry: str | None = None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        digest: str | None = artifacts.code_hash(path)
    except OSError:
        digest = None
    return {"path": path, "entry_point": entry, "sha256": digest,
            "git_commit": git_commit(path)}


class Tracer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._defs: dict[str, dict[str, Any]] = {}

    def _step_type(self, run_id: str, step: str) -> str:
        if run_id not in self._defs:
            run = self.store.get_run(run_id)
            self._defs[run_id] = json.loads(run["definition"]) if run else {"Steps": []}
        return next((s["Type"] for s in self._defs[run_id]["Steps"] if s["Name"] == step), "")

    def producer(self, uri: str, run_id: str | None) -> tuple[str, dict[str, Any]] | None:
        needle = json.dumps(uri)
        if run_id is not None:
            for row in self.store.get_steps(run_id):
                if row["status"] == "Succeeded" and needle in json.dumps(row["outputs"]):
                    return run_id, row
        found = self.store.find_producer(uri)
        if found is None:
            return None
        row = next(r for r in self.store.get_steps(found["run_id"]) if r["name"] == found["name"])
        return found["run_id"], row

    def trace(self, uri: str, run_id: str | None = None, depth: int = 0) -> dict[str, Any]:
        node: dict[str, Any] = {"uri": uri, "sha256": _hash(uri)}
        found = self.producer(uri, run_id) if depth < 12 else None
        if found is None:
            return node
        rid, row = found
        kind = self._step_type(rid, row["name"])
        args = row.get("arguments") or {}
        run = self.store.get_run(rid) or {}
        step: dict[str, Any] = {"run_id": rid, "pipeline": run.get("pipeline"),
                                "step": row["name"], "type": kind, "inputs": []}
        info = dict(step_type(kind).lineage(args, row["outputs"], uri)) if kind in STEP_TYPES \
            else {}
        if "code" in info:
            code = info.pop("code")
            step["code"] = code_info(code["path"], code.get("entry_point"))
        for name, src in info.pop("inputs", []):
            step["inputs"].append({"name": name, **self.trace(src, rid, depth + 1)})
        step.update(info)   # what else the step type knows: hyperparameters, the trial
        node["produced_by"] = step
        return node


def lineage(store: Store, model_uri: str, run_id: str | None = None,
            step: str | None = None, code_dir: str | None = None) -> dict[str, Any]:
    tree = Tracer(store).trace(model_uri, run_id)
    return {"registered_by": {"run_id": run_id, "step": step},
            "model": tree, "inference_code": code_info(code_dir), "environment": environment()}
