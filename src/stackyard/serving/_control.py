"""Managed endpoints: created, updated and deleted through the store; each runs as a
background server process (``_server.py``) that outlives the command that started it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from stackyard import _home
from stackyard._checks import check_name
from stackyard.errors import NotFoundError, StackyardError, UsageError
from stackyard.runtime import alive, process_start_time
from stackyard.serving._fleet import check_deployable, traffic_steps
from stackyard.store import open_store

_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")


def endpoint_dir(name: str) -> Path:
    return _home.home() / "endpoints" / name


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def model_spec(model: str, entry_point: str | None = None) -> dict[str, Any]:
    """A variant's model from the CLI/SDK: ``GROUP/VERSION``, or a folder."""
    if Path(model).is_dir():
        return {"dir": str(Path(model).resolve()), "entry_point": entry_point}
    if "/" in model and model.rsplit("/", 1)[1].isdigit():
        return {"ref": model}
    raise UsageError(f"--model {model!r} is neither GROUP/VERSION nor a model folder")


def artifact_spec(model_data: str, entry_point: str | None, source_dir: str | None
                  ) -> dict[str, Any]:
    """A model that is not registered (``Model.deploy()``): snapshot it into the store."""
    from stackyard.registry import snapshot_code, store_model

    uri, sha = store_model(model_data)
    code_uri, entry_point = snapshot_code(entry_point, source_dir)
    return {"artifact": uri, "sha256": sha, "entry_point": entry_point, "code_uri": code_uri}


def parse_variant(text: str) -> tuple[str, str, float]:
    """``NAME=MODEL[:WEIGHT]``."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise UsageError(f"variant {text!r}: write NAME=GROUP/VERSION[:WEIGHT]")
    check_name(name, "variant")
    model, _, weight = rest.partition(":")
    try:
        w = float(weight) if weight else 1.0
    except ValueError:
        raise UsageError(f"variant {text!r}: weight {weight!r} is not a number") from None
    if w < 0:
        raise UsageError(f"variant {text!r}: weight must be >= 0")
    return name, model, w


def _validate(config: dict[str, Any]) -> None:
    names = [v["name"] for v in config["variants"]]
    if len(set(names)) != len(names):
        raise UsageError(f"variant names must be unique: {names}")
    if not any(not v.get("shadow") for v in config["variants"]):
        raise UsageError("an endpoint needs at least one live (non-shadow) variant")
    if config.get("routing", "weighted") not in ("weighted", "bandit"):
        raise UsageError(f"routing {config['routing']!r}: weighted or bandit")
    for v in config["variants"]:
        if "ref" in v["model"]:
            check_deployable(v["model"]["ref"], bool(config.get("allow_unapproved")))


def _describe_row(row: dict[str, Any]) -> dict[str, Any]:
    running = alive(row["pid"], row["pid_start"])
    status = row["status"] if running or row["status"] in ("Failed",) else "Stopped"
    cfg = row["config"]
    return {"name": row["name"], "status": status, "url": row["url"], "pid": row["pid"]
            if running else None, "port": cfg.get("port"), "host": cfg.get("host"),
            "routing": cfg.get("routing", "weighted"),
            "capture_percent": cfg.get("capture_percent", 0),
            "variants": [{"name": v["name"], "model": v["model"].get("ref") or v["model"].get(
                "dir") or v["model"].get("artifact"), "weight": v.get("weight", 1.0),
                "shadow": bool(v.get("shadow"))} for v in cfg["variants"]],
            "deployment": row["deployment"], "failure_reason": row["failure_reason"],
            "generation": row["generation"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def create_endpoint(name: str, variants: list[dict[str, Any]], *, port: int | None = None,
                    host: str = "127.0.0.1", routing: str = "weighted",
                    capture_percent: float = 0.0, max_concurrency: int = 64,
                    max_body_mb: float = 6.0, workers: int = 1,
                    allow_unapproved: bool = False, wait: bool = True) -> dict[str, Any]:
    if not _NAME.match(name or "") or len(name) > 63:
        raise UsageError(f"endpoint name {name!r}: 1-63 letters, digits and hyphens")
    if not 0 <= capture_percent <= 100:
        raise UsageError(f"--capture-percent {capture_percent} is outside 0..100")
    if max_concurrency < 1 or workers < 1:
        raise UsageError("--max-concurrency and --workers must be >= 1")
    config = {"variants": variants, "routing": routing, "capture_percent": capture_percent,
              "max_concurrency": max_concurrency, "max_body_bytes": int(max_body_mb * 2**20),
              "workers": workers, "host": host, "port": port or free_port(host),
              "allow_unapproved": allow_unapproved,
              "access_log": str(endpoint_dir(name) / "access.log")}
    _validate(config)
    if not open_store().create_endpoint(name, config):
        raise UsageError(f"endpoint {name!r} exists; `stackyard endpoints update` or delete it")
    return start_endpoint(name, wait=wait)


def start_endpoint(name: str, wait: bool = True, timeout: float = 180) -> dict[str, Any]:
    """(Re)start a recorded endpoint's server, e.g. after a reboot."""
    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    if alive(row["pid"], row["pid_start"]):
        return _describe_row(row)
    d = endpoint_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    log = open(d / "server.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "stackyard.serving._server", name],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={
                                # one-row predictions: many OpenMP threads only add waits
                                "OMP_NUM_THREADS": "1", **os.environ,
                                "STACKYARD_HOME": str(_home.home())})
    cfg = row["config"]
    url = f"http://{cfg['host']}:{cfg['port']}"
    store.set_endpoint(name, pid=proc.pid, pid_start=process_start_time(proc.pid), url=url,
                       status="Creating", failure_reason=None)
    if not wait:
        return _describe_row(store.get_endpoint(name))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = (d / "server.log").read_text(errors="replace").splitlines()[-15:]
            store.set_endpoint(name, status="Failed",
                               failure_reason="the server exited:\n" + "\n".join(tail))
            raise StackyardError(f"endpoint {name} failed to start:\n" + "\n".join(tail))
        try:
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                store.set_endpoint(name, status="InService")
                return _describe_row(store.get_endpoint(name))
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise StackyardError(f"endpoint {name} did not answer /ping within {timeout:.0f}s; "
                         f"see `stackyard endpoints logs {name}`")


def list_endpoints() -> list[dict[str, Any]]:
    return [_describe_row(r) for r in open_store().list_endpoints()]


def describe_endpoint(name: str) -> dict[str, Any]:
    row = open_store().get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    return _describe_row(row)


def update_endpoint(name: str, variants: list[dict[str, Any]], traffic: str = "all",
                    bake_seconds: float = 10.0, max_error_rate: float = 0.05,
                    wait: bool = True, on_progress: Any = None) -> dict[str, Any]:
    """Blue/green: the running server loads the new fleet and shifts traffic to it."""
    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    if not alive(row["pid"], row["pid_start"]):
        raise UsageError(f"endpoint {name} is not running; `stackyard endpoints start {name}`")
    try:
        traffic_steps(traffic)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if (row["deployment"] or {}).get("status") in ("Loading", "Shifting"):
        raise UsageError(f"endpoint {name} is already being updated")
    config = {**row["config"], "variants": variants}
    _validate(config)
    gen = store.start_deployment(name, {"config": config, "traffic": traffic,
                                        "bake_seconds": bake_seconds,
                                        "max_error_rate": max_error_rate,
                                        "status": "Pending", "started_at": time.time()})
    if not wait:
        return describe_endpoint(name)
    last = None
    while True:
        dep = (store.get_endpoint(name) or {}).get("deployment") or {}
        if dep.get("generation") == gen and (dep.get("status"), dep.get("share")) != last:
            last = (dep.get("status"), dep.get("share"))
            if on_progress:
                on_progress(dep)
            if dep.get("status") in ("Completed", "RolledBack", "Failed"):
                return describe_endpoint(name)
        time.sleep(0.1)


def delete_endpoint(name: str) -> None:
    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    if alive(row["pid"], row["pid_start"]):
        os.kill(row["pid"], signal.SIGTERM)  # graceful: in-flight requests finish
        deadline = time.time() + 15
        while alive(row["pid"], row["pid_start"]) and time.time() < deadline:
            time.sleep(0.05)
        if alive(row["pid"], row["pid_start"]):
            os.killpg(row["pid"], signal.SIGKILL)
    store.delete_endpoint(name)


def logs_path(name: str) -> Path:
    describe_endpoint(name)
    return endpoint_dir(name) / "server.log"
