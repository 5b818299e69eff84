"""Many processes opening a fresh STACKYARD_HOME at once all get a working store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPEN = ("from stackyard.store import open_store; s = open_store(); "
        "print(len(s.list_runs(None, 5)))")


def test_twelve_processes_open_a_fresh_home_at_once(tmp_path: Path) -> None:
    for round_ in range(3):
        home = tmp_path / f"home {round_} é"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN], env={"STACKYARD_HOME": str(home)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(12)]
        results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
        assert all(rc == 0 and out.strip() == "0" for out, _, rc in results), results
