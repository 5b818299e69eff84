"""A worker decodes the next mini-batch while the model predicts the current one, and that
changes nothing about what it writes or how a bad record fails its unit."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from transform_helpers import BIAS, COEF, predict, write_model

from stackyard.inference import ModelHandler
from stackyard.transform._records import Plan, UnitFailure, transform_unit

ROWS = 90_000  # 30-byte lines: 3 mini-batches of at most 1 MB


class Recording(ModelHandler):
    """The real handler, noting each check and holding the first answer until the second
    mini-batch has been checked (which never happens when checks wait for answers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checks: list[int] = []

    def check(self, body: bytes, content_type: str | None, accept: str | None) -> Any:
        out = super().check(body, content_type, accept)
        self.checks.append(len(out[2]))
        return out

    def answer(self, body: bytes, *checked: Any) -> tuple[bytes, str]:
        deadline = time.monotonic() + 20
        while len(self.checks) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.seen_while_answering = len(self.checks)
        return super().answer(body, *checked)


def _setup(tmp_path: Path, rows: list[str]) -> tuple[Recording, Plan, dict[str, Any]]:
    model_dir, code = write_model(tmp_path / "model", COEF, BIAS)
    handler = Recording(model_dir.parent, entry_point="inference.py", code_dir=code)
    plan = Plan({"content_type": "text/csv", "accept": "text/csv", "strategy": "MultiRecord",
                 "max_payload_mb": 1, "input_filter": "$", "output_filter": "$",
                 "join_source": "None", "assemble_with": "Line"})
    data = tmp_path / "d.csv"
    data.write_text("".join(r + "\n" for r in rows))
    unit = {"file": "d.csv", "path": str(data), "kind": "lines", "start": 0,
            "end": data.stat().st_size, "part": str(tmp_path / "work" / "d.part")}
    return handler, plan, unit


def test_the_next_mini_batch_is_decoded_while_the_model_predicts(tmp_path: Path) -> None:
    rows = [[i, i % 7, 1] for i in range(ROWS)]
    handler, plan, unit = _setup(tmp_path, [",".join(f"{v:09d}" for v in r) for r in rows])
    assert transform_unit(handler, plan, unit) == 3
    assert handler.seen_while_answering >= 2  # the first answer waited for the 2nd check
    out = Path(unit["part"]).read_text().splitlines()
    assert out == [repr(predict(COEF, BIAS, r)) for r in rows]


def test_a_bad_record_still_fails_the_unit_at_its_line_and_the_thread_ends(
        tmp_path: Path) -> None:
    rows = [f"{i:09d},000000001,000000002" for i in range(ROWS)]
    rows[50_000] = "000000001,oops,2"  # in the second mini-batch
    handler, plan, unit = _setup(tmp_path, rows)
    before = threading.active_count()
    with pytest.raises(UnitFailure) as e:
        transform_unit(handler, plan, unit)
    assert e.value.index == 50_000 and "oops" in e.value.message
    assert threading.active_count() == before
    assert not Path(unit["part"]).exists()
