"""Where a job runs: the backend seam.

A backend does four things with a job: ``start`` it (its handle recorded durably in the job
folder before it can take effect), ``wait`` for it (streaming its log), ``kill`` it, and
``adopt`` one a dead caller left running. ``local`` is a subprocess on this machine (the
code path stackyard always had); ``ray`` runs processing and training jobs on a Ray cluster
(``runtime._ray``, imported only when chosen). The engine, the store and everything else
stay on this machine either way: a backend is only where work runs.

The choice is made once per process (``use_backend``: ``stackyard run --backend``,
``Pipeline.start(backend=…)``, or ``STACKYARD_BACKEND``) and checked before anything runs.
An adopted job goes back to the backend that started it: its folder says which.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stackyard import _home
from stackyard.errors import UsageError
from stackyard.runtime._spec import JobResult, JobSpec

BACKENDS = ("local", "ray")
# Job kinds a remote backend runs; the others (Lambda functions, the transform job's own
# coordinator) read this machine's store and stay here.
REMOTE_KINDS = ("Processing", "Training")
RAY_MARKER = "ray.json"   # in a job folder: the job runs on Ray (how to find it again)


@dataclass
class Handle:
    """A started job as its backend knows it."""

    job_dir: Path
    pid: int | None = None                   # local: the launcher (recorded for stops)
    pid_start: str | None = None
    proc: subprocess.Popen | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific


class Backend(Protocol):
    name: str

    def start(self, spec: JobSpec, job_dir: Path,
              before_start: Callable[[], None] | None) -> Handle: ...

    def wait(self, handle: Handle, on_log: Callable[[str], None] | None) -> JobResult: ...

    def kill(self, job_dir: Path, pid: int | None, pid_start: str | None) -> None: ...

    def adopt(self, job_dir: Path, recorded: tuple[int | None, str | None]) -> Handle | None:
        ...


# ---- resources ---------------------------------------------------------------------------
GIB = 1 << 30
# SageMaker instance type -> Ray resources: CPUs (vCPUs), GPUs and memory (bytes). Types not
# listed are derived from their size (large = 2 vCPUs, xlarge = 4, Nxlarge = 4N) and family
# (GiB per vCPU; GPUs below). ``resources`` overrides replace a type's whole entry.
INSTANCE_TYPES: dict[str, dict[str, float]] = {
    "local": {"CPU": 1},
    "ml.t3.medium": {"CPU": 2, "memory": 4 * GIB},
    "ml.m5.large": {"CPU": 2, "memory": 8 * GIB},
    "ml.m5.xlarge": {"CPU": 4, "memory": 16 * GIB},
    "ml.m5.2xlarge": {"CPU": 8, "memory": 32 * GIB},
    "ml.m5.4xlarge": {"CPU": 16, "memory": 64 * GIB},
    "ml.c5.xlarge": {"CPU": 4, "memory": 8 * GIB},
    "ml.c5.2xlarge": {"CPU": 8, "memory": 16 * GIB},
    "ml.r5.xlarge": {"CPU": 4, "memory": 32 * GIB},
    "ml.g4dn.xlarge": {"CPU": 4, "GPU": 1, "memory": 16 * GIB},
    "ml.g5.xlarge": {"CPU": 4, "GPU": 1, "memory": 16 * GIB},
    "ml.g5.12xlarge": {"CPU": 48, "GPU": 4, "memory": 192 * GIB},
    "ml.p3.2xlarge": {"CPU": 8, "GPU": 1, "memory": 61 * GIB},
    "ml.p3.8xlarge": {"CPU": 32, "GPU": 4, "memory": 244 * GIB},
    "ml.p4d.24xlarge": {"CPU": 96, "GPU": 8, "memory": 1152 * GIB},
}
_GIB_PER_CPU = {"t3": 2, "m5": 4, "m6i": 4, "m7i": 4, "c5": 2, "c6i": 2, "c7i": 2, "r5": 8,
                "r6i": 8, "g4dn": 4, "g5": 4, "p3": 7.6, "p4d": 12}
_GPUS = {"g4dn": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4},
         "g5": {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "12xlarge": 4,
                "24xlarge": 4, "48xlarge": 8},
         "p3": {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}}


def resources_for(instance_type: str | None,
                  overrides: dict[str, dict[str, float]] | None = None) -> dict[str, float]:
    """The Ray resources one host of ``instance_type`` asks for. An override for the type
    (or ``*``, for every type) wins; an unknown type is a ``UsageError`` naming it."""
    overrides = overrides or {}
    key = instance_type or "local"
    if key in overrides or "*" in overrides:
        return dict(overrides.get(key, overrides.get("*")))  # type: ignore[arg-type]
    if key in INSTANCE_TYPES:
        return dict(INSTANCE_TYPES[key])
    m = re.fullmatch(r"ml\.([a-z0-9]+)\.(\d*)(x?large|medium)", key)
    if m is None or m.group(1) not in _GIB_PER_CPU:
        raise UsageError(f"instance type {key!r} has no Ray resources; add it to the "
                         "backend's resources (e.g. resources={" f"{key!r}" ": {'CPU': 4}})")
    family, mult, size = m.group(1), m.group(2), m.group(3)
    cpus = {"medium": 2, "large": 2, "xlarge": 4}[size] * (int(mult) if mult else 1)
    out: dict[str, float] = {"CPU": cpus, "memory": int(cpus * _GIB_PER_CPU[family] * GIB)}
    gpus = _GPUS.get(family, {}).get(f"{mult}{size}")
    if gpus:
        out["GPU"] = gpus
    return out


def check_resources(value: Any, what: str) -> dict[str, dict[str, float]]:
    """``{instance type or "*": {resource: amount ≥ 0}}``, else a ``UsageError``."""
    from stackyard._checks import check_number

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise UsageError(f"{what}: not JSON ({e}); write e.g. "
                             '{"ml.m5.xlarge": {"CPU": 1}}') from None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in value.items()):
        raise UsageError(f"{what} must map instance types (or '*') to resource amounts, "
                         'e.g. {"ml.m5.xlarge": {"CPU": 1}}; got ' f"{value!r}")
    return {k: {str(r): check_number(n, f"{what} {k}.{r}", lo=0) for r, n in v.items()}
            for k, v in value.items()}


# ---- choosing one ------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    name: str = "local"
    address: str | None = None
    artifacts: str | None = None
    resources: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What a run keeps of it (``runs.backend``): a resume goes on where it started."""
        return {"name": self.name, "address": self.address, "artifacts": self.artifacts,
                "resources": self.resources}


_chosen: dict[str, Selection] = {}   # "this process" -> its selection


def use_backend(name: str | None = None, address: str | None = None,
                resources: Any = None, artifacts: str | None = None) -> Selection:
    """Choose where this process's jobs run, checked now: an unknown backend, Ray not
    installed, no cluster at the address, or a shared artifact store that is missing,
    unreachable or without credentials is a ``UsageError`` before anything runs. Unset
    arguments come from the environment (``_home.backend_settings``)."""
    env = _home.backend_settings()
    name = (name or env["backend"] or "local").strip().lower()
    if name not in BACKENDS:
        raise UsageError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if name == "local":
        if address is not None:
            raise UsageError("--address is for the ray backend; add --backend ray")
        _chosen["process"] = Selection()
        return _chosen["process"]
    raw = resources if resources is not None else env["resources"]
    sel = Selection("ray", address or env["address"] or "auto", artifacts or env["artifacts"],
                    check_resources(raw, "resources") if raw else {})
    if not sel.artifacts:
        raise UsageError("the ray backend needs a shared artifact store every node can "
                         "reach: set STACKYARD_ARTIFACTS=s3://bucket/prefix (or a folder "
                         "all nodes mount)")
    try:
        from stackyard.runtime import _ray
    except ImportError as e:
        raise UsageError(f"the ray backend needs Ray ({e}); install it with "
                         "pip install 'stackyard[ray]'") from None
    from stackyard.artifacts._remote import SharedStore

    SharedStore(sel.artifacts).check()
    _ray.connect(sel.address)
    _chosen["process"] = sel
    return sel


def use_recorded(record: dict[str, Any] | None) -> Selection:
    """Go on where a run started (its ``Selection.record()``); a run recorded before
    backends were (None) takes this process's choice."""
    if record is None:
        return selected()
    if record["name"] == "local":
        return use_backend("local")
    return use_backend(record["name"], record["address"], record["resources"] or None,
                       record["artifacts"])


def selected() -> Selection:
    """The backend chosen for this process (``local`` until ``use_backend`` says else)."""
    return _chosen.get("process") or Selection()


def backend_for(spec: JobSpec | None, job_dir: Path, adopting: bool) -> Backend:
    """The backend of a job: an adopted one's folder names it; a new one goes where this
    process's jobs go if its kind may run remotely."""
    if adopting:
        ray_job = (job_dir / RAY_MARKER).exists()
    else:
        ray_job = spec is not None and spec.kind in REMOTE_KINDS and selected().name == "ray"
    if ray_job:
        from stackyard.runtime._ray import RayBackend

        return RayBackend()
    from stackyard.runtime._job import LocalBackend

    return LocalBackend()
