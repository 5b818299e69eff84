"""The Ray backend: a processing or training job runs on a Ray worker node.

Each host of a job (``instance_count`` of them, ``algo-1`` … ``algo-N``, spread over
distinct nodes where the cluster has them) is a named, detached Ray actor that sizes itself
by the job's instance type (``_backend.resources_for``). The actor lays out the same job
folder the local backend would (``_job.prepare``), pulls the inputs and code from the
shared artifact store (hash-checked), and runs the same launcher: the job sees the same
``/opt/ml``, ``SM_*`` (with its own ``SM_CURRENT_HOST``/``SM_HOSTS``), and ends with the
same ``exit.json``. It then pushes its folder's results (outputs, log, exit record) to the
shared store and records their address under ``jobs/<key>/<host>.json``; the driver pulls
them into the local job folder, so everything after the job (metrics, model packing,
outputs into the local store) is the code path of a local job. A host then stays warm for
``IDLE`` seconds and takes the next one-host job of its shape (``JobHost.claim``): a new
actor costs most of a second, a claim milliseconds.

Durability: before a job's actors start (or a warm one runs it) the driver writes
``ray.json`` in the job folder (the cluster address, the shared store, the job's key and
its actors' names). A resumed driver reads it: recorded results are collected, live
actors still on the job are waited for (adopted), and only a job with neither is started
again. An actor whose node dies (``RayActorError``) without a recorded result makes the
attempt fail ``Killed``, so a ``RetryPolicy`` applies. The driver's environment is never
sent: a job sees its worker's environment plus its spec's variables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from stackyard import artifacts
from stackyard._checks import is_remote, uri_to_path
from stackyard.artifacts._remote import SharedStore
from stackyard.errors import IntegrityError, StepFailed, UsageError
from stackyard.runtime._backend import GIB, RAY_MARKER, Handle, resources_for, selected
from stackyard.runtime._job import host_path, outcome, prepare
from stackyard.runtime._job import start as start_launcher
from stackyard.runtime._process import open_private, write_private
from stackyard.runtime._spec import JobResult, JobSpec

NAMESPACE = "stackyard"
LOG_POLL = 0.25     # how often the driver fetches new log lines of a remote job
IDLE = 15.0         # a host stays warm this long after its job for the next job of its shape
WARM = "stackyard-host-"  # name prefix of every job host: <shape>-<token>
_connect_lock = threading.Lock()


# ---- the cluster -------------------------------------------------------------------------
def connect(address: str | None) -> None:
    """Connect this process to the cluster once. An address nothing listens on is refused
    within seconds (Ray itself would retry for minutes)."""
    with _connect_lock:
        if ray.is_initialized():
            return
        address = address or "auto"
        if address.startswith("ray://"):
            try:
                import grpc  # noqa: F401 - Ray Client's transport
            except ImportError:
                raise UsageError(f"Ray address {address}: a ray:// address needs Ray Client; "
                                 "pip install 'ray[client]'") from None
        if address != "auto":
            host, _, port = address.removeprefix("ray://").rpartition(":")
            try:
                socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
            except (OSError, ValueError) as e:
                raise UsageError(f"no Ray cluster at {address}: {e}; start one with "
                                 "`ray start --head` or pass its --address") from None
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False,
                     logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"no Ray cluster at {address}: {e}") from None


# ---- the worker side ---------------------------------------------------------------------
def _skip_for(job_dir: Path, containers: list[str]) -> Callable[[str, list[str]], set[str]]:
    """What of a finished job folder does not go back: inputs, code, launcher internals."""
    dropped = {host_path(job_dir, c) for c in containers}
    dropped |= {job_dir / n for n in (".stash", "job.json", "launcher.pid")}

    def skip(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if Path(folder, n) in dropped}

    return skip


@ray.remote(max_restarts=0, max_concurrency=4)
class JobHost:
    """One host of a job on a Ray worker, then of the next job of its shape.

    Starting a Ray actor costs most of a second (a new worker process, stackyard and s3fs
    imported), which was most of a short job's time, so a host that finished its job stays
    warm for ``IDLE`` seconds: a driver whose job needs the same resources ``claim``s it
    instead of starting another. It runs one job at a time; every job is known by its key,
    so a driver (or a resumed one) asking about a job this host has moved past gets its
    answer from the shared store, where every result is recorded."""

    def __init__(self, key: str) -> None:
        self.lock = threading.Lock()
        self.key: str | None = key          # the job this host is for (None: idle)
        self.ran: dict[str, threading.Event] = {}   # jobs started here -> ended
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.stopped = False
        self.stores: dict[str, SharedStore] = {}
        self.deadline = time.monotonic() + IDLE
        threading.Thread(target=self._leave_when_idle, daemon=True).start()

    def _leave_when_idle(self) -> None:
        """Exit once idle (or claimed and never started) past the deadline: nobody may
        come back for this host, and it holds its node's resources."""
        while True:
            time.sleep(1.0)
            with self.lock:
                busy = self.key is not None and self.key in self.ran and \
                    not self.ran[self.key].is_set()
                if not busy and time.monotonic() > self.deadline:
                    os._exit(0)

    def claim(self, key: str) -> tuple[str, str] | None:
        """Reserve this idle host for job ``key``: its node's address and id, or None
        when it is busy."""
        with self.lock:
            if self.key is not None and not (self.key in self.ran
                                             and self.ran[self.key].is_set()):
                return None
            self.key, self.stopped, self.proc = key, False, None
            self.deadline = time.monotonic() + IDLE  # ``run`` must come by then
        return self.node()

    def node(self) -> tuple[str, str]:
        ctx = ray.get_runtime_context()
        return ray.util.get_node_ip_address(), ctx.get_node_id()

    def has(self, key: str) -> bool:
        """Whether job ``key`` started here (a claim its driver died before using: no)."""
        return key in self.ran

    def run(self, payload: dict[str, Any]) -> None:
        """Lay out the job folder, run the job, record its results in the shared store."""
        key = payload["key"]
        with self.lock:
            if self.key != key or key in self.ran:
                return  # claimed by another job meanwhile: this one was never started
            self.ran = {k: e for k, e in self.ran.items() if not e.is_set()}
            self.ran[key] = threading.Event()
        store = self.stores.setdefault(payload["store"], SharedStore(payload["store"]))
        self.root = root = Path(tempfile.mkdtemp(prefix="stackyard-ray-"))
        job_dir = root / "job"
        spec = payload["spec"]
        record: dict[str, Any]
        try:
            code = []
            for i, (digest, container) in enumerate(payload["code"]):
                store.pull(digest, root / f"code-{i}")
                code.append((str(root / f"code-{i}"), container))
            requirements = None
            if payload["requirements"]:
                requirements = str(root / "req" / "requirements.txt")
                store.pull(payload["requirements"], root / "req")
            prepare(JobSpec(**{**spec, "inputs": [], "code": code,
                               "requirements": requirements}), job_dir, die_with_parent=True)
            for item in payload["inputs"]:
                dest = host_path(job_dir, item["container"])
                try:
                    if item["digest"]:
                        store.pull(item["digest"], dest)
                    else:
                        artifacts.fetch(item["uri"], dest)
                except Exception as e:
                    raise StepFailed(f"cannot fetch input {item['uri']}: {e}",
                                     "InputError") from e
            if not self.stopped:
                self.proc = start_launcher(job_dir)
                self.proc.wait()
            if not (job_dir / "exit.json").exists():  # stopped before it started
                write_private(job_dir / "exit.json", json.dumps(
                    {"exit_code": None, "signal": None, "error_type": "Stopped"}))
            skip = _skip_for(job_dir, [c for _, c in payload["code"]]
                             + [i["container"] for i in payload["inputs"]])
            record = {"tree": store.push(job_dir, skip)}
        except StepFailed as e:
            record = {"error": e.reason, "error_type": e.error_type}
        except Exception as e:  # noqa: BLE001 - the driver reports it as the step's reason
            record = {"error": f"{type(e).__name__}: {e}", "error_type": "InternalError"}
        store.put_json(f"jobs/{key}/{payload['host']}.json", record)
        shutil.rmtree(root, ignore_errors=True)
        with self.lock:
            self.root = None
            self.deadline = time.monotonic() + IDLE
            self.ran[key].set()

    def log(self, key: str, offset: int) -> bytes:
        """Job ``key``'s log from ``offset`` on (empty once the job's folder is gone)."""
        root = self.root if self.key == key else None
        try:
            with open(root / "job" / "log.txt", "rb") as f:  # type: ignore[operator]
                f.seek(offset)
                return f.read(1 << 20)
        except (OSError, TypeError):
            return b""

    def stop(self, key: str) -> None:
        """SIGTERM job ``key``'s launcher: it ends the job's group and records
        ``Stopped``."""
        if self.key != key:
            return
        self.stopped = True
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait(self, key: str) -> None:
        """Until job ``key`` ends here (at once when it never started here)."""
        ended = self.ran.get(key)
        if ended is not None:
            ended.wait()

    def retire(self) -> bool:
        """Leave now if idle (a job of another shape needs the resources)."""
        with self.lock:
            if self.key is not None and not (self.key in self.ran
                                             and self.ran[self.key].is_set()):
                return False
            self.key = "retired"
            self.ran["retired"] = threading.Event()  # never claimable again
        threading.Timer(0.1, os._exit, (0,)).start()
        return True


# ---- the driver side ---------------------------------------------------------------------
def _host_spec(spec: dict[str, Any], host: str, hosts: list[str], res: dict[str, float],
               ips: dict[str, str], node_id: str) -> dict[str, Any]:
    """The spec as one host sees it: its name, the others' (``STACKYARD_HOST_IPS`` maps
    each to its node's address, as SageMaker's DNS would), its Ray node, and the CPUs and
    GPUs Ray gave it (``SM_NUM_CPUS``, ``SM_NUM_GPUS`` and thread counts)."""
    env = dict(spec["env"])
    cpus, gpus = int(res.get("CPU", 0)) or None, int(res.get("GPU", 0))
    env.update({"SM_CURRENT_HOST": host, "SM_HOSTS": json.dumps(hosts),
                "STACKYARD_HOST_IPS": json.dumps(ips), "STACKYARD_RAY_NODE_ID": node_id})
    resource_config = {"current_host": host, "hosts": hosts}
    if "SM_TRAINING_ENV" in env:
        tenv = json.loads(env["SM_TRAINING_ENV"])
        tenv.update({"current_host": host, "hosts": hosts, "resource_config": resource_config,
                     "num_gpus": gpus, **({"num_cpus": cpus} if cpus else {})})
        env["SM_TRAINING_ENV"] = json.dumps(tenv)
        env["SM_RESOURCE_CONFIG"] = json.dumps(resource_config)
        env["SM_NUM_GPUS"] = str(gpus)
        if cpus:
            env["SM_NUM_CPUS"] = str(cpus)
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                if var in env:
                    env[var] = str(cpus)
    config = {k: (resource_config if k.endswith("/resourceconfig.json") else v)
              for k, v in spec["config_files"].items()}
    return {**spec, "env": env, "config_files": config}


def _actor_options(res: dict[str, float]) -> dict[str, Any]:
    custom = {k: v for k, v in res.items() if k not in ("CPU", "GPU", "memory")}
    opts: dict[str, Any] = {"num_cpus": res.get("CPU", 0), "num_gpus": res.get("GPU", 0)}
    if res.get("memory"):
        opts["memory"] = int(res["memory"])
    if custom:
        opts["resources"] = custom
    return opts


def _read_marker(job_dir: Path) -> dict[str, Any]:
    return json.loads((job_dir / RAY_MARKER).read_text())


def _write_marker(job_dir: Path, marker: dict[str, Any]) -> None:
    """Durable before any actor exists: a driver killed right after finds the names."""
    tmp = job_dir / (RAY_MARKER + ".tmp")
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(marker))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, job_dir / RAY_MARKER)


def _check_fits(instance_type: str | None, res: dict[str, float]) -> None:
    """Ray would wait forever for a host no node can hold: say so instead (``InputError``),
    naming what was asked and what the largest node has."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(all(n.get(k, 0) >= v for k, v in res.items()) for n in nodes):
        return
    largest = max(nodes, key=lambda n: (n.get("CPU", 0), n.get("memory", 0)), default={})
    show = ", ".join(f"{k}={v / GIB:.0f}GiB" if k == "memory" else f"{k}={v:g}"
                     for k, v in sorted(res.items()))
    has = ", ".join(f"{k}={largest.get(k, 0) / GIB:.0f}GiB" if k == "memory"
                    else f"{k}={largest.get(k, 0):g}" for k in sorted(res))
    raise StepFailed(f"no node of the Ray cluster can hold a {instance_type or 'local'} host "
                     f"({show}; the largest has {has}); pass resources, e.g. --resources "
                     f"'{{\"{instance_type or '*'}\": {{\"CPU\": 1}}}}'", "InputError")


def _first_line(e: BaseException) -> str:
    lines = [x.strip() for x in str(e).splitlines() if "died" in x or "node" in x]
    return lines[0] if lines else type(e).__name__


def _actor(name: str) -> Any | None:
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:  # never created, or dead
        return None


def _shape(opts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:12]


def _claim_warm(opts: dict[str, Any], key: str) -> tuple[str, Any, tuple[str, str]] | None:
    """A warm host of this shape, claimed for job ``key``: (name, actor, its node)."""
    prefix = f"{WARM}{_shape(opts)}-"
    for name in ray.util.list_named_actors():
        if not name.startswith(prefix) or (actor := _actor(name)) is None:
            continue
        try:
            node = ray.get(actor.claim.remote(key), timeout=10)
        except (RayError, GetTimeoutError):
            continue
        if node is not None:
            return name, actor, tuple(node)  # type: ignore[return-value]
    return None


def _make_room(res: dict[str, float]) -> None:
    """Warm hosts hold their resources: when a new host would not fit beside them, the
    idle ones leave (Ray then places the new one as they go)."""
    free = ray.available_resources()
    if all(free.get(k, 0) >= v for k, v in res.items() if v):
        return
    for name in ray.util.list_named_actors():
        if name.startswith(WARM) and (actor := _actor(name)) is not None:
            actor.retire.remote()


class RayBackend:
    name = "ray"

    def start(self, spec: JobSpec, job_dir: Path,
              before_start: Callable[[], None] | None) -> Handle:
        sel = selected()
        store = SharedStore(sel.artifacts or "")
        try:
            res = resources_for(spec.instance_type, sel.resources)
        except UsageError as e:
            raise StepFailed(str(e), "InputError") from e
        _check_fits(spec.instance_type, res)
        if job_dir.exists():  # a crashed earlier try at this attempt: start clean
            shutil.rmtree(job_dir)
        job_dir.mkdir(parents=True)
        inputs = []
        for uri, container in spec.inputs:
            try:
                digest = None if is_remote(uri) else store.push(uri_to_path(uri))
            except (OSError, UsageError) as e:
                raise StepFailed(f"cannot fetch input {uri}: {e}", "InputError") from e
            inputs.append({"uri": uri, "container": container, "digest": digest})
        code = [(store.push(Path(src), artifacts.ignore_in_code if Path(src).is_dir()
                            else None), container) for src, container in spec.code]
        requirements = store.push(Path(spec.requirements)) if spec.requirements else None
        key = secrets.token_hex(12)
        hosts = [f"algo-{i + 1}" for i in range(max(1, spec.instance_count))]
        opts = _actor_options(res)
        # one host: a warm one of its shape if any is idle; hosts of one job are started
        # together, spread over distinct nodes
        warm = _claim_warm(opts, key) if len(hosts) == 1 else None
        names = [warm[0]] if warm else [f"{WARM}{_shape(opts)}-{secrets.token_hex(6)}"
                                        for _ in hosts]
        marker = {"key": key, "address": sel.address, "store": store.uri, "hosts": hosts,
                  "actors": names, "outputs": sorted(spec.outputs.values())}
        _write_marker(job_dir, marker)
        if before_start is not None:
            before_start()  # a claimed host not run goes idle again by itself
        if warm:
            actors, nodes = [warm[1]], {hosts[0]: warm[2]}
        else:
            _make_room(res)
            actors = [JobHost.options(name=name, namespace=NAMESPACE, lifetime="detached",
                                      scheduling_strategy="SPREAD", **opts).remote(key)
                      for name in names]
            try:  # placed (where resources allow) and alive: its node and address
                nodes = dict(zip(hosts, ray.get([a.node.remote() for a in actors]),
                                 strict=True))
            except RayActorError as e:  # its node died under it: as if during the job
                for a in actors:
                    ray.kill(a)
                raise StepFailed(f"the Ray node of a host of the job died before the job "
                                 f"started ({_first_line(e)})", "Killed") from e
        ips = {h: ip for h, (ip, _) in nodes.items()}
        base = dataclasses.asdict(spec)
        refs = [a.run.remote({"store": store.uri, "key": key, "host": h,
                              "spec": _host_spec(base, h, hosts, res, ips, nodes[h][1]),
                              "code": code, "requirements": requirements, "inputs": inputs})
                for a, h in zip(actors, hosts, strict=True)]
        return Handle(job_dir, extra={"marker": marker, "actors": actors, "refs": refs})

    def adopt(self, job_dir: Path, recorded: tuple[int | None, str | None]) -> Handle | None:
        marker = _read_marker(job_dir)
        connect(marker["address"])
        store = SharedStore(marker["store"])
        key = marker["key"]
        actors = [_actor(n) for n in marker["actors"]]
        for i, a in enumerate(actors):  # a claimed host the dead driver never started
            try:
                if a is not None and not ray.get(a.has.remote(key), timeout=30):
                    actors[i] = None
            except (RayError, GetTimeoutError):
                actors[i] = None
        done = [store.get_json(f"jobs/{key}/{h}.json") is not None
                for h in marker["hosts"]]
        if not any(done) and all(a is None for a in actors):
            return None  # never started, or gone without a trace: start it again
        refs = [a.wait.remote(key) for a in actors if a is not None]
        return Handle(job_dir, extra={"marker": marker, "actors": actors, "refs": refs})

    def wait(self, handle: Handle, on_log: Callable[[str], None] | None) -> JobResult:
        marker, actors, refs = (handle.extra[k] for k in ("marker", "actors", "refs"))
        job_dir = handle.job_dir
        store = SharedStore(marker["store"])
        log_path = job_dir / "log.txt"
        offset, partial = 0, b""
        first = actors[0]
        with os.fdopen(open_private(log_path), "ab") as log:
            pending = list(refs)
            while pending:
                _, pending = ray.wait(pending, num_returns=len(pending), timeout=LOG_POLL)
                if first is None:
                    continue
                try:
                    chunk = ray.get(first.log.remote(marker["key"], offset), timeout=30)
                except (RayError, GetTimeoutError):
                    chunk = b""
                offset += len(chunk)
                log.write(chunk)
                log.flush()
                *lines, partial = (partial + chunk).split(b"\n")
                for line in lines if on_log is not None else []:
                    on_log(line.decode(errors="replace"))  # type: ignore[misc]
        died = []
        for ref in refs:
            try:
                ray.get(ref)
            except RayActorError as e:
                died.append(_first_line(e))
        try:  # the hosts stay warm for the next job of their shape
            return self._collect(job_dir, marker, store, offset - len(partial), on_log, died)
        finally:
            store.remove(f"jobs/{marker['key']}")

    def _collect(self, job_dir: Path, marker: dict[str, Any], store: SharedStore,
                 offset: int, on_log: Callable[[str], None] | None,
                 died: list[str]) -> JobResult:
        """The hosts' recorded results into the job folder (algo-1's as the job's own;
        the others' under ``hosts/<host>/``); a host without one died with its node."""
        results: list[JobResult] = []
        for i, host in enumerate(marker["hosts"]):
            rec = store.get_json(f"jobs/{marker['key']}/{host}.json")
            if rec is None:
                why = f" ({died[0]})" if died else ""
                return JobResult(False, "Killed", f"the Ray node running {host} of the job "
                                 f"died before the job ended{why}", 0.0, {})
            if "error" in rec:
                raise StepFailed(f"{host}: {rec['error']}" if i else rec["error"],
                                 rec.get("error_type") or "JobError")
            dest = job_dir if i == 0 else job_dir / "hosts" / host
            try:
                store.pull(rec["tree"], dest)
            except IntegrityError as e:
                raise StepFailed(f"the results of {host}: {e}", "IntegrityError") from e
            for container in marker["outputs"]:  # a tree holds files: empty folders too
                host_path(dest, container).mkdir(parents=True, exist_ok=True)
            if i == 0 and on_log is not None:  # lines the live stream had not shown yet
                with open(job_dir / "log.txt", "rb") as f:
                    f.seek(offset)
                    for line in f.read().decode(errors="replace").splitlines():
                        on_log(line)
            results.append(outcome(dest))
        failed = next((r for r in results if not r.ok), None)
        if failed is not None and failed is not results[0]:
            host = marker["hosts"][results.index(failed)]
            failed.reason = f"{host}: {failed.reason}"
            return failed
        return results[0]

    def kill(self, job_dir: Path, pid: int | None, pid_start: str | None) -> None:
        marker = _read_marker(job_dir)
        connect(marker["address"])
        for name in marker["actors"]:
            actor = _actor(name)
            if actor is not None:
                actor.stop.remote(marker["key"])
