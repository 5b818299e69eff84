"""The SQLite store: migrations, WAL, one store per home, many writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from stackyard import engine
from stackyard.store import Store, open_store
from stackyard.store._migrations import MIGRATIONS


def test_an_old_database_is_migrated_in_place_and_keeps_its_runs(sy):
    sy.home.mkdir(parents=True)
    db = sy.home / "stackyard.db"
    con = sqlite3.connect(str(db))
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.execute("PRAGMA user_version=1")
    definition = {"Name": "old", "Steps": []}
    con.execute("INSERT INTO pipelines VALUES('old', 1.0, 1.0)")
    con.execute("INSERT INTO pipeline_versions VALUES('old', 1, ?, 'd', 1.0)",
                (json.dumps(definition),))
    con.execute("INSERT INTO runs(run_id, pipeline, version, definition, parameters, status, "
                "start_time, end_time) VALUES('r-old', 'old', 1, ?, '{\"N\": 1}', 'Succeeded', "
                "1.0, 2.0)", (json.dumps(definition),))
    con.execute("INSERT INTO steps(run_id, name, status, attempts, outputs) "
                "VALUES('r-old', 'A', 'Succeeded', 1, '{\"Result\": 5}')")
    con.commit()
    con.close()

    store = open_store()
    assert store.path == db
    version = sy.db_query("PRAGMA user_version")[0][0]
    assert version == len(MIGRATIONS)
    d = engine.describe_run("r-old")
    assert d["status"] == "Succeeded" and d["parameters"] == {"N": 1}
    assert d["steps"][0]["outputs"] == {"Result": 5}
    assert [r["run_id"] for r in engine.list_runs()] == ["r-old"]
    # opening again is a no-op
    Store(db).close()
    assert sy.db_query("PRAGMA user_version")[0][0] == len(MIGRATIONS)


def test_the_store_uses_wal_and_one_store_per_home(sy, tmp_path, monkeypatch):
    first = open_store()
    assert open_store() is first
    assert sy.db_query("PRAGMA journal_mode")[0][0] == "wal"
    monkeypatch.setenv("STACKYARD_HOME", str(tmp_path / "other"))
    second = open_store()
    assert second is not first
    assert second.path == tmp_path / "other" / "stackyard.db"


WRITER = """
import sys
from stackyard.engine import register_pipeline
for i in range(15):
    register_pipeline({"Name": f"p{sys.argv[1]}-{i}", "Steps": [
        {"Name": "f", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]})
print("ok")
"""


def test_many_processes_write_at_once(sy):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(n)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for n in range(4)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    assert sy.db_counts()["pipelines"] == 60
    assert sy.db_counts()["pipeline_versions"] == 60
