"""The endpoint server process: loads the fleet, serves it, and follows the store.

A managed endpoint's server polls its row in the store; a higher generation there is an
update to roll out (blue/green): load the new fleet beside the old one, health-check it,
shift traffic step by step, watch its error rate while it bakes, then keep it or roll back.

Run: ``python -m stackyard.serving._server ENDPOINT`` (``stackyard endpoints`` does this).
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from typing import Any

import numpy as np
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from stackyard.serving._app import State, create_app
from stackyard.serving._fleet import Fleet, build_fleet, traffic_steps
from stackyard.store import open_store

log = logging.getLogger("stackyard.serving")


def health_check(fleet: Fleet) -> None:
    """Every variant must answer a request before it gets traffic."""
    for v in fleet.variants.values():
        n = getattr(v.model, "n_features", None)
        if n:
            body = (",".join("0" for _ in range(n)) + "\n").encode()
            v.model.invoke(body, "text/csv", None)


class Controller(threading.Thread):
    def __init__(self, name: str, state: State, generation: int) -> None:
        super().__init__(daemon=True, name="endpoint-control")
        self.name_ = name
        self.state = state
        self.generation = generation
        self.store = open_store()

    def run(self) -> None:
        while True:
            time.sleep(0.5)
            try:
                row = self.store.get_endpoint(self.name_)
                if row is None:
                    continue
                if row["generation"] > self.generation and row["deployment"]:
                    self.generation = row["generation"]
                    self.deploy(row["deployment"])
            except Exception as e:
                log.exception("control loop error: %s", e)

    def _report(self, dep: dict[str, Any], status: str, **extra: Any) -> None:
        row = self.store.get_endpoint(self.name_)
        if row is None or (row["deployment"] or {}).get("generation") != dep["generation"]:
            return
        current = row["deployment"]
        if current.get("status") in ("RolledBack", "Failed", "Completed"):
            return  # another worker decided already
        fields: dict[str, Any] = {"deployment": {**current, "status": status, **extra}}
        if status in ("Completed", "RolledBack", "Failed"):
            fields["status"] = "InService"
        if status == "Completed":
            fields["config"] = dep["config"]
        self.store.set_endpoint(self.name_, **fields)

    def _decided_elsewhere(self, dep: dict[str, Any]) -> str | None:
        row = self.store.get_endpoint(self.name_)
        status = ((row or {}).get("deployment") or {}).get("status")
        return status if status in ("RolledBack", "Failed") else None

    def deploy(self, dep: dict[str, Any]) -> None:
        state = self.state
        self._report(dep, "Loading")
        try:
            fleet = build_fleet(dep["config"])
            health_check(fleet)
        except Exception as e:  # noqa: BLE001 - a fleet that cannot load never gets traffic
            self._report(dep, "Failed", reason=f"new fleet failed its health check: {e}")
            return
        max_rate = float(dep.get("max_error_rate", 0.05))
        bake = float(dep.get("bake_seconds", 10))
        state.next, state.next_share = fleet, 0.0
        for share in traffic_steps(dep.get("traffic", "all")):
            state.next_share = share
            self._report(dep, "Shifting", share=share)
            end = time.time() + bake
            while time.time() < end:
                time.sleep(0.1)
                live = [v for v in fleet.variants.values() if not v.shadow]
                reqs = sum(v.requests + v.errors for v in live)
                errs = sum(v.errors for v in live)
                elsewhere = self._decided_elsewhere(dep)
                if elsewhere or (errs >= 3 and errs / max(reqs, 1) > max_rate):
                    state.next_share, state.next = 0.0, None
                    self._report(dep, "RolledBack", reason=elsewhere or (
                        f"error rate {errs}/{reqs} above {max_rate:.0%} at {share:.0%} "
                        "traffic; the previous fleet serves again"))
                    return
        state.fleet, state.next, state.next_share = fleet, None, 0.0
        self._report(dep, "Completed", share=1.0)


class _NoDelayH11(H11Protocol):
    """With several workers uvicorn binds the socket itself, and asyncio then leaves
    Nagle's algorithm on: every answer would wait ~40 ms for a delayed ACK."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)


def app_factory() -> Any:
    """What each uvicorn worker builds (the endpoint name comes from the environment)."""
    name = os.environ["STACKYARD_ENDPOINT"]
    row = open_store().get_endpoint(name)
    if row is None:
        raise SystemExit(f"no endpoint {name!r}")
    config = row["config"]
    fleet = build_fleet(config)
    state = State(name, fleet, config)
    Controller(name, state, row["generation"]).start()
    return create_app(state)


def main(name: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    row = open_store().get_endpoint(name)
    if row is None:
        raise SystemExit(f"no endpoint {name!r}")
    cfg = row["config"]
    os.environ["STACKYARD_ENDPOINT"] = name
    uvicorn.run("stackyard.serving._server:app_factory", factory=True,
                host=cfg.get("host", "127.0.0.1"), port=int(cfg["port"]),
                workers=int(cfg.get("workers", 1)), log_level="warning", access_log=False,
                http=_NoDelayH11,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1])
