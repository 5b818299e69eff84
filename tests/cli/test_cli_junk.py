"""Junk input never ends in a traceback: every verb, every argument and option.

The fuzz test walks the click command tree, so a command added later is covered without
editing this file. It calls ``run_cli`` in this process (hundreds of cases in a few
seconds); the subprocess tests below check the real console script for what only a real
process shows (undecodable ``argv`` bytes, the debug traceback, a closed stdout).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from stackyard.cli import app, run_cli
from stackyard.cli._render import print_json, table

JUNK = [
    os.fsdecode(b"\xff\xfe\x80"),        # what Python makes of non-UTF-8 argv bytes
    "99999999999999999999",               # beyond SQLite's INTEGER
    "-5",
    "0",
    "١",                                  # ARABIC-INDIC DIGIT ONE: int() takes it
    "²",                                  # SUPERSCRIPT TWO: isdigit() but not int()
    "g/١",
    "g/99999999999999999999",
    "",
    "../..",
    "a\nb",
    "[/]",                                # rich markup
    "nan",
    "inf",
    " ",
]


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_commands(app))


def _argv(path: tuple[str, ...], cmd: click.Command, junk_param: str, junk: str) -> list[str]:
    """The command with ``junk`` in one parameter and harmless values that name nothing
    (so the command fails fast instead of starting servers) in the required others."""
    args, options = [], []
    for p in cmd.params:
        if isinstance(p, click.Argument):
            if p.name == junk_param:
                args.append(junk)
            elif p.required:
                args.append("nosuch.py" if p.name == "file" else "nosuch-1")
        elif isinstance(p, click.Option) and not p.is_flag and p.name != "help":
            if p.name == junk_param:
                options += [p.opts[0], junk]
            elif p.required:
                options += [p.opts[0], "nosuch.py"]
    return [*path, *args, *options]


# A folder is a valid model for `endpoints create`: it would start a real server to find
# out that `../..` has no model_fn. That path is the serving tests' business.
SLOW = {(("endpoints", "create"), "model", "../..")}

CASES = [(path, cmd, p.name, junk)
         for path, cmd in COMMANDS
         for p in cmd.params
         if not getattr(p, "is_flag", False) and p.name != "help"
         for junk in JUNK
         if (path, p.name, junk) not in SLOW]


def test_the_walk_covers_every_verb():
    verbs = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "serve", "runs list", "runs describe", "models describe", "models approve",
            "endpoints create", "tuning list", "pipelines describe", "monitor run",
            "monitor list", "monitor describe", "monitor report"} <= verbs
    assert len(CASES) > 400


def test_junk_in_every_parameter_of_every_verb_is_one_line_and_no_traceback(sy, capsys,
                                                                            monkeypatch):
    monkeypatch.chdir(sy.work)
    failures = []
    codes: dict[int, int] = {}
    for path, cmd, param, junk in CASES:
        argv = _argv(path, cmd, param, junk)
        try:
            code = run_cli(argv)
        except BaseException as e:  # noqa: BLE001 - what the user would see as a traceback
            failures.append(f"{argv!r}: raised {type(e).__name__}: {e}")
            continue
        captured = capsys.readouterr()
        codes[code] = codes.get(code, 0) + 1
        lines = captured.err.splitlines()
        if code not in (0, 1, 2):
            failures.append(f"{argv!r}: exit {code}")
        elif "Traceback" in captured.err + captured.out:
            failures.append(f"{argv!r}: traceback")
        elif code and (len(lines) != 1 or not lines[0].startswith("error: ")):
            failures.append(f"{argv!r}: stderr is not one error line: {captured.err!r}")
        elif code == 1 and "internal error" in captured.err:
            failures.append(f"{argv!r}: {captured.err.strip()}")
    assert not failures, "\n".join(failures[:30]) + f"\n({len(failures)} in all)"
    assert codes.get(2, 0) > 0.9 * len(CASES), codes    # junk is a usage error
    sy.assert_nothing_written()


@pytest.mark.parametrize("argv, message", [
    (["runs", "list", "--limit", "-5"], "--limit must be >= 1"),
    (["runs", "list", "--limit", "0"], "--limit must be >= 1"),
    (["runs", "list", "--limit", "99999999999999999999"], "--limit must be <="),
    (["tuning", "list", "--limit", "١"], "'١' is not a number"),
    (["models", "describe", "g/99999999999999999999"], "not a model package reference"),
    (["models", "describe", "g/²"], "not a model package reference"),
    (["models", "describe", "g/١"], "not a model package reference"),
    (["serve", "g/1", "--port", "70000"], "--port must be <= 65535"),
    (["serve", "g/1", "--host", "999.1.1.1"], "is not an IP address or host name"),
    (["endpoints", "create", "e", "--model", "g/1", "--capture-percent", "nan"],
     "must be finite"),
    (["endpoints", "logs", "../.."], "endpoint name '../..'"),
    (["runs", "describe", "[/]"], "run id '[/]'"),
    (["monitor", "run", "--endpoint", "e", "--baseline", "g/1", "--since", "P99999999999D"],
     "at most 3660 days"),   # was an OverflowError ("internal error", exit 1)
    (["monitor", "run", "--endpoint", "e", "--baseline", "g/1", "--since", "PT١H"],
     "time offset 'PT١H'"),  # re's \d took the Arabic-Indic digit
])
def test_bad_values_are_refused_naming_the_value(sy, capsys, argv, message):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_newline_in_a_message_stays_on_one_line(sy, capsys):
    assert run_cli(["runs", "logs", "nosuch-1", "a\nb"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a\\nb" in err


def test_print_json_never_prints_nan(capsys):
    print_json({"objective": float("nan"), "best": [float("inf"), 1.5], "n": 3})
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"objective": None, "best": [None, 1.5], "n": 3}


def test_tables_print_markup_in_user_text_literally(capsys):
    table(["step", "reason"], [["a[/]b", "[bold]x[/bold] [/]"]], title="[/]")
    out = capsys.readouterr().out
    assert "a[/]b" in out and "[bold]x[/bold] [/]" in out


PIPELINE = """
from stackyard.workflow import ParameterFloat, Pipeline, step

threshold = ParameterFloat("Threshold", default_value=0.5)

@step
def check(t):
    return t

pipeline = Pipeline("floats", parameters=[threshold], steps=[check(threshold)])
"""


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "١"])
def test_a_non_finite_or_non_ascii_float_parameter_is_refused(sy, capsys, value):
    path = sy.write("floats.py", PIPELINE)
    assert run_cli(["run", str(path), "-p", f"Threshold={value}"]) == 2
    err = capsys.readouterr().err
    assert "Threshold" in err and err.count("\n") == 1
    sy.assert_nothing_written()


def test_a_finite_float_parameter_still_runs(sy, capsys):
    path = sy.write("floats.py", PIPELINE)
    assert run_cli(["run", str(path), "-q", "-p", "Threshold=1e-3"]) == 0
    capsys.readouterr()
    assert run_cli(["runs", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert run_cli(["runs", "describe", row["run_id"], "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert math.isclose(d["parameters"]["Threshold"], 1e-3)


@pytest.mark.parametrize("code", ["0", "None", "3", "'bye'"])
def test_a_pipeline_file_that_exits_is_an_error_not_a_success(sy, capsys, code):
    path = sy.write("exits.py", f"import sys\nsys.exit({code})\n")
    assert run_cli(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "exited" in err and "before defining `pipeline`" in err and err.count("\n") == 1
    sy.assert_nothing_written()


# ---- the real console script ---------------------------------------------------------
def _cli_bytes(sy, *args: bytes | str, env: dict[str, str] | None = None):
    STACKYARD_BIN = Path(sys.executable).with_name("stackyard")

    return subprocess.run([os.fsencode(str(STACKYARD_BIN)), *map(os.fsencode, args)],
                          capture_output=True, timeout=120, cwd=sy.work,
                          env=env or sy.cli_env(), check=False)


@pytest.mark.parametrize("argv", [
    [b"runs", b"describe", b"\xff\xfe\x80"],
    [b"models", b"describe", b"g\xff/1"],
    [b"runs", b"list", b"--pipeline", b"\xc3"],
    [b"run", b"\xff.py", b"-p", b"N=\xfe"],
])
def test_non_utf8_arguments_exit_2_with_one_line(sy, argv):
    r = _cli_bytes(sy, *argv)
    assert r.returncode == 2, r
    assert b"Traceback" not in r.stderr + r.stdout
    assert r.stderr.startswith(b"error: argument b'") and r.stderr.count(b"\n") == 1
    assert b"not valid UTF-8" in r.stderr


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(sy):
    sy.home.mkdir(parents=True, exist_ok=True)
    (sy.home / "stackyard.db").write_bytes(b"this is not a SQLite database" * 100)
    r = _cli_bytes(sy, "runs", "list")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert err.startswith("error: internal error: ") and err.count("\n") == 1, err
    assert "STACKYARD_DEBUG=1" in err and "Traceback" not in err
    r = _cli_bytes(sy, "runs", "list", env=sy.cli_env(STACKYARD_DEBUG="1"))
    assert r.returncode == 1 and b"Traceback (most recent call last)" in r.stderr


def test_a_reader_that_goes_away_is_not_a_traceback(sy):
    STACKYARD_BIN = Path(sys.executable).with_name("stackyard")

    proc = subprocess.Popen([str(STACKYARD_BIN), "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=sy.work)
    proc.stdout.close()                  # like `stackyard ... | head -0`
    err = proc.stderr.read()
    assert proc.wait(timeout=60) in (0, 1)  # click exits 1 on EPIPE, quietly
    assert err == b""


def test_help_and_no_arguments(sy):
    r = sy.cli("--help")
    assert r.returncode == 0 and "runs" in r.stdout and "models" in r.stdout
    r = sy.cli("runs")
    assert r.returncode == 2 and "list" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert sys.executable  # the console script next to this interpreter ran


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, token, code, message", [
    ("http://[::1", None, 2, "STACKYARD_URL"),            # was ValueError: internal error
    ("http://127.0.0.1:notaport", None, 2, "STACKYARD_URL"),   # was InvalidURL
    ("http://127.0.0.1:99999", None, 2, "STACKYARD_URL"),  # was "cannot reach", exit 1
    ("http://127.0.0.1:{port}", "tök-0123456789abcdef", 2, "STACKYARD_TOKEN"),  # was
    ("http://127.0.0.1:{port}", "short", 2, "STACKYARD_TOKEN"),  # UnicodeEncodeError
    ("http://proxyuser:pr0xyPassw0rd@127.0.0.1:{port}/base", None, 1, "cannot reach"),
])
def test_junk_stackyard_url_and_token_are_one_line_and_never_echo_a_password(
        sy, capsys, monkeypatch, url, token, code, message):
    monkeypatch.setenv("STACKYARD_URL", url.format(port=_free_port()))
    if token is not None:
        monkeypatch.setenv("STACKYARD_TOKEN", token)
    assert run_cli(["runs", "list", "--json"]) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert "internal error" not in err and "pr0xyPassw0rd" not in err and "tök" not in err
