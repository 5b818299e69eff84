"""Turn a finished training job's folder into stored artifacts and SageMaker-shaped
properties. Shared by pipeline training steps and tuning trials."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Any

from stackyard import artifacts
from stackyard.errors import StepFailed, UsageError
from stackyard.runtime._job import host_path
from stackyard.runtime._metrics import parse_log


def _entries(root: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every folder and file under ``root``, links followed (as the
    copy into the store follows them) but each real folder visited once, so a link loop
    ends. Sockets, FIFOs and dangling links are left out."""
    out: list[tuple[str, Path]] = []
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        for name in dirs + files:
            p = Path(folder, name)
            if p.is_file() or p.is_dir():
                out.append((p.relative_to(root).as_posix(), p))
    return sorted(out)


def pack_model(model_dir: Path) -> bytes:
    """A reproducible ``model.tar.gz``: same files, same bytes, same content address. Only
    regular files and folders (links are stored as what they point at), so the archive
    always passes the checks of ``artifacts.unpack_tar``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT,
                      dereference=True) as tar:
        for name, p in _entries(model_dir):
            info = tar.gettarinfo(str(p), arcname=name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
            if info.isreg():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def job_metrics(job_dir: Path, definitions: list[dict[str, str]]) -> dict[str, list[float]]:
    log = job_dir / "log.txt"
    text = log.read_text(errors="replace") if log.exists() else ""
    return parse_log(text, definitions)


def training_outputs(job_dir: Path, name: str, req: dict[str, Any],
                     series: dict[str, list[float]]) -> dict[str, Any]:
    """Store the model and output data; return DescribeTrainingJob-like properties."""
    model = artifacts.put_bytes(pack_model(host_path(job_dir, "/opt/ml/model")), "model.tar.gz")
    data = artifacts.put_tree(host_path(job_dir, "/opt/ml/output/data"))
    dest = req.get("OutputDataConfig", {}).get("S3OutputPath")
    if dest:  # SageMaker's layout: <output_path>/<job name>/output/model.tar.gz, added
        try:
            artifacts.publish(model, f"{str(dest).rstrip('/')}/{name}/output")
        except UsageError as e:
            raise StepFailed(str(e), "JobError") from e
    final = {m: {"MetricName": m, "Value": v[-1]} for m, v in series.items() if v}
    return {"TrainingJobName": name, "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model},
            "OutputDataConfig": {"S3OutputPath": data},
            "HyperParameters": req.get("HyperParameters", {}),
            "FinalMetricDataList": final}
