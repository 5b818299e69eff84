"""``JobSpec``: everything the runtime needs to run one job; the engine's only contract
with the runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPT_ML = "/opt/ml"


@dataclass(frozen=True)
class JobSpec:
    name: str
    kind: str                                   # "Processing" | "Training"
    argv: list[str]                             # container paths; "python3"/"python" first
    env: dict[str, str]
    cwd: str
    inputs: list[tuple[str, str]]               # (URI, container folder)
    outputs: dict[str, str]                     # output name -> container folder
    code: list[tuple[str, str]] = field(default_factory=list)  # (host path, container folder)
    requirements: str | None = None             # host path of requirements.txt, if any
    max_runtime: float | None = None
    metric_definitions: list[dict[str, str]] = field(default_factory=list)
    config_files: dict[str, Any] = field(default_factory=dict)  # container path -> JSON
    instance_type: str | None = None            # what a remote backend sizes the job by
    instance_count: int = 1                     # hosts (algo-1..N) on a remote backend


@dataclass
class JobResult:
    ok: bool
    error_type: str | None
    reason: str | None
    duration: float
    outputs: dict[str, str]                     # output name -> host folder
    sandboxed: bool = False
