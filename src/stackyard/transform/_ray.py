"""Batch transform workers on a Ray cluster (``--backend ray``; imported only then).

The transform's coordinator (``run_transform``: the durable job folder, the units, the
assembly of each file's parts) stays on this machine; only the workers move. Each of the
job's ``instance_count`` hosts is a Ray actor sized by its instance type and spread over
the nodes; it runs ``MaxConcurrentTransforms`` copies of the very worker process a local
transform runs (``python -m stackyard.transform._worker``), so records are cut, predicted
and written by the same code. What crosses machines goes through the shared artifact
store, hash-checked both ways: the model's stored artifact and code (put into the node's
own content-addressed store, so the worker loads and checks them as an endpoint does), each
input file (once per node), and each finished part file, which lands in the local job
folder under its final name only when whole. So durability is the local one: a part is
either here complete or absent. The actors belong to the coordinator: should it die
(``kill -9``) they die with it, and their workers with them (``PR_SET_PDEATHSIG``); a node
that dies takes its actor's unit with it, which fails that unit's file alone ("its worker's
Ray node died"): the other files are kept, and a retry or resume redoes only the failed
ones.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError

from stackyard import artifacts
from stackyard.artifacts._remote import SharedStore
from stackyard.errors import IntegrityError
from stackyard.runtime._backend import resources_for, selected
from stackyard.runtime._ray import (
    NAMESPACE,
    _actor_options,
    _check_fits,
    _first_line,
    _make_room,
    connect,
)
from stackyard.transform._pool import Worker, worker_env


@ray.remote(max_restarts=0, max_concurrency=64)
class TransformHost:
    """One host of a transform job: its worker processes, the files and model they read."""

    def __init__(self, store: str, model: dict[str, Any], env: dict[str, str],
                 slots: int) -> None:
        self.store = SharedStore(store)
        self.root = Path(tempfile.mkdtemp(prefix="stackyard-transform-"))
        self.lock = threading.Lock()
        self.inputs: dict[str, Path] = {}
        self.log = open(self.root / "log", "ab+")  # noqa: SIM115 - the workers' stderr
        self.log_at = 0
        cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
        self.env = worker_env(model["environment"], env, slots, cpus=cpus)
        self.model = self._local_model(model)
        self.workers: dict[int, Worker] = {}

    def _local_model(self, model: dict[str, Any]) -> dict[str, Any]:
        """The model's artifact and code pulled (hash-checked) into this node's store."""
        art = self.root / "model"
        files = self.store.pull(model["artifact_digest"], art)
        local = {**model, "artifact": artifacts.put_file(art / next(iter(files)))}
        if model.get("code_digest"):
            self.store.pull(model["code_digest"], self.root / "code")
            local["code_uri"] = artifacts.put_tree(self.root / "code")
        shutil.rmtree(art, ignore_errors=True)
        return local

    def _news(self) -> str:
        """What the workers wrote to their log since last asked."""
        with self.lock:
            self.log.flush()
            self.log.seek(self.log_at)
            data = self.log.read()
            self.log_at += len(data)
            self.log.seek(0, os.SEEK_END)
        return data.decode(errors="replace")

    def start(self, slot: int, plan: dict[str, Any]) -> dict[str, Any]:
        """Start worker ``slot`` and load the model in it: its hello."""
        w = self.workers[slot] = Worker(self.env, self.log)
        w.send({"model": self.model, "plan": plan})
        hello = w.receive() or {"fatal": f"a worker exited while loading the model (code "
                                          f"{w.proc.wait()})"}
        return {**hello, "log": self._news()}

    def _input(self, digest: str) -> Path:
        with self.lock:  # one pull per file and node, whichever worker asks first
            if digest not in self.inputs:
                files = self.store.pull(digest, self.root / "in" / digest)
                self.inputs[digest] = self.root / "in" / digest / next(iter(files))
            return self.inputs[digest]

    def unit(self, slot: int, unit: dict[str, Any], digest: str) -> dict[str, Any]:
        """Transform one unit on worker ``slot``; a finished part goes to the shared store
        and its address comes back (``part``)."""
        w = self.workers[slot]
        part = self.root / "parts" / secrets.token_hex(6) / Path(unit["part"]).name
        w.send({"unit": {**unit, "path": str(self._input(digest)), "part": str(part)}})
        reply = w.receive()
        if reply is None:
            reply = {"ok": False, "index": None,
                     "error": f"its worker exited (code {w.proc.wait()})"}
        elif reply["ok"]:
            reply["part"] = self.store.push(part)
            shutil.rmtree(part.parent, ignore_errors=True)
        return {**reply, "log": self._news()}

    def close(self) -> None:
        for w in self.workers.values():
            w.close()
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


class RayWorker:
    """A worker slot of a host, seen from the coordinator: ``ask`` as a local worker is
    asked (the model, then one unit at a time)."""

    def __init__(self, host: Any, slot: int, store: SharedStore, digests: dict[str, str],
                 log: Any) -> None:
        self.host, self.slot, self.store, self.digests, self.log = (
            host, slot, store, digests, log)
        self.why = "its worker's Ray node died"

    def ask(self, message: dict[str, Any]) -> dict[str, Any] | None:
        try:
            if "plan" in message:
                reply = ray.get(self.host.start.remote(self.slot, message["plan"]))
            else:
                unit = message["unit"]
                reply = ray.get(self.host.unit.remote(self.slot, unit,
                                                      self.digests[unit["path"]]))
        except RayError as e:
            self.why = f"its worker's Ray node died ({_first_line(e)})"
            return None
        if news := reply.pop("log", ""):  # the workers' own lines, as a local one's stderr
            with self.log.lock:
                self.log.file.write(news.encode())
                self.log.file.flush()
        if reply.get("part"):
            try:
                self.store.pull(reply.pop("part"), Path(message["unit"]["part"]).parent)
            except IntegrityError as e:
                return {"ok": False, "index": None, "error": str(e)}
        return reply

    def gone(self) -> str:
        return self.why

    def close(self, kill: bool = False) -> None:
        """The hosts are closed together (``Hosts.close``)."""


class Hosts:
    """The job's hosts on the cluster and their worker slots."""

    def __init__(self, model: dict[str, Any], settings: dict[str, Any],
                 todo: list[dict[str, Any]], log: Any) -> None:
        sel = selected()
        connect(sel.address)
        self.store = SharedStore(sel.artifacts or "")
        instance_type = settings["instance_type"]
        res = resources_for(instance_type, sel.resources)
        _check_fits(instance_type, res)
        paths = sorted({u["path"] for u in todo})
        digests = {p: self.store.push(Path(p)) for p in paths}
        shipped = {**model, "artifact_digest": self.store.push(
            artifacts.uri_to_path(model["artifact"]))}
        if model.get("code_uri"):
            shipped["code_digest"] = self.store.push(artifacts.uri_to_path(model["code_uri"]))
        slots = settings["concurrency"]
        n_hosts = min(settings["hosts"], -(-len(todo) // slots))
        _make_room({k: v * n_hosts for k, v in res.items()})  # idle job hosts step aside
        self.actors = [TransformHost.options(namespace=NAMESPACE, scheduling_strategy="SPREAD",
                                             **_actor_options(res)).remote(
            self.store.uri, shipped, settings["environment"], slots) for _ in range(n_hosts)]
        self.workers = [RayWorker(a, s, self.store, digests, log)
                        for s in range(slots) for a in self.actors][:len(todo)]

    def close(self, kill: bool) -> None:
        """End the hosts (at once with ``kill``: an interrupt, a model that cannot load)."""
        for a in self.actors:
            if not kill:
                try:
                    ray.get(a.close.remote(), timeout=30)
                except RayError:
                    pass
            ray.kill(a)
