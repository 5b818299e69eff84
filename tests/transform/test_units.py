"""How input files are cut into units: enough units that workers share the tail of a job
(more units than workers), whole lines each, covering the file exactly, and the same cut on
every call (a resumed job finds its parts)."""

from __future__ import annotations

import itertools
from pathlib import Path

from stackyard.transform._inputs import UNIT_MIN, UNITS_PER_WORKER, units_of


def _file(path: Path, mb: float) -> Path:
    line = b"1.000000,2.000000,3.000000\n"
    path.write_bytes(line * int(mb * (1 << 20) // len(line)))
    return path


def test_a_large_file_is_cut_into_several_units_per_worker_on_line_starts(
        tmp_path: Path) -> None:
    data = _file(tmp_path / "d.csv", 10)
    units = units_of("d.csv", data, True, False, 2, tmp_path / "work")
    # two units (one per worker) left one worker idle while the other finished its half
    assert len(units) == 2 * UNITS_PER_WORKER
    assert units[0]["start"] == 0 and units[-1]["end"] == data.stat().st_size
    body = data.read_bytes()
    for a, b in itertools.pairwise(units):
        assert a["end"] == b["start"] and body[b["start"] - 1:b["start"]] == b"\n"
    assert units == units_of("d.csv", data, True, False, 2, tmp_path / "work")


def test_units_never_go_below_the_minimum_size(tmp_path: Path) -> None:
    data = _file(tmp_path / "d.csv", 1.5)
    units = units_of("d.csv", data, True, False, 4, tmp_path / "work")
    assert len(units) == 2
    assert units[0]["end"] - units[0]["start"] >= UNIT_MIN
