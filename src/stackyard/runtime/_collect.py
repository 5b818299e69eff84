"""Turn a finished training job's folder into stored artifacts and SageMaker-shaped
properties. Shared by pipeline training steps and tuning trials."""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from stackyard import artifacts
from stackyard.runtime._job import host_path
from stackyard.runtime._metrics import parse_log


def pack_model(model_dir: Path) -> bytes:
    """A reproducible ``model.tar.gz``: same files, same bytes, same content address."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for p in sorted(model_dir.rglob("*")):
            info = tar.gettarinfo(str(p), arcname=p.relative_to(model_dir).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if p.is_file():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            elif p.is_dir():
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
    if dest:  # SageMaker's layout: <output_path>/<job name>/output/model.tar.gz
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, name, "output").mkdir(parents=True)
            Path(tmp, name, "output", "model.tar.gz").write_bytes(
                artifacts.uri_to_path(model).read_bytes())
            artifacts.export(artifacts.put_tree(Path(tmp)), str(dest))
    final = {m: {"MetricName": m, "Value": v[-1]} for m, v in series.items() if v}
    return {"TrainingJobName": name, "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": model},
            "OutputDataConfig": {"S3OutputPath": data},
            "HyperParameters": req.get("HyperParameters", {}),
            "FinalMetricDataList": final}
