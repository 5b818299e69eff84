"""The endpoint server process: loads the fleet, serves it, and follows the store.

A managed endpoint's server polls its row in the store; a higher generation there is an
update to roll out (blue/green): load the new fleet beside the old one, health-check it,
shift traffic step by step, watch its error rate while it bakes, then keep it or roll back.

Run: ``python -m stackyard.serving._server ENDPOINT`` (``stackyard endpoints`` does this).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
import sys
import threading
import time
from typing import Any

import h11
import numpy as np
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from stackyard._checks import is_loopback
from stackyard.errors import UsageError
from stackyard.serving._app import State, create_app
from stackyard.serving._control import DONE, read_token
from stackyard.serving._fleet import Fleet, build_fleet, sweep_unpacked, traffic_steps
from stackyard.store import open_store

log = logging.getLogger("stackyard.serving")
COMPLETED_ELSEWHERE = "another worker completed the update"


def health_check(fleet: Fleet) -> None:
    """Every variant must answer a request before it gets traffic: its recorded sample
    payload, else a row from its baseline or of its model's width. A variant with none of
    these cannot be checked, and an unchecked fleet never gets traffic."""
    for v in fleet.variants.values():
        request = v.model.health_request()
        if request is None:
            raise UsageError(
                f"variant {v.name}: nothing to health-check it with (no sample payload "
                "recorded, no drift baseline, and the model has no n_features_in_); "
                "register the version with a sample payload")
        try:
            v.model.invoke(request[0], request[1], None)
        except Exception as e:
            raise UsageError(f"variant {v.name} did not answer its health-check request: "
                             f"{e}") from e


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
            except Exception:
                log.exception("control loop error")

    def _report(self, dep: dict[str, Any], step: str, status: str | None = None,
                **detail: Any) -> None:
        """Record ``step`` of ``dep`` (moving it to ``status`` when given). The store skips
        it when the update was replaced or has ended (another worker, or ``endpoints
        update`` past its ``--timeout``, decided already), or another worker recorded it."""
        self.store.deployment_step(self.name_, dep["generation"], step, detail, status,
                                   dep["config"] if status == "Completed" else None)

    def _decided_elsewhere(self, dep: dict[str, Any]) -> str | None:
        """Why this deployment must stop: ended by someone else (``endpoints update`` past
        its ``--timeout``, another worker), superseded, or past its deadline."""
        row = self.store.get_endpoint(self.name_)
        current = (row or {}).get("deployment") or {}
        if current.get("generation") != dep["generation"]:
            return "a newer update replaced this one"
        if current.get("status") == "Completed":
            return COMPLETED_ELSEWHERE
        if current.get("status") in DONE:
            return current.get("reason") or f"ended elsewhere ({current.get('status')})"
        if time.time() > float(dep.get("deadline", float("inf"))):
            return "the update did not finish before its deadline (--timeout)"
        return None

    def _stop(self, dep: dict[str, Any], fleet: Fleet, reason: str) -> None:
        """Roll back, unless another worker of this server completed the update: then this
        worker serves the new fleet too (the endpoint's recorded fleet is the new one)."""
        if reason == COMPLETED_ELSEWHERE:
            self.state.fleet, self.state.next, self.state.next_share = fleet, None, 0.0
        else:
            self._roll_back(dep, reason)

    def _roll_back(self, dep: dict[str, Any], reason: str) -> None:
        self.state.next_share, self.state.next = 0.0, None
        self._report(dep, "rolled-back", "RolledBack", reason=reason)

    def deploy(self, dep: dict[str, Any]) -> None:
        state = self.state
        self._report(dep, "loading", "Loading")
        try:
            fleet = build_fleet(dep["config"])
            health_check(fleet)
        except Exception as e:  # noqa: BLE001 - a fleet that cannot load never gets traffic
            self._report(dep, "failed", "Failed",
                         reason=f"new fleet failed its health check: {e}")
            return
        self._report(dep, "healthy", variants=sorted(fleet.variants))
        max_rate = float(dep.get("max_error_rate", 0.05))
        bake = float(dep.get("bake_seconds", 10))
        live = [v for v in fleet.variants.values() if not v.shadow]
        state.next, state.next_share = fleet, 0.0
        for share in traffic_steps(dep.get("traffic", "all")):
            elsewhere = self._decided_elsewhere(dep)
            if elsewhere:
                return self._stop(dep, fleet, elsewhere)
            state.next_share = share
            self._report(dep, "shifted", "Shifting", share=share)
            if bake:
                self._report(dep, "bake-started", share=share, seconds=bake)
            end = time.time() + bake
            while time.time() < end:
                time.sleep(0.1)
                reqs = sum(v.requests + v.errors for v in live)
                errs = sum(v.errors for v in live)
                elsewhere = self._decided_elsewhere(dep)
                if elsewhere:
                    return self._stop(dep, fleet, elsewhere)
                if errs >= 3 and errs / max(reqs, 1) > max_rate:
                    self._report(dep, "alarm", share=share, requests=reqs, errors=errs,
                                 max_error_rate=max_rate)
                    return self._roll_back(dep, (
                        f"error rate {errs}/{reqs} above {max_rate:.0%} at {share:.0%} "
                        "traffic; the previous fleet serves again"))
            if bake:
                self._report(dep, "bake-ended", share=share,
                             requests=sum(v.requests + v.errors for v in live),
                             errors=sum(v.errors for v in live))
        elsewhere = self._decided_elsewhere(dep)
        if elsewhere:
            return self._stop(dep, fleet, elsewhere)
        state.fleet, state.next, state.next_share = fleet, None, 0.0
        self._report(dep, "old-fleet-stopped")
        self._report(dep, "completed", "Completed", share=1.0)


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with two changes.

    * TCP_NODELAY: with several workers uvicorn binds the socket itself, and asyncio then
      leaves Nagle's algorithm on: every answer would wait ~40 ms for a delayed ACK.
    * A header-read timeout: a client must deliver a request's line and headers within
      ``header_timeout`` seconds of connecting (or of the previous answer), else the
      connection is closed. uvicorn has none (its keep-alive timer stops at the first
      byte), so a client that sends half a request line and waits held a connection open
      for ever; enough of them starve the server (slowloris).
    """

    header_timeout: float = 10.0  # set per process from the endpoint's config
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the headers are in: the app's turn
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the next request's headers have the same limit

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def app_factory(name: str) -> Any:
    """What each uvicorn worker builds for endpoint ``name``."""
    row = open_store().get_endpoint(name)
    if row is None:
        raise SystemExit(f"no endpoint {name!r}")
    config = row["config"]
    Protocol.header_timeout = float(config.get("header_timeout", 10.0))
    fleet = build_fleet(config)
    state = State(name, fleet, config, token=_token(name, config))
    # a worker that starts while an update is under way (its siblings took the first
    # request; or a restart) carries it out too: it was built from the recorded, old fleet
    pending = row["deployment"] and row["deployment"].get("status") not in DONE
    Controller(name, state, row["generation"] - 1 if pending else row["generation"]).start()
    return create_app(state)


def _token(name: str, config: dict[str, Any]) -> str | None:
    """The endpoint's bearer token; refuse to serve beyond loopback without one."""
    token = read_token(name) if config.get("auth") else None
    if config.get("auth") and token is None:
        raise SystemExit(f"endpoint {name} requires a token but its token file is missing; "
                         "delete and create it again with --auth-token-file")
    if token is None and not is_loopback(config.get("host", "127.0.0.1")):
        raise SystemExit(f"endpoint {name} binds {config.get('host')} without a token; "
                         "refusing to start")
    return token


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(name: str) -> None:
    """Serve endpoint ``name`` until SIGTERM or SIGINT, then remove what it unpacked.

    uvicorn ends a graceful shutdown by raising the signal again, and a process that dies
    of SIGTERM runs no finalizers: its unpacked models would stay. So the signal becomes an
    ordinary exit here (finalizers run), and the folders of workers that died are swept.
    The name reaches every worker inside the pickled config (``functools.partial``), not
    through the environment."""
    np.seterr(all="ignore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    row = open_store().get_endpoint(name)
    if row is None:
        raise SystemExit(f"no endpoint {name!r}")
    cfg = row["config"]
    _token(name, cfg)  # fail before binding anything
    config = uvicorn.Config(functools.partial(app_factory, name), factory=True,
                            host=cfg.get("host", "127.0.0.1"), port=int(cfg["port"]),
                            workers=int(cfg.get("workers", 1)), log_level="warning",
                            access_log=False, http=Protocol, timeout_graceful_shutdown=10)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    try:
        if config.workers > 1:
            Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            server = uvicorn.Server(config)
            server.run()
            if not server.started:
                raise SystemExit(f"endpoint {name} did not start; see the lines above")
    finally:
        sweep_unpacked()


if __name__ == "__main__":
    # run the importable module's main, not this ``__main__`` copy: workers unpickle
    # ``app_factory`` and ``Protocol`` by their module's name, and the header timeout
    # app_factory sets must be on the class the server uses
    from stackyard.serving._server import main as _main

    _main(sys.argv[1])
