"""Helpers for the serving tests: a tiny linear model with the SageMaker inference functions
(fast to load, no pickle), the endpoint app on a loopback thread, and polling.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``, and
``from conftest import ...`` picks whichever one was imported last when they run together."""

from __future__ import annotations

import json
import socket
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from stackyard.serving._app import State, create_app
from stackyard.serving._fleet import build_fleet
from stackyard.serving._server import Protocol
from waiting import wait_until  # noqa: F401 (the serving tests import it here)

INFERENCE = '''
import json, os, time
import numpy as np

class Coef(dict):
    """The model's parameters; declares its width as scikit-learn models do."""


def model_fn(model_dir):
    with open(os.path.join(model_dir, "coef.json")) as f:
        model = Coef(json.load(f))
    if not model.get("no_width"):
        model.n_features_in_ = len(model["coef"])
    return model

def predict_fn(data, model):
    if model.get("sleep"):
        time.sleep(model["sleep"])
    x = np.asarray(data, dtype=float)
    if model.get("fail_nonzero") and np.abs(x).sum() > 0:
        raise RuntimeError("this version is broken")
    return x @ np.asarray(model["coef"]) + model["bias"]
'''


# ---- a real server on loopback ---------------------------------------------------------
class LiveServer:
    """The endpoint app served by uvicorn in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, config: dict[str, Any], name: str = "fuzz", token: str | None = None
                 ) -> None:
        self.state = State(name, build_fleet(config), config, token)
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; with
        # proto 0 every answer with a body waits ~40 ms on Nagle + delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # the endpoint's own protocol (TCP_NODELAY, header-read timeout), its timeout from
        # the config as app_factory sets it, on a subclass so servers do not share it
        protocol = type("TestProtocol", (Protocol,), {
            "header_timeout": float(config.get("header_timeout", 10.0))})
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(self.state), log_level="warning", access_log=False, lifespan="off",
            http=protocol))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True, name="fuzz-endpoint")
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < end, "server did not start"
            time.sleep(0.01)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def close(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def write_model(root: Path, coef: list[float], bias: float, **extra) -> tuple[Path, Path]:
    """(model.tar.gz, code folder)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "coef.json").write_text(json.dumps({"coef": coef, "bias": bias, **extra}))
    tar = root / "model.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(root / "coef.json", arcname="coef.json")
    code = root / "code"
    code.mkdir(exist_ok=True)
    (code / "inference.py").write_text(INFERENCE)
    return tar, code
