"""The store: one ``Store`` facade over one mixin per domain, numbered migrations."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from stackyard import store as store_pkg
from stackyard.store import Store
from stackyard.store._base import Base
from stackyard.store._migrations import MIGRATIONS

STORE_DIR = Path(store_pkg.__file__).parent
MIXIN_TABLES = {
    "_runs.py": {"pipelines", "pipeline_versions", "runs", "steps", "attempts", "metrics"},
    "_tuning.py": {"tuning_jobs", "trials"},
    # a registration or approval writes its event in the same transaction (see _registry)
    "_registry.py": {"model_groups", "model_packages", "approvals", "subscriptions",
                     "events"},
    "_endpoints.py": {"endpoints"},
    "_events.py": {"events"},
    "_monitor.py": {"monitoring_runs"},
    "_transform.py": {"models", "transform_jobs"},
    "_callbacks.py": {"callbacks"},
    "_notify.py": {"notify_channels", "notifications"},
    "_triggers.py": {"schedules", "rules", "fires", "cursors", "leases"},
}


def test_each_domain_mixin_speaks_only_its_own_tables(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    tables = {r["name"] for r in s._q("SELECT name FROM sqlite_master WHERE type='table'")
              if not r["name"].startswith("sqlite_")}
    s.close()
    assert set().union(*MIXIN_TABLES.values()) == tables  # every table has a home
    word = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+(\w+)", re.IGNORECASE)
    for module, own in MIXIN_TABLES.items():
        named = set(word.findall((STORE_DIR / module).read_text())) & tables
        assert named <= own, f"{module} reaches into {sorted(named - own)}"
    # and every domain is one base of the facade, over one shared connection
    bases = [b.__module__.rsplit(".", 1)[-1] + ".py" for b in Store.__bases__]
    assert bases == list(MIXIN_TABLES)
    assert all(issubclass(b, Base) for b in Store.__bases__)


def _old_database(path: Path, version: int) -> None:
    """A database as an earlier stackyard left it: the first ``version`` migrations."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version={version}")
    conn.execute("INSERT INTO tuning_jobs(name, status, config, request, created_at) "
                 "VALUES('old', 'Completed', '{}', '{}', 0)")
    conn.execute("INSERT INTO trials(tuning_job, number, status, params, job_name, job_dir,"
                 " start_time) VALUES('old', 0, 'Completed', '{\"x\": 1}', 'old-000', '/x', 0)")
    conn.commit()
    conn.close()


def test_an_older_database_migrates_and_keeps_its_trials(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    _old_database(db, 5)
    s = Store(db)
    try:
        assert s._one("PRAGMA user_version")["user_version"] == len(MIGRATIONS)
        (old,) = s.get_trials("old")
        assert old["params"] == {"x": 1} and old["hyperparameters"] == {}
        s.add_trial("old", 1, {"__reverse__lr": 0.9}, "old-001", "/y",
                    hyperparameters={"lr": 0.1})
        assert s.get_trials("old")[1]["hyperparameters"] == {"lr": 0.1}
    finally:
        s.close()
    again = Store(db)  # reopening runs nothing twice
    try:
        assert len(again.get_trials("old")) == 2
    finally:
        again.close()


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    s = Store(tmp_path / "db.sqlite")
    try:
        with pytest.raises(RuntimeError), s.tx() as c:
            c.execute("INSERT INTO endpoints(name, config, status, created_at, updated_at) "
                      "VALUES('e', '{}', 'Creating', 0, 0)")
            raise RuntimeError("crash mid-way")
        assert s.get_endpoint("e") is None
        assert s.create_endpoint("e", {"a": 1}) and s.get_endpoint("e")["config"] == {"a": 1}
    finally:
        s.close()
