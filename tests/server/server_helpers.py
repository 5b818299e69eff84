"""Helpers for the server tests: the app under a real uvicorn on a free loopback port (in a
thread, or as the ``stackyard server`` process), small pipelines and a model archive.

A module of its own, not ``conftest``: several test folders have a ``conftest.py``."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
from pathlib import Path

import httpx
import uvicorn

from stackyard.server import create_app
from waiting import free_port, wait_until  # noqa: F401 (the server tests import them here)

TOKEN = "test-token-0123456789-abcdef"


class LiveAPI:
    """``create_app`` served by uvicorn in a daemon thread on a free 127.0.0.1 port."""

    def __init__(self, token: str | None = TOKEN, with_loop: bool = False) -> None:
        self.token = token
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(token=token, with_loop=with_loop), log_level="warning",
            access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True, name="test-server")
        self.thread.start()
        wait_until(lambda: self.server.started, 20, "the server to start")

    def client(self, **headers: str) -> httpx.Client:
        base = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers={**base, **headers}, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def model_tar(folder: Path, text: str = "weights") -> Path:
    """A tiny valid ``model.tar.gz`` (one regular file)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.tar.gz"
    data = text.encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


QUICK = """
import os
from stackyard.workflow import Pipeline, step

@step(name="Answer")
def answer(flag):
    if os.path.exists(flag):
        raise RuntimeError("flag present")
    return 42

pipeline = Pipeline(NAME, steps=[answer(FLAG)])
"""

LOGGED = """
from stackyard.jobs import ScriptProcessor
from stackyard.workflow import Pipeline, ProcessingStep
pipeline = Pipeline("logged", steps=[ProcessingStep(
    "Talk", processor=ScriptProcessor(command=["python3"]), code=CODE)])
"""

TALK = """
import os, time
print("first line é", flush=True)
end = time.monotonic() + 60
while not os.path.exists(GO) and time.monotonic() < end:
    time.sleep(0.05)
print("second line", flush=True)
"""
