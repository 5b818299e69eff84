"""APPROVE: model package groups, numbered versions, approval with an audit trail.

A package reference reads ``GROUP/VERSION``. Everything a package points at is copied into
the content-addressed store at registration (model artifact, inference code), and its
sha256 recorded, so a registered version can never change underneath its users.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackyard import _home, artifacts
from stackyard._checks import check_name, parse_model_ref, uri_to_path
from stackyard.errors import ConflictError, IntegrityError, NotFoundError, UsageError
from stackyard.registry._approval import APPROVED, PENDING, check_status, check_transition
from stackyard.store import open_store


@dataclass
class ModelPackage:
    group: str
    version: int
    approval_status: str
    created_at: float
    record: dict[str, Any] = field(repr=False)

    @property
    def ref(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def model_data(self) -> str:
        return self.record["model_data"]

    def summary(self) -> dict[str, Any]:
        return {"ref": self.ref, "group": self.group, "version": self.version,
                "approval_status": self.approval_status, "created_at": self.created_at}


def _package(row: dict[str, Any]) -> ModelPackage:
    return ModelPackage(row["grp"], row["version"], row["approval_status"], row["created_at"],
                        row["record"])


def _read_json_source(uri: str, what: str) -> Any:
    """Metrics and baselines must be JSON; a bad file fails registration, naming it."""
    try:
        if artifacts.is_remote(uri):
            import fsspec

            with fsspec.open(uri, "rt") as f:
                return json.load(f)
        return json.loads(artifacts.uri_to_path(uri).read_text())
    except FileNotFoundError:
        raise UsageError(f"{what} {uri} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{what} {uri} is not valid JSON: {e}") from None


def _sources(section: dict[str, Any], what: str) -> dict[str, Any]:
    """``{"ModelQuality": {"Statistics": {"S3Uri", "ContentType"}}}`` -> each with its content
    parsed and hashed."""
    out: dict[str, Any] = {}
    for group, kinds in (section or {}).items():
        for kind, src in (kinds or {}).items():
            if not isinstance(src, dict) or "S3Uri" not in src:
                continue
            uri = str(src["S3Uri"])
            if "://" not in uri:
                uri = Path(uri).resolve().as_uri()
            out.setdefault(group, {})[kind] = {
                "uri": uri, "content_type": src.get("ContentType", "application/json"),
                "sha256": artifacts.content_hash(uri),
                "content": _read_json_source(uri, f"{what} {group}.{kind}")}
    return out


def store_model(uri: str) -> tuple[str, str]:
    """Check the model archive (``artifacts.check_tar``: regular files and folders only,
    nothing that could land outside the folder it is unpacked into), then put it in the
    store if it is not there; returns (uri, sha256). A bad archive is refused, naming the
    member, and never stored."""
    uri = str(uri)
    if "://" not in uri:
        uri = artifacts.to_uri(uri)
    with tempfile.TemporaryDirectory() as tmp:
        if artifacts.is_remote(uri):
            artifacts.fetch(uri, Path(tmp))
            path = next(Path(tmp).iterdir())
        else:
            path = artifacts.uri_to_path(uri)
        if not path.is_file():
            raise UsageError(f"model artifact {uri} is not a file")
        checked = artifacts.check_tar(path)
        try:
            artifacts.verify(uri, checked)  # already stored, and the bytes that were checked
        except (IntegrityError, UsageError):
            uri = artifacts.put_file(path)
    sha = artifacts.content_hash(uri)
    if sha != checked:
        raise UsageError(f"model artifact {path} changed while it was registered; retry")
    return uri, sha


def snapshot_code(entry_point: str | None, source_dir: str | None
                  ) -> tuple[str | None, str | None]:
    """Inference code into the store: ``source_dir`` whole, or the entry point file alone.
    Returns (code URI, entry point name within it)."""
    if source_dir:
        src = artifacts.uri_to_path(source_dir)
        if not src.is_dir():
            raise UsageError(f"source_dir {source_dir} is not a folder")
        if entry_point and not (src / entry_point).is_file():
            raise UsageError(f"entry point {entry_point} not found in {source_dir}")
        return artifacts.put_tree(src), entry_point
    if not entry_point:
        return None, None
    ep = Path(entry_point).resolve()
    if not ep.is_file():
        raise UsageError(f"entry point {entry_point} does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ep.name).write_bytes(ep.read_bytes())
        return artifacts.put_tree(Path(tmp)), ep.name


def extract_model(artifact: str, sha256: str, code_uri: str | None, dest: Path
                  ) -> dict[str, str]:
    """Unpack a stored ``model.tar.gz`` into ``dest`` (new, or an empty folder), its
    inference code under ``dest/code``. The archive is checked against ``sha256`` over the
    bytes unpacked, every member is checked before it is written, and the code copy against
    its address; ``dest`` appears only when all of it succeeded. Returns the sha256 of each
    code file (what an importer checks each module against as it reads it)."""
    path = artifacts.uri_to_path(artifact)
    if not path.is_file():
        raise IntegrityError(f"model artifact {path} is missing")
    with artifacts.building(dest) as tmp:
        artifacts.unpack_tar(path, tmp, sha256)
        if not code_uri:
            return {}
        shutil.rmtree(tmp / "code", ignore_errors=True)  # the registered code replaces any
        return artifacts.checkout(code_uri, tmp / "code")  # packed in the archive, as a repack


_SAMPLE_LIMIT = 64 * 1024


def _sample_payload(url: str | None, content_type: str) -> dict[str, str] | None:
    """The version's health-check request, read now and kept in the record (small, text)."""
    if url is None:
        return None
    path = uri_to_path(str(url))
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"sample_payload_url {url!r}: cannot read it ({e.strerror})") from None
    if not data or len(data) > _SAMPLE_LIMIT:
        raise UsageError(f"sample_payload_url {url!r}: must hold one request body of 1 byte "
                         f"to {_SAMPLE_LIMIT // 1024} KiB (it has {len(data)} bytes)")
    try:
        return {"content_type": content_type, "data": data.decode("utf-8")}
    except UnicodeDecodeError:
        raise UsageError(f"sample_payload_url {url!r}: must be UTF-8 text "
                         f"({content_type})") from None


def _lineage(*args: Any) -> dict[str, Any]:
    """The tracer asks the engine's step types about each step: loaded only when a version
    is registered, so reading the registry (`stackyard models ...`) stays light."""
    from stackyard.registry._lineage import lineage

    return lineage(*args)


class ModelRegistry:
    """The registry of the current ``STACKYARD_HOME``."""

    def __init__(self) -> None:
        self.store = open_store()

    # ---- write -------------------------------------------------------------------
    def register(
        self,
        model_package_group_name: str,
        model_data: str,
        approval_status: str = PENDING,
        content_types: list[str] | None = None,
        response_types: list[str] | None = None,
        entry_point: str | None = None,
        source_dir: str | None = None,
        image_uri: str | None = None,
        model_metrics: dict[str, Any] | None = None,
        drift_check_baselines: dict[str, Any] | None = None,
        customer_metadata_properties: dict[str, str] | None = None,
        description: str | None = None,
        sample_payload_url: str | None = None,
        run_id: str | None = None,
        step: str | None = None,
        source_key: str | None = None,
        who: str | None = None,
    ) -> ModelPackage:
        """Validate everything, copy artifacts into the store, then record the version in
        one transaction: a failure at any point leaves no half-registered version."""
        group = check_name(model_package_group_name, "model group")
        check_status(approval_status)
        if source_key is not None:
            for row in self.store.list_packages(group):
                if row["record"].get("source_key") == source_key:
                    return _package(row)  # a resumed run registering again: same version
        metrics = _sources(model_metrics or {}, "model metrics")
        baselines = _sources(drift_check_baselines or {}, "drift check baseline")
        meta = {str(k): str(v) for k, v in (customer_metadata_properties or {}).items()}
        sample = _sample_payload(sample_payload_url, (content_types or ["text/csv"])[0])
        model_uri, sha = store_model(model_data)
        code_uri, entry_point = snapshot_code(entry_point, source_dir)
        record = {
            "group": group, "model_data": model_uri, "model_sha256": sha,
            "inference_spec": {"entry_point": entry_point, "code_uri": code_uri,
                               "image_uri": image_uri,
                               "content_types": list(content_types or ["text/csv"]),
                               "response_types": list(response_types or ["text/csv"])},
            "model_metrics": metrics, "drift_check_baselines": baselines,
            "customer_metadata_properties": meta, "description": description,
            "lineage": _lineage(self.store, model_uri, run_id, step, source_dir),
            "source_key": source_key, "sample_payload": sample,
        }
        who = who or _who()
        version = self.store.register_package(
            group, approval_status, record, who, "registered",
            {"group": group, "run_id": run_id})
        pkg = self.describe_package(group, version)
        if approval_status == APPROVED:
            _fire_on_approve(self.store, pkg)
        return pkg

    def update_approval(self, ref: str, status: str, comment: str | None = None,
                        who: str | None = None) -> ModelPackage:
        group, version = parse_model_ref(ref)
        current = self.describe_package(group, version)
        check_transition(ref, current.approval_status, status)
        if not self.store.set_approval(group, version, current.approval_status, status,
                                       who or _who(), comment,
                                       {"group": group, "version": version, "ref": ref,
                                        "from": current.approval_status, "to": status}):
            raise ConflictError(f"{ref} changed while approving it; look again and retry")
        pkg = self.describe_package(group, version)
        if status == APPROVED:
            _fire_on_approve(self.store, pkg)
        return pkg

    def subscribe_on_approve(self, group: str, action: dict[str, Any]) -> int:
        """Record that approving a version of ``group`` starts the pipeline ``action``
        names (``file``, ``parameter``, ``params``, ``cwd``); returns the subscription id."""
        return self.store.add_subscription("on-approve", group, action)

    # ---- read --------------------------------------------------------------------
    def list_groups(self) -> list[dict[str, Any]]:
        return self.store.list_groups()

    def _group(self, group: str) -> str:
        if not self.store.group_exists(group):
            raise NotFoundError(f"no model package group {group!r}; see `stackyard models groups`")
        return group

    def list_packages(self, group: str, approval_status: str | None = None
                      ) -> list[ModelPackage]:
        if approval_status is not None:
            check_status(approval_status)
        return [_package(r) for r in self.store.list_packages(self._group(group),
                                                               approval_status)]

    def describe_package(self, group: str, version: int) -> ModelPackage:
        row = self.store.get_package(self._group(group), version)
        if row is None:
            raise NotFoundError(f"{group} has no version {version}; see "
                                f"`stackyard models list {group}`")
        return _package(row)

    def describe(self, ref: str) -> dict[str, Any]:
        pkg = self.describe_package(*parse_model_ref(ref))
        return {**pkg.summary(), **{k: v for k, v in pkg.record.items() if k != "version"},
                "approval_history": self.store.approval_history(pkg.group, pkg.version)}

    def latest(self, group: str, approval_status: str | None = APPROVED) -> ModelPackage:
        pkgs = self.list_packages(group, approval_status)
        if not pkgs:
            what = f"{approval_status} " if approval_status else ""
            raise NotFoundError(f"{group} has no {what}version yet")
        return pkgs[-1]

    def download(self, ref: str, path: str | Path) -> Path:
        """Extract the model artifact (checked against its recorded sha256) and the
        inference code into ``path``, a new or empty folder."""
        pkg = self.describe_package(*parse_model_ref(ref))
        extract_model(pkg.model_data, pkg.record["model_sha256"],
                      pkg.record["inference_spec"]["code_uri"], Path(path))
        return Path(path)


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return f"uid:{os.getuid()}"


def _fire_on_approve(store: Any, pkg: ModelPackage) -> list[dict[str, Any]]:
    """Start every pipeline subscribed to approvals of this group, detached.

    Whoever records the approval starts the runs (no server needed); each run gets the
    approved version as the parameter the subscription names."""
    from stackyard.runtime import start_detached  # ~25 ms of imports only approvals need

    started = []
    for sub in store.subscriptions("on-approve", pkg.group):
        action = sub["action"]
        log_dir = _home.home() / "triggers"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{pkg.group}-{pkg.version}-sub{sub['id']}-{int(time.time())}.log"
        exe = str(Path(sys.executable).parent / "stackyard")
        cmd = [exe, "run", action["file"], "-q", "-p", f"{action['parameter']}={pkg.ref}"]
        for p in action.get("params", []):
            cmd += ["-p", p]
        proc = start_detached(cmd, log, cwd=action.get("cwd") or None)
        store.add_event("trigger.started", {"subscription": sub["id"], "ref": pkg.ref,
                                            "pid": proc.pid, "log": str(log)})
        print(f"approval of {pkg.ref} started pipeline {action['file']} (detached, pid "
              f"{proc.pid}); log: {log}", file=sys.stderr)
        started.append({"pid": proc.pid, "log": str(log)})
    return started
