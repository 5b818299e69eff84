"""Managed endpoints: created, updated and deleted through the store; each runs as a
background server process (``_server.py``) that outlives the command that started it."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard._checks import (
    check_name,
    check_number,
    check_token,
    is_loopback,
    is_model_ref,
    parse_model_ref,
)
from stackyard.errors import NotFoundError, StackyardError, UsageError
from stackyard.runtime import alive, process_start_time, start_detached
from stackyard.store import open_store


def endpoint_dir(name: str) -> Path:
    return _home.home() / "endpoints" / name


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def model_spec(model: str, entry_point: str | None = None) -> dict[str, Any]:
    """A variant's model from the CLI/SDK. ``GROUP/VERSION`` always means the registry (with
    its approval and hash checks), even when a folder of that name exists (write ``./g/1``
    for the folder); anything else must be a model folder."""
    if is_model_ref(model):
        group, version = parse_model_ref(model)
        return {"ref": f"{group}/{version}"}
    if Path(model).is_dir():
        return {"dir": str(Path(model).resolve()), "entry_point": entry_point}
    raise UsageError(f"--model {model!r} is neither GROUP/VERSION (e.g. churn/3) nor a model "
                     "folder")


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
    w = check_number(weight, f"variant {text!r}: weight", lo=0) if weight else 1.0
    return name, model, float(w)


def _validate(config: dict[str, Any]) -> None:
    """Every variant and option of an endpoint, checked before anything is written: a bad
    value must fail here, not start "InService" and then answer 500 to every request."""
    from stackyard.serving._fleet import check_deployable  # loads numpy: not for reads

    variants = config.get("variants")
    if not isinstance(variants, list) or not variants:
        raise UsageError("an endpoint needs at least one variant")
    for v in variants:
        if not isinstance(v, dict) or not isinstance(v.get("model"), dict):
            raise UsageError(f"variant {v!r}: write {{'name': ..., 'model': {{...}}, "
                             "'weight': ...}")
        check_name(v.get("name"), "variant")
        v["weight"] = float(check_number(v.get("weight", 1.0),
                                         f"variant {v['name']}: weight", lo=0))
        v["shadow"] = bool(v.get("shadow"))
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        raise UsageError(f"variant names must be unique: {names}")
    live = [v for v in variants if not v["shadow"]]
    if not live:
        raise UsageError("an endpoint needs at least one live (non-shadow) variant")
    if sum(v["weight"] for v in live) <= 0:
        raise UsageError(f"the live variants' weights ({', '.join(names)}) are all 0; give "
                         "at least one a positive weight")
    if config.get("routing", "weighted") not in ("weighted", "bandit"):
        raise UsageError(f"routing {config['routing']!r}: weighted or bandit")
    for v in variants:
        if "ref" in v["model"]:
            check_deployable(v["model"]["ref"], bool(config.get("allow_unapproved")))


def resolve_token(host: str, token: str | None = None, token_file: str | Path | None = None
                  ) -> str | None:
    """The bearer token an endpoint requires (``--auth-token`` or the first line of
    ``--auth-token-file``). Binding beyond loopback without one is refused: anyone who can
    reach the port could call the model, read its metrics and steer the bandit."""
    if token is not None and token_file is not None:
        raise UsageError("give --auth-token or --auth-token-file, not both")
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--auth-token-file {str(token_file)!r}: cannot read it ({e})"
                             ) from None
    if token is not None:
        check_token(token, "the auth token")
    if token is None and not is_loopback(host):
        raise UsageError(f"--host {host} accepts connections from other machines: give "
                         "--auth-token-file (or --auth-token) so only callers with the "
                         "token are served")
    return token


def token_path(name: str) -> Path:
    return endpoint_dir(name) / "token"


def write_token(name: str, token: str) -> None:
    """The endpoint's token, readable by its owner only (never in the store or a log)."""
    path = token_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")


def read_token(name: str) -> str | None:
    """The token of a managed endpoint, or None when it has none."""
    try:
        return token_path(name).read_text().strip() or None
    except FileNotFoundError:
        return None


def _variant_rows(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": v["name"], "model": v["model"].get("ref") or v["model"].get("dir")
             or v["model"].get("artifact"), "weight": v.get("weight", 1.0),
             "shadow": bool(v.get("shadow"))} for v in config["variants"]]


def _describe_row(row: dict[str, Any]) -> dict[str, Any]:
    running = alive(row["pid"], row["pid_start"])
    status = row["status"] if running or row["status"] in ("Failed",) else "Stopped"
    cfg = row["config"]
    return {"name": row["name"], "status": status, "url": row["url"], "pid": row["pid"]
            if running else None, "port": cfg.get("port"), "host": cfg.get("host"),
            "routing": cfg.get("routing", "weighted"),
            "capture_percent": cfg.get("capture_percent", 0),
            "variants": _variant_rows(cfg),
            "deployment": row["deployment"], "failure_reason": row["failure_reason"],
            "generation": row["generation"], "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def endpoint_config(name: str, variants: list[dict[str, Any]], *, port: int | None = None,
                    host: str = "127.0.0.1", routing: str = "weighted",
                    capture_percent: float = 0.0, capture_destination: str | None = None,
                    capture_modes: list[str] | None = None, max_concurrency: int = 64,
                    max_body_mb: float = 6.0, workers: int = 1,
                    allow_unapproved: bool = False, header_timeout: float = 10.0,
                    auth: bool = False) -> dict[str, Any]:
    """An endpoint's recorded configuration, every option checked (nothing is written)."""
    check_name(name, "endpoint")
    if not isinstance(host, str) or not host or not host.isascii():
        raise UsageError(f"--host {host!r}: an IP address or host name")
    config = {
        "variants": [dict(v) for v in variants] if isinstance(variants, list) else variants,
        "routing": routing,
        "capture_percent": float(check_number(capture_percent, "--capture-percent",
                                              lo=0, hi=100)),
        "capture_destination": capture_destination, "capture_modes": capture_modes,
        "max_concurrency": check_number(max_concurrency, "--max-concurrency", lo=1,
                                        hi=100_000, integer=True),
        "max_body_bytes": int(check_number(max_body_mb, "--max-body-mb", lo=0, lo_open=True,
                                           hi=1024) * 2**20) or 1,
        "workers": check_number(workers, "--workers", lo=1, hi=64, integer=True),
        "header_timeout": float(check_number(header_timeout, "header timeout (seconds)",
                                             lo=0, lo_open=True, hi=3600)),
        "host": host,
        "port": (check_number(port, "--port", lo=1, hi=65535, integer=True)
                 if port is not None else None),
        "allow_unapproved": bool(allow_unapproved), "auth": bool(auth),
        "access_log": str(endpoint_dir(name) / "access.log")}
    _validate(config)
    return config


def create_endpoint(name: str, variants: list[dict[str, Any]], *, port: int | None = None,
                    host: str = "127.0.0.1", routing: str = "weighted",
                    capture_percent: float = 0.0, capture_destination: str | None = None,
                    capture_modes: list[str] | None = None, max_concurrency: int = 64,
                    max_body_mb: float = 6.0, workers: int = 1,
                    allow_unapproved: bool = False, header_timeout: float = 10.0,
                    auth_token: str | None = None, auth_token_file: str | Path | None = None,
                    wait: bool = True) -> dict[str, Any]:
    """Check everything, record the endpoint, then start its server. With a token, every
    request but ``GET /ping`` needs ``Authorization: Bearer <token>``."""
    token = resolve_token(host, auth_token, auth_token_file)
    config = endpoint_config(name, variants, port=port, host=host, routing=routing,
                             capture_percent=capture_percent,
                             capture_destination=capture_destination,
                             capture_modes=capture_modes, max_concurrency=max_concurrency,
                             max_body_mb=max_body_mb, workers=workers,
                             allow_unapproved=allow_unapproved, header_timeout=header_timeout,
                             auth=token is not None)
    config["port"] = config["port"] or free_port(host)
    if not open_store().create_endpoint(name, config):
        raise UsageError(f"endpoint {name!r} exists; `stackyard endpoints update` or delete it")
    if token is not None:
        write_token(name, token)
    return start_endpoint(name, wait=wait)


def start_endpoint(name: str, wait: bool = True, timeout: float = 180) -> dict[str, Any]:
    """(Re)start a recorded endpoint's server, e.g. after a reboot."""
    import httpx  # ~100 ms of imports that `endpoints list/describe` do not need

    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    if alive(row["pid"], row["pid_start"]):
        return _describe_row(row)
    d = endpoint_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    proc = start_detached([sys.executable, "-m", "stackyard.serving._server", name],
                          d / "server.log", env={
                              "STACKYARD_HOME": str(_home.home()),
                              # one-row predictions: many OpenMP threads only add waits
                              **_home.unset_defaults(OMP_NUM_THREADS="1")})
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


ENDED_BY = {"completed": "Completed", "rolled-back": "RolledBack", "failed": "Failed"}


def describe_endpoint(name: str) -> dict[str, Any]:
    """The endpoint, with ``updates``: the recorded steps of the update in progress (if
    any) and of the last one that ended, newest first."""
    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    updates: list[dict[str, Any]] = []
    for gen in range(row["generation"], max(row["generation"] - 2, 0), -1):
        steps = store.deployment_steps(name, gen)
        status = ENDED_BY.get(steps[-1]["payload"].get("step")) if steps else None
        if steps:
            updates.append({"generation": gen, "status": status or (
                (row["deployment"] or {}).get("status") if gen == row["generation"]
                else "Unfinished"), "steps": [_step(e) for e in steps]})
        if status:
            break
    return {**_describe_row(row), "updates": updates}



def _step(event: dict[str, Any]) -> dict[str, Any]:
    """One recorded step of an update, with the sentence every view shows for it."""
    p = event["payload"]
    share = f"{p['share']:.0%}" if isinstance(p.get("share"), int | float) else "?"
    try:
        text = {
            "planned": lambda: (
                "plan accepted: " + ", ".join(f"{v['name']}={v['model']}" for v in
                                              p["variants"])
                + f"; traffic {p['traffic']}, bake {p['bake_seconds']:g}s per step, roll "
                f"back above {p['max_error_rate']:.0%} errors, {p['timeout']:g}s to finish"),
            "loading": lambda: "the server is loading the new fleet beside the old one",
            "healthy": lambda: ("new fleet started and healthy (variants "
                                + ", ".join(p["variants"]) + " answered a request)"),
            "shifted": lambda: f"traffic shifted: {share} to the new fleet",
            "bake-started": lambda: f"bake started: {p['seconds']:g}s at {share}",
            "bake-ended": lambda: (f"bake ended at {share}: {p['errors']} errors in "
                                   f"{p['requests']} requests"),
            "alarm": lambda: (f"alarm at {share}: {p['errors']} errors in {p['requests']} "
                              f"requests, above {p['max_error_rate']:.0%}"),
            "old-fleet-stopped": lambda: ("old fleet stopped: the new fleet takes all "
                                          "traffic (requests in flight finish on the old)"),
            "completed": lambda: "done: the new fleet is the endpoint's",
            "rolled-back": lambda: f"rolled back: {p['reason']}",
            "failed": lambda: f"failed: {p['reason']}",
        }[p["step"]]()
    except (KeyError, TypeError, ValueError):  # a step this version does not know
        text = str(p.get("step"))
    return {"at": event["ts"], "step": p.get("step"), "share": p.get("share"), "text": text}


DONE = ("Completed", "RolledBack", "Failed")


def update_endpoint(name: str, variants: list[dict[str, Any]], traffic: str = "all",
                    bake_seconds: float = 10.0, max_error_rate: float = 0.05,
                    wait: bool = True, on_progress: Any = None,
                    timeout: float | None = None) -> dict[str, Any]:
    """Blue/green: the running server loads the new fleet and shifts traffic to it.

    The update must finish within ``timeout`` seconds (default: 120 s plus the bake time of
    every traffic step); past it, or when the server dies meanwhile, it ends ``RolledBack``
    / ``Failed`` with the reason, and the endpoint keeps its previous fleet (its recorded
    configuration changes only when an update completes)."""
    from stackyard.serving._fleet import traffic_steps

    store = open_store()
    row = store.get_endpoint(name)
    if row is None:
        raise NotFoundError(f"no endpoint {name!r}; see `stackyard endpoints list`")
    try:
        steps = traffic_steps(traffic)
    except ValueError as e:
        raise UsageError(str(e)) from None
    bake = float(check_number(bake_seconds, "--bake-seconds", lo=0, hi=86_400))
    rate = float(check_number(max_error_rate, "--max-error-rate", lo=0, hi=1))
    limit = float(check_number(timeout, "--timeout", lo=0, lo_open=True, hi=7 * 86_400)
                  if timeout is not None else 120 + bake * len(steps))
    config = {**row["config"], "variants": [dict(v) for v in variants]
              if isinstance(variants, list) else variants}
    _validate(config)
    if not alive(row["pid"], row["pid_start"]):
        raise UsageError(f"endpoint {name} is not running; `stackyard endpoints start {name}`")
    if (row["deployment"] or {}).get("status") in ("Pending", "Loading", "Shifting"):
        raise UsageError(f"endpoint {name} is already being updated")
    started = time.time()
    gen = store.start_deployment(name, {"config": config, "traffic": traffic,
                                        "bake_seconds": bake, "max_error_rate": rate,
                                        "status": "Pending", "started_at": started,
                                        "deadline": started + limit},
                                 {"traffic": traffic, "bake_seconds": bake,
                                  "max_error_rate": rate, "timeout": limit,
                                  "variants": _variant_rows(config)})
    if not wait:
        return describe_endpoint(name)
    last = None
    while True:
        row = store.get_endpoint(name) or {}
        dep = row.get("deployment") or {}
        if dep.get("generation") != gen:  # a newer update took over
            return describe_endpoint(name)
        if (dep.get("status"), dep.get("share")) != last:
            last = (dep.get("status"), dep.get("share"))
            if on_progress:
                on_progress(dep)
            if dep.get("status") in DONE:
                return describe_endpoint(name)
        reason = None
        if not alive(row.get("pid"), row.get("pid_start")):
            status, reason = "Failed", (
                f"the endpoint server exited during the update; its recorded fleet is the "
                f"previous one (`stackyard endpoints start {name}` brings it back; "
                f"`stackyard endpoints logs {name}` says why it exited)")
        elif time.time() > started + limit:
            status, reason = "RolledBack", (
                f"the update did not finish within {limit:g}s (--timeout); the previous "
                "fleet serves again")
        if reason is not None:
            _finish(name, gen, status, reason)
        else:
            time.sleep(0.1)


def _finish(name: str, gen: int, status: str, reason: str) -> None:
    """End deployment ``gen`` unless the server already ended it; the server sees the
    status and drops the new fleet."""
    open_store().deployment_step(name, gen, "failed" if status == "Failed" else "rolled-back",
                                 {"reason": reason}, status)


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
    token_path(name).unlink(missing_ok=True)
    from stackyard.serving._fleet import sweep_unpacked

    sweep_unpacked()  # its unpacked models (a server ended by a signal runs no finalizers)


def logs_path(name: str) -> Path:
    describe_endpoint(name)
    return endpoint_dir(name) / "server.log"
