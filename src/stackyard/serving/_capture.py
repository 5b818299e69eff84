"""Data capture in SageMaker's layout: sampled requests and responses as JSON lines, in
hourly files, written by a background thread so the live answer never waits on disk."""

from __future__ import annotations

import json
import os
import queue
import random
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackyard import _home
from stackyard.inference._codecs import capture_entry


def capture_root(endpoint: str) -> Path:
    return _home.home() / "capture" / endpoint


class CaptureWriter:
    def __init__(self, endpoint: str, percent: float, always: bool = False,
                 root: str | None = None, modes: list[str] | None = None) -> None:
        """``always``: start the writer even at 0 %, because shadow answers are captured.
        ``root``: the capture destination (default ``$STACKYARD_HOME/capture``); ``modes``:
        ``Input`` and/or ``Output`` (default both)."""
        self.endpoint = endpoint
        self.root = Path(root) / endpoint if root else capture_root(endpoint)
        self.modes = set(modes or ("Input", "Output"))
        self.percent = max(0.0, min(100.0, float(percent)))
        self.q: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10000)
        self.dropped = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name="capture")
        if self.percent > 0 or always:
            self.thread.start()

    def sampled(self) -> bool:
        return self.percent > 0 and random.uniform(0, 100) < self.percent

    def capture(self, variant: str, event_id: str, inference_id: str, request: bytes,
                request_type: str, response: bytes, response_type: str) -> None:
        now = datetime.now(UTC)
        data = {}
        if "Input" in self.modes:
            data["endpointInput"] = capture_entry(request, request_type, "INPUT")
        if "Output" in self.modes:
            data["endpointOutput"] = capture_entry(response, response_type, "OUTPUT")
        record = {"variant": variant, "time": now, "line": {
            "captureData": data,
            "eventMetadata": {"eventId": event_id, "inferenceId": inference_id,
                              "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"},
            "eventVersion": "0"}}
        try:
            self.q.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _path(self, variant: str, t: datetime) -> Path:
        d = self.root / variant / t.strftime("%Y/%m/%d/%H")
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{self.endpoint}-{variant}-{t.strftime('%Y%m%d%H')}-{os.getpid()}.jsonl"

    def _run(self) -> None:
        while True:
            rec = self.q.get()
            if rec is None:
                return
            with open(self._path(rec["variant"], rec["time"]), "a") as f:
                f.write(json.dumps(rec["line"]) + "\n")

    def close(self) -> None:
        if self.thread.is_alive():
            self.q.put(None)
            self.thread.join(timeout=5)
