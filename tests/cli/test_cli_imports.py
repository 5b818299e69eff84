"""Start-up cost: every CLI call is a fresh process, so what it imports is what it costs.

Checked in a fresh interpreter (this test process has long since imported everything).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "optuna", "fastapi", "starlette", "uvicorn",
         "httpx", "pydantic", "typer", "fsspec", "xgboost", "catboost", "lightgbm", "pyarrow",
         "filelock", "stackyard.workflow", "stackyard.engine._runner", "stackyard.jobs")

PROBE = """
import json, sys
import stackyard.cli
after_import = sorted(m for m in {heavy!r} if m in sys.modules)
from stackyard.cli import run_cli
codes = {{}}
for argv in {commands!r}:
    codes[" ".join(argv)] = run_cli(argv)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} | set(sys.modules))
sys.stderr.write(json.dumps({{"import": after_import, "rich": "rich" in sys.modules,
                              "codes": codes,
                              "after": sorted(set(loaded) & set({heavy!r}))}}))
"""

READS = [["runs", "list", "--json"], ["runs", "list"], ["pipelines", "list", "--json"],
         ["models", "groups", "--json"], ["models", "describe", "nosuch/1"],
         ["tuning", "list"], ["endpoints", "list", "--json"], ["--help"]]


def _probe(sy, commands):
    r = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, commands=commands)],
                       capture_output=True, text=True, timeout=120, env=sy.cli_env(),
                       cwd=sy.work, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stderr.strip().splitlines()[-1])


def test_import_stackyard_cli_loads_no_heavy_library(sy):
    result = _probe(sy, [])
    assert result["import"] == []
    assert result["rich"] is False           # only a table or a tree needs it


def test_read_commands_load_no_heavy_library(sy):
    result = _probe(sy, READS)
    assert result["codes"] == {"runs list --json": 0, "runs list": 0,
                               "pipelines list --json": 0, "models groups --json": 0,
                               "models describe nosuch/1": 2, "tuning list": 0,
                               "endpoints list --json": 0, "--help": 0}
    assert result["after"] == []


def test_public_names_of_lazy_packages_still_import():
    code = ("import sys; from stackyard.serving import Predictor, create_endpoint, "
            "list_endpoints; import stackyard.serving as s; "
            "from stackyard.tuning import HyperparameterTuner, list_tuning_jobs, "
            "describe_tuning_job, list_trials; "
            "assert set(s.__all__) <= set(dir(s)); "
            "assert Predictor.__module__ == 'stackyard.serving._predictor'; "
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    r = subprocess.run([sys.executable, "-c", "import stackyard.serving as s; s.Nope"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "has no attribute 'Nope'" in r.stderr
