"""Attack stackyard as a user would, and print what held (not a test: a table).

Against a fresh ``STACKYARD_HOME`` in a folder whose name has a space and non-ASCII:

a. a 4-step pipeline (processing -> training -> @step -> register) whose runner is killed
   with SIGKILL at random moments, then resumed: the run must succeed, no step may run to
   completion twice (each step's code appends a line when it finishes, and the store's
   attempts are counted), and each run registers exactly one model version;
b. two ``stackyard run`` of that pipeline at once (two runs, two versions), and two
   ``runs resume`` of one run at once (one drives it, the other refuses in one line);
c. 100 junk HTTP requests (bad methods, paths, headers, bodies, raw protocol garbage,
   slowloris) to an endpoint serving a version from (a): no 5xx, and it still answers;
d. 100 junk CLI invocations (the CLI fuzz test's generator, plus junk aimed at the newer
   verbs: JSON nested too deeply, NaN, URLs with secrets, bad cron and time zones): no
   traceback, exit 0/1/2, one error line, no secret echoed;
e. a state machine (Map of Waits, then Parallel of a Wait and a Pass) whose driver is
   killed with SIGKILL at random moments, then ``states resume``d: every execution ends
   SUCCEEDED with the undisturbed output, each Map item succeeds once; then two
   ``states resume`` of one execution at once (one drives it, the other refuses);
f. junk HTTP to ``stackyard server`` with a token: every API route of its OpenAPI document
   and every UI page, with junk (and real) path values, queries and bodies, no token, a
   wrong token, a foreign Host, UI forms without their CSRF token: no 5xx, every API
   answer valid JSON, the token in no answer and no log line; then the server is killed
   with -9 while a log stream is open and comes back;
g. two ``stackyard server`` on one store with a 1-second schedule starting a state
   machine, one of them killed with -9 half-way: every due time fired once (none lost,
   none doubled), one execution per fire;
h. ``send-task-success`` racing a ``.waitForTaskToken`` task's 1-second timeout, answered
   at random moments around the deadline: an answer that was accepted is the task's
   result, one that was refused (TaskTimedOut) left the task timed out, never both or
   neither.

Run: ``.venv/bin/python bench/attack.py [--kills 20] [--seed 0]`` (about 8 minutes on 2
cores). Exits 1 when a row fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).with_name("stackyard"))
WORK = Path(tempfile.mkdtemp(prefix="stackyard attack ü é "))
os.environ["STACKYARD_HOME"] = str(WORK / "home dir ✓")   # before stackyard reads it

from stackyard import serving  # noqa: E402 - after STACKYARD_HOME is set
from stackyard.registry import ModelRegistry  # noqa: E402 - after STACKYARD_HOME is set
from stackyard.runtime import alive  # noqa: E402 - after STACKYARD_HOME is set
from stackyard.store import open_store  # noqa: E402 - after STACKYARD_HOME is set

CODE, MARKS, GATE = WORK / "code dir ü", WORK / "marks.txt", WORK / "gate"
GROUP = "attack-g"
SECRET = "s3cr3tPathPart"
TOKEN = "attack-token-" + "x7Kq9" * 4

PREP = """
import os, sys, time
run = sys.argv[1]
open(MARKS, "a").write(f"start Prep {run}\\n")
while os.path.exists(GATE):          # only (b) closes the gate
    time.sleep(0.02)
time.sleep(0.3)
os.makedirs("/opt/ml/processing/out", exist_ok=True)
open("/opt/ml/processing/out/rows.csv", "w").write("1,2,3\\n")
open(MARKS, "a").write(f"done Prep {run}\\n")
"""
TRAIN = """
import argparse, json, os, time
p = argparse.ArgumentParser(); p.add_argument("--run"); a = p.parse_args()
time.sleep(0.3)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "coef.json"), "w") as f:
    json.dump({"coef": [1.0, 2.0, 3.0]}, f)
open(MARKS, "a").write(f"done Train {a.run}\\n")
"""
INFERENCE = """
import json, os
import numpy as np

class Coef(list):
    pass

def model_fn(model_dir):
    m = Coef(json.load(open(os.path.join(model_dir, "coef.json")))["coef"])
    m.n_features_in_ = len(m)
    return m

def predict_fn(data, model):
    return np.asarray(data, dtype=float) @ np.asarray(model)
"""
PIPELINE = """
import time
from stackyard.jobs import Model, ScriptProcessor, SKLearn, TrainingInput, ProcessingOutput
from stackyard.workflow import (ExecutionVariables, ModelStep, Pipeline, PipelineSession,
                                ProcessingStep, TrainingStep, step)

run = ExecutionVariables.PIPELINE_EXECUTION_ID
s = PipelineSession()
prep = ProcessingStep("Prep", step_args=ScriptProcessor(command=["python3"],
    sagemaker_session=s).run(code=CODE + "/prep.py", arguments=[run],
    outputs=[ProcessingOutput(output_name="out", source="/opt/ml/processing/out")]))
train = TrainingStep("Train", step_args=SKLearn(entry_point="train.py", source_dir=CODE,
    hyperparameters={"run": run}, sagemaker_session=s).fit({"train": TrainingInput(
        prep.properties.ProcessingOutputConfig.Outputs["out"].S3Output.S3Uri)}))

@step(name="Check")
def check(model, run_id):
    time.sleep(0.2)
    open(MARKS, "a").write(f"done Check {run_id}\\n")
    return model

checked = check(train.properties.ModelArtifacts.S3ModelArtifacts, run)
register = ModelStep("Register", depends_on=["Check"], step_args=Model(
    model_data=train.properties.ModelArtifacts.S3ModelArtifacts, entry_point="inference.py",
    source_dir=CODE, sagemaker_session=s).register(
        content_types=["text/csv"], response_types=["text/csv"],
        model_package_group_name=GROUP))
pipeline = Pipeline("attack", steps=[prep, train, checked, register])
"""


def write(path: Path, text: str, **consts: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in consts.items())
                    + textwrap.dedent(text).lstrip("\n"))
    return path


def setup() -> Path:
    write(CODE / "prep.py", PREP, MARKS=str(MARKS), GATE=str(GATE))
    write(CODE / "train.py", TRAIN, MARKS=str(MARKS))
    write(CODE / "inference.py", INFERENCE)
    return write(WORK / "pipé line.py", PIPELINE, CODE=str(CODE), MARKS=str(MARKS),
                 GROUP=GROUP)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=WORK,
                          timeout=timeout, check=False)


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return value


def run_ids() -> set[str]:
    return {r["run_id"] for r in open_store().list_runs("attack", limit=10_000)}


def completions() -> Counter:
    """(step, run) -> how many times the step's code ran to its end."""
    lines = MARKS.read_text().splitlines() if MARKS.exists() else []
    return Counter(tuple(line.split()[1:]) for line in lines if line.startswith("done "))


def versions_by_run() -> Counter:
    reg = ModelRegistry()
    return Counter(reg.describe(p.ref)["lineage"]["registered_by"]["run_id"]
                   for p in reg.list_packages(GROUP)) if open_store().group_exists(GROUP) \
        else Counter()


def check_runs(runs: set[str]) -> list[str]:
    """What is wrong with these runs: status, double completions, versions."""
    bad = []
    done, versions = completions(), versions_by_run()
    store = open_store()
    for run in sorted(runs):
        status = store.get_run(run)["status"]
        if status != "Succeeded":
            bad.append(f"{run}: {status}")
        for step_name in ("Prep", "Train", "Check"):
            if done[(step_name, run)] != 1:
                bad.append(f"{run}: {step_name} ran to completion {done[(step_name, run)]}×")
        succeeded = Counter(a["step"] for a in store.get_attempts(run)
                            if a["status"] == "Succeeded")
        bad += [f"{run}: {s} has {n} succeeded attempts" for s, n in succeeded.items() if n > 1]
        if versions[run] != 1:
            bad.append(f"{run}: {versions[run]} model versions registered")
    return bad


# ---- (a) kill -9 at random moments ------------------------------------------------------
def attack_kills(pipeline: Path, kills: int, rng: random.Random) -> dict[str, Any]:
    before_start = finished_first = resumes_failed = 0
    during: Counter = Counter()   # which steps were executing when the runner died
    problems: list[str] = []
    t0 = time.monotonic()  # one undisturbed run sets the window the kills fall in
    first = cli("run", str(pipeline), "-q")
    window = time.monotonic() - t0
    if first.returncode != 0:
        return {"problems": [f"an undisturbed run failed: {first.stderr[-300:]}"]}
    runs = run_ids()
    (undisturbed,) = runs
    row = open_store().get_run(undisturbed)
    span = row["end_time"] - row["start_time"]   # the run itself, without start-up
    for i in range(kills):
        known = run_ids()
        runner = subprocess.Popen([EXE, "run", str(pipeline), "-q"], cwd=WORK,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i % 5 == 0:   # every fifth kill lands anywhere, start-up included
            time.sleep(rng.uniform(0, window))
        else:            # the others while the run exists, at a random moment of it
            wait_for(lambda k=known, r=runner: run_ids() - k or r.poll() is not None, 60,
                     "the run")
            time.sleep(rng.uniform(0, span))
        finished_first += runner.poll() is not None
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        new = run_ids() - known
        if not new:
            before_start += 1
            continue
        (run,) = new
        runs.add(run)
        during.update(s["name"] for s in open_store().get_steps(run)
                      if s["status"] == "Executing")
        r = cli("runs", "resume", run, "-q")
        if r.returncode != 0 or "Traceback" in r.stderr:
            resumes_failed += 1
            problems.append(f"resume {run}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    problems += check_runs(runs)
    return {"kills": kills, "runs": len(runs) - 1, "run takes (s)": round(span, 1),
            "killed before the run existed": before_start,
            "finished before the kill": finished_first, "resumes failed": resumes_failed,
            "killed during": dict(sorted(during.items())),
            "problems": problems}


# ---- (b) two at once ----------------------------------------------------------------------
def attack_concurrency(pipeline: Path) -> dict[str, Any]:
    problems: list[str] = []
    known = run_ids()
    pair = [subprocess.Popen([EXE, "run", str(pipeline), "-q"], cwd=WORK, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in pair]
    codes = [p.returncode for p in pair]
    if codes != [0, 0]:
        problems.append(f"two runs at once exited {codes}: {[o[1][-300:] for o in outs]}")
    both = run_ids() - known
    if len(both) != 2:
        problems.append(f"two runs at once made {len(both)} runs")
    problems += check_runs(both)

    # two resumes of one run: the gate holds the run's first job until both have started
    GATE.write_text("closed")
    known = run_ids()
    runner = subprocess.Popen([EXE, "run", str(pipeline), "-q"], cwd=WORK,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (run,) = wait_for(lambda: run_ids() - known, 60, "the run")
    wait_for(lambda: f"start Prep {run}" in (MARKS.read_text() if MARKS.exists() else ""),
             60, "its first job")
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    resumes = [subprocess.Popen([EXE, "runs", "resume", run, "-q"], cwd=WORK, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(2)]
    try:
        wait_for(lambda: any(p.poll() is not None for p in resumes), 60, "one resume to end")
    finally:
        GATE.unlink()
    outs = [p.communicate(timeout=300) for p in resumes]
    resume_codes = sorted(p.returncode for p in resumes)
    err = next((e for p, (_, e) in zip(resumes, outs, strict=True) if p.returncode == 2), "")
    if resume_codes != [0, 2] or "being driven" not in err or len(err.strip().splitlines()) != 1:
        problems.append(f"two resumes at once: exits {resume_codes}, refusal {err.strip()!r}")
    if any("Traceback" in o + e for o, e in outs):
        problems.append("a resume printed a traceback")
    problems += check_runs({run})
    return {"two runs": codes, "two resumes": resume_codes, "refusal": err.strip(),
            "problems": problems}


# ---- (c) junk HTTP ----------------------------------------------------------------------
def raw(host: str, port: int, data: bytes, timeout: float = 20) -> bytes:
    """Send bytes, read until the server closes or answers one response head."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = b""
        try:
            while chunk := s.recv(65536):
                chunks += chunk
        except OSError:
            pass
        return chunks


def http_cases(host: str) -> list[tuple[str, Any]]:
    """(description, request): an httpx request as a dict, or raw bytes."""
    row = b"1,2,3"
    deep = b"[" * 100_000 + b"]" * 100_000
    h = f"Host: {host}\r\n".encode()
    cases: list[tuple[str, Any]] = []
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"):
        for path in ("/ping", "/invocations", "/metrics", "/variants", "/feedback", "/nope"):
            cases.append((f"{method} {path}", {"method": method, "url": path}))
    for path in ("/%00", "/" + "a" * 8000, "//invocations", "/../../etc/passwd",
                 "/invocations?x=%ff", "/ping/", "/%E2%9C%93"):
        cases.append((f"GET {path[:20]}", {"method": "GET", "url": path}))
    bodies = {"empty": b"", "binary": bytes(range(256)), "bad utf-8": b"\xff\xfe,\x80",
              "wide": b"1,2,3,4,5", "narrow": b"1", "nan": b"nan,nan,nan",
              "inf": b"inf,-inf,1", "1e400": b"1e400,1,1", "text": b"a,b,c",
              "ragged": b"1,2,3\n4,5", "quotes": b'"1",2,3', "nul": b"1\x00,2,3",
              "many rows": b"1,2,3\n" * 20_000, "only commas": b",,,\n,,,"}
    for name, body in bodies.items():
        cases.append((f"csv {name}", {"method": "POST", "url": "/invocations", "content": body,
                                      "headers": {"Content-Type": "text/csv"}}))
    for name, body in {"malformed": b"{", "deep": deep, "string": b'"x"', "null": b"null",
                       "instances junk": b'{"instances": 5}', "dict rows": b'[{"a": 1}]',
                       "NaN": b"[[NaN, 1, 2]]", "huge int": b"[[" + b"9" * 5000 + b",1,2]]",
                       "mixed": b'[[1, "2", null]]', "empty list": b"[]"}.items():
        cases.append((f"json {name}", {"method": "POST", "url": "/invocations",
                                       "content": body,
                                       "headers": {"Content-Type": "application/json"}}))
    for ctype in ("application/x-npy", "application/jsonlines", "text/plain", "",
                  "text/csv; charset=utf-16", "multipart/form-data; boundary=x",
                  "\u2713".encode()):
        cases.append((f"type {ctype[:20]!r}", {"method": "POST", "url": "/invocations",
                                               "content": row,
                                               "headers": {"Content-Type": ctype}}))
    for accept in ("application/x-npy", "image/png", "*/*;q=nan", "text/csv;q=0", ","):
        cases.append((f"accept {accept!r}", {"method": "POST", "url": "/invocations",
                                             "content": row, "headers": {
                                                 "Content-Type": "text/csv",
                                                 "Accept": accept}}))
    for variant in ("nosuch", "", "A\u2713".encode(), "A" * 5000):
        cases.append((f"variant {variant[:10]!r}", {"method": "POST", "url": "/invocations",
                                                    "content": row, "headers": {
                                                        "Content-Type": "text/csv",
                                                        "X-Target-Variant": variant}}))
    for body in (b"x", b"{}", b'{"inference_id": "nope", "reward": 1}',
                 b'{"inference_id": "x", "reward": NaN}', b'{"inference_id": 5, "reward": "a"}',
                 b'{"inference_id": "x", "reward": 1e400}'):
        cases.append((f"feedback {body[:20]!r}", {"method": "POST", "url": "/feedback",
                                                  "content": body, "headers": {
                                                      "Content-Type": "application/json"}}))
    cases.append(("body over the limit", {"method": "POST", "url": "/invocations",
                                          "content": b"1,2,3\n" * 1_200_000,
                                          "headers": {"Content-Type": "text/csv"}}))
    raws = {
        "garbage line": b"GARBAGE\r\n\r\n",
        "binary": bytes(range(256)) * 4,
        "http/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "no host": b"GET /ping HTTP/1.1\r\n\r\n",
        "huge header": b"GET /ping HTTP/1.1\r\n" + h + b"X-Junk: " + b"a" * 200_000 + b"\r\n\r\n",
        "non-latin header": b"GET /ping HTTP/1.1\r\n" + h + b"X-\xff: \xfe\r\n\r\n",
        "two lengths": b"POST /invocations HTTP/1.1\r\n" + h
                       + b"Content-Type: text/csv\r\nContent-Length: 5\r\n"
                         b"Content-Length: 50\r\n\r\n1,2,3",
        "short body": b"POST /invocations HTTP/1.1\r\n" + h
                      + b"Content-Type: text/csv\r\nContent-Length: 500\r\n\r\n1,2,3",
        "bad chunked": b"POST /invocations HTTP/1.1\r\n" + h
                       + b"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "negative length": b"POST /invocations HTTP/1.1\r\n" + h
                           + b"Content-Length: -1\r\n\r\n",
        "http/0.9": b"GET /ping\r\n",
        "lf only": b"GET /ping HTTP/1.1\n" + h.replace(b"\r", b"") + b"\n",
    }
    cases += [(f"raw {name}", data) for name, data in raws.items()]
    return cases


def attack_http() -> dict[str, Any]:
    import httpx

    ref = f"{GROUP}/1"
    ModelRegistry().update_approval(ref, "Approved", comment="attack")
    d = serving.create_endpoint("attack", [{"name": "A", "model": {"ref": ref}}],
                                header_timeout=2)
    host, port = d["url"].removeprefix("http://").split(":")
    problems: list[str] = []
    statuses: Counter = Counter()
    try:
        cases = http_cases(f"{host}:{port}")
        with httpx.Client(base_url=d["url"], timeout=60) as client:
            for case, req in cases:
                what = case
                if isinstance(req, bytes):
                    head = raw(host, int(port), req).split(b"\r\n", 1)[0]
                    code = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else 0
                else:
                    try:
                        code = client.request(**req).status_code
                    except httpx.HTTPError as e:
                        code = 0
                        what += f" ({type(e).__name__})"
                statuses[code] += 1
                if code >= 500:
                    problems.append(f"{what}: {code}")
            # slowloris: 5 connections that never finish their headers
            slow = [socket.create_connection((host, int(port))) for _ in range(5)]
            for s in slow:
                s.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Ty")
            good = client.post("/invocations", content=b"1,2,3",
                               headers={"Content-Type": "text/csv"})
            if good.status_code != 200 or float(good.text) != 14.0:
                problems.append(f"a good request during slowloris: {good.status_code}")
            for s in slow:
                s.settimeout(30)
                try:
                    if s.recv(1024) != b"":
                        problems.append("a slowloris connection got an answer")
                except OSError as e:
                    problems.append(f"a slowloris connection was not closed: {e}")
                s.close()
            statuses["slowloris closed"] += 5
            ping = client.get("/ping").status_code
            again = client.post("/invocations", content=b"1,2,3",
                                headers={"Content-Type": "text/csv"})
        row = open_store().get_endpoint("attack")
        if ping != 200 or again.status_code != 200 or not alive(row["pid"], row["pid_start"]):
            problems.append(f"after the junk: /ping {ping}, invocation {again.status_code}")
    finally:
        serving.delete_endpoint("attack")
    return {"requests": len(cases) + 5, "statuses": dict(sorted(statuses.items(), key=str)),
            "problems": problems}


# ---- (d) junk CLI ------------------------------------------------------------------------
def attack_cli(rng: random.Random, n: int = 100) -> dict[str, Any]:
    import click

    sys.path.insert(0, str(ROOT / "tests" / "cli"))
    from test_cli_junk import CASES, COMMANDS, _argv

    # junk aimed at the newer verbs (states, schedules, rules, channels, callbacks)
    extra = ["[" * 3000 + "]" * 3000, '{"a": NaN}', "1e999", "http://[::1",
             f"https://u:{SECRET}@hooks.example/T0/{SECRET}", f"https://h.example/{SECRET} ",
             "cron(0 2 ? * 9 *)", "rate(99999999999999999999 days)", "*/0 * * * *",
             "Europe/../../etc/passwd", "@/nonexistent ü", "arn:aws:states:::execution:x:y"]
    CASES = CASES + [(path, cmd, p.name, junk) for path, cmd in COMMANDS
                     if path[0] in ("states", "schedules", "rules", "channels",
                                    "notifications", "callback")
                     for p in cmd.params if not getattr(p, "is_flag", False)
                     and p.name != "help" for junk in extra]

    real = {"run_id": min(run_ids()), "ref": f"{GROUP}/1", "group": GROUP,
            "file": str(WORK / "pipé line.py")}
    problems: list[str] = []
    codes: Counter = Counter()
    for path, cmd, param, junk in rng.sample(CASES, n):
        argv = _argv(path, cmd, param, junk)
        # half the time the other arguments name real things (never a server to start)
        if path[0] not in ("serve", "endpoints") and rng.random() < 0.5:
            named = [p.name for p in cmd.params if isinstance(p, click.Argument)
                     and (p.name == param or p.required)]
            for i, name in enumerate(named, start=len(path)):
                if name != param and name in real:
                    argv[i] = real[name]
        try:
            r = subprocess.run([EXE, *argv], capture_output=True, text=True, cwd=WORK,
                               timeout=60, check=False, errors="replace")
        except subprocess.TimeoutExpired:
            problems.append(f"{argv!r}: still running after 60 s")
            continue
        codes[r.returncode] += 1
        lines = r.stderr.splitlines()
        if r.returncode not in (0, 1, 2):
            problems.append(f"{argv!r}: exit {r.returncode}")
        elif "Traceback" in r.stdout + r.stderr:
            problems.append(f"{argv!r}: traceback")
        elif r.returncode and (len(lines) != 1 or not lines[0].startswith("error: ")):
            problems.append(f"{argv!r}: stderr {r.stderr[-200:]!r}")
        elif param in ("webhook", "smtp") and SECRET in r.stdout + r.stderr:
            problems.append(f"{argv!r}: echoed the secret")   # (a name may be echoed)
    return {"invocations": n, "exits": dict(sorted(codes.items())), "problems": problems}


# ---- (e) kill -9 a state-machine execution ------------------------------------------------
MACHINE = {"StartAt": "M", "States": {
    "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.mapped",
          "Iterator": {"StartAt": "W", "States": {
              "W": {"Type": "Wait", "Seconds": 1, "Next": "Add"},
              "Add": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, 1)"},
                      "End": True}}},
          "Next": "P"},
    "P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "W2", "States": {"W2": {"Type": "Wait", "Seconds": 1, "End": True}}},
        {"StartAt": "X", "States": {"X": {"Type": "Pass", "Result": {"x": 1}, "End": True}}}]}}}
ITEMS = [1, 2, 3, 4]


def _execution_problems(ref: str, expected: str) -> list[str]:
    d = json.loads(cli("states", "describe", ref, "--json").stdout)
    events = json.loads(cli("states", "history", ref, "--json").stdout)["events"]
    kinds = Counter(e["type"] for e in events)
    bad = []
    if d["status"] != "SUCCEEDED" or d.get("output") != expected:
        bad.append(f"{ref}: {d['status']} {d.get('output', d.get('cause'))!r:.200}")
    if kinds["MapIterationSucceeded"] != len(ITEMS) or kinds["ExecutionSucceeded"] != 1:
        bad.append(f"{ref}: {kinds['MapIterationSucceeded']} Map items succeeded, "
                   f"{kinds['ExecutionSucceeded']} ExecutionSucceeded events")
    return bad


def attack_states(kills: int, rng: random.Random) -> dict[str, Any]:
    definition = write(WORK / "machine ü.json", json.dumps(MACHINE))
    (WORK / "input ü.json").write_text(json.dumps({"items": ITEMS}))
    t0 = time.monotonic()
    first = cli("states", "run", str(definition), "--machine", "sm", "--input",
                "@" + str(WORK / "input ü.json"), "--name", "undisturbed", "--json")
    window = time.monotonic() - t0
    if first.returncode != 0:
        return {"problems": [f"an undisturbed execution failed: {first.stderr[-300:]}"]}
    expected = json.loads(first.stdout)["output"]
    problems: list[str] = []
    states_at: Counter = Counter()
    before_start = resumes_failed = 0
    for i in range(kills):
        driver = subprocess.Popen([EXE, "states", "start", "sm", "--input",
                                   "@" + str(WORK / "input ü.json"), "--name", f"k{i}",
                                   "--wait"], cwd=WORK, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, window))
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        d = cli("states", "describe", f"sm:k{i}", "--json")
        if d.returncode == 2:
            before_start += 1
            continue
        events = json.loads(cli("states", "history", f"sm:k{i}", "--json").stdout)["events"]
        states_at[next((e["type"].removesuffix("StateEntered") for e in reversed(events)
                        if e["type"].endswith("StateEntered")), "start")] += 1
        r = cli("states", "resume", f"sm:k{i}", "--json", timeout=120)
        if r.returncode != 0 or "Traceback" in r.stderr:
            resumes_failed += 1
            problems.append(f"resume k{i}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
            continue
        problems += _execution_problems(f"sm:k{i}", expected)
    # two resumes of one execution at once
    driver = subprocess.Popen([EXE, "states", "start", "sm", "--input",
                               "@" + str(WORK / "input ü.json"), "--name", "twice", "--wait"],
                              cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: cli("states", "describe", "sm:twice").returncode == 0, 60, "the execution")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    pair = [subprocess.Popen([EXE, "states", "resume", "sm:twice"], cwd=WORK, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in pair]
    codes = sorted(p.returncode for p in pair)
    if codes != [0, 2] or any("Traceback" in e for _, e in outs):
        problems.append(f"two resumes at once: exits {codes}: {[e[-200:] for _, e in outs]}")
    problems += _execution_problems("sm:twice", expected)
    return {"kills": kills, "execution takes (s)": round(window, 1),
            "killed before it existed": before_start, "resumes failed": resumes_failed,
            "last state entered": dict(sorted(states_at.items())),
            "two resumes": codes, "problems": problems}


# ---- (f) junk HTTP to the API server -----------------------------------------------------
def _server(port: int, log: Path) -> subprocess.Popen:
    token_file = WORK / "token ü.txt"
    token_file.write_text(TOKEN + "\n")
    proc = subprocess.Popen([EXE, "server", "--port", str(port), "--token-file",
                             str(token_file)], cwd=WORK, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)
    import httpx

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited {proc.returncode}") from None
            return False
    wait_for(up, 60, "the server")
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def attack_api(rng: random.Random) -> dict[str, Any]:
    import httpx

    port, log = free_port(), WORK / "server ü.log"
    proc = _server(port, log)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    problems: list[str] = []
    statuses: Counter = Counter()
    real = {"run_id": min(run_ids()), "group": GROUP, "version": "1", "name": "sm",
            "ref": f"{GROUP}/1", "token": "0" * 64}
    junk = ["%FF", "..%2F..", "%00", "-5", "99999999999999999999", "%D9%A1", "a%0Ab", "nan",
            "x" * 3000, "%5B%2F%5D", "%E2%9C%93", ""]
    bodies = [b"", b"{", b"null", b"[]", b"5", b'{"a": NaN}', b"\xff\xfe",
              b"[" * 5000 + b"]" * 5000, b'{"who": "' + b"a" * 100_000 + b'"}',
              b'{"outputs": {"n": "1e400"}, "reason": 5, "who": "\\u0000", "comment": []}']
    try:
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            spec = client.get("/openapi.json").json()
            requests: list[tuple[str, str, dict[str, Any]]] = []
            for path, ops in spec["paths"].items():
                for method, op in ops.items():
                    params = op.get("parameters", [])
                    for value in [*junk, None]:   # None: the real names
                        url = path
                        for p in params:
                            if p["in"] == "path":
                                url = url.replace("{" + p["name"] + "}",
                                                  real.get(p["name"], "x") if value is None
                                                  else value)
                        query = "&".join(f"{p['name']}={rng.choice(junk)}" for p in params
                                         if p["in"] == "query" and value is not None)
                        url += f"?{query}" if query else ""
                        for body in (rng.sample(bodies, 3) if method != "get" else [None]):
                            requests.append((method.upper(), url, {"content": body, "headers": {
                                "Content-Type": "application/json"}} if body is not None
                                else {}))
            for page in ("/ui/runs", "/ui/runs/{run_id}", "/ui/models/{group}/{version}",
                         "/ui/models/{group}/compare", "/ui/pipelines/attack", "/ui/tuning",
                         "/ui/endpoints", "/ui/monitoring", "/ui/states", "/ui/states/sm"):
                for value in [*junk[:6], None]:
                    url = page.format(**{k: (v if value is None else value)
                                         for k, v in real.items()})
                    requests.append(("GET", f"{url}?status={rng.choice(junk)}&page="
                                            f"{rng.choice(junk)}", {}))
            for url in (f"/ui/runs/{real['run_id']}/stop", f"/ui/runs/{real['run_id']}/resume",
                        f"/ui/models/{GROUP}/1/decide", "/ui/login"):
                for body in (b"", b"csrf=nope&who=x", b"\xff=\xfe", b"a=" + b"b" * 70_000):
                    requests.append(("POST", url, {"content": body, "headers": {
                        "Content-Type": "application/x-www-form-urlencoded"}}))
            for method, url, kw in requests:
                try:
                    r = client.request(method, url, **kw)
                except httpx.HTTPError as e:
                    statuses[type(e).__name__] += 1
                    problems.append(f"{method} {url[:60]}: {type(e).__name__}")
                    continue
                statuses[r.status_code] += 1
                if r.status_code >= 500:
                    problems.append(f"{method} {url[:60]}: {r.status_code} {r.text[:100]}")
                if url.startswith("/api/") and "json" in r.headers.get("content-type", ""):
                    try:
                        json.loads(r.text)
                    except ValueError:
                        problems.append(f"{method} {url[:60]}: invalid JSON")
                if TOKEN in r.text:
                    problems.append(f"{method} {url[:60]}: the token in the answer")
            # who may call: no token, a wrong token, a foreign Host
            for headers, want in (({"Authorization": ""}, 401),
                                  ({"Authorization": "Bearer " + TOKEN[:-1]}, 401),
                                  ({"Authorization": "Bearer " + TOKEN + "x"}, 401),
                                  ({"Authorization": "Basic " + TOKEN}, 401)):
                got = client.get("/api/runs", headers=headers).status_code
                statuses[got] += 1
                if got != want:
                    problems.append(f"GET /api/runs with {headers}: {got}, expected {want}")
            # kill -9 while a log stream is open, then start it again on the same store
            with client.stream("GET", f"/api/runs/{real['run_id']}/logs",
                               params={"follow": "true"}) as stream:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                try:
                    for _ in stream.iter_bytes():
                        pass
                except httpx.HTTPError:
                    pass
        proc = _server(port, log)
        again = httpx.get(f"{base}/api/runs", headers=auth, timeout=30)
        if again.status_code != 200 or not again.json():
            problems.append(f"after kill -9 and restart: /api/runs {again.status_code}")
    finally:
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=60) != 0:
            problems.append(f"SIGTERM: the server exited {proc.returncode}")
    text = log.read_text(errors="replace")
    if TOKEN in text:
        problems.append("the token is in the server log")
    if "Traceback" in text:
        problems.append(f"{text.count('Traceback')} tracebacks in the server log")
    return {"requests": sum(statuses.values()),
            "statuses": dict(sorted(statuses.items(), key=str)), "problems": problems}


# ---- (g) two schedulers on one store -------------------------------------------------------
def attack_schedulers() -> dict[str, Any]:
    from stackyard import triggers

    machine = write(WORK / "pass ü.json", json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": True}}}))
    created = cli("states", "create", "pass", "--definition", str(machine))
    if created.returncode != 0:
        return {"problems": [f"states create: {created.stderr.strip()}"]}
    triggers.create_schedule("every-second", target=triggers.state_machine_target("pass"),
                             expression="rate(1 second)", catchup="all")
    logs = [WORK / f"scheduler {i}.log" for i in range(2)]
    servers = [_server(free_port(), log) for log in logs]
    problems: list[str] = []

    def fires() -> list[dict[str, Any]]:
        return sorted(open_store().list_fires(owner="every-second", limit=10**6),
                      key=lambda f: f["due_ms"])
    try:
        wait_for(lambda: len(fires()) >= 5, 120, "five fires")
        servers[0].send_signal(signal.SIGKILL)   # the lease holder or not: either way
        servers[0].wait()
        start = len(fires())
        wait_for(lambda: len(fires()) >= start + 5, 120, "five more fires")
        triggers.pause_schedule("every-second")
    finally:
        for p in servers[1:]:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
    done = wait_for(lambda: (f := fires()) and all(x["status"] != "Pending" and
                                                   x["status"] != "Running" for x in f) and f,
                    120, "every fire to end")
    due = [f["due_ms"] for f in done]
    if len(due) != len(set(due)):
        problems.append("a time fired twice")
    if due != list(range(due[0], due[-1] + 1, 1000)):
        problems.append(f"times were lost: {len(due)} fires over "
                        f"{(due[-1] - due[0]) // 1000 + 1} seconds")
    wait_for(lambda: not open_store().list_executions("pass", "RUNNING", 10), 120,
             "the executions to end")
    executions = open_store().list_executions("pass", None, 10**6)
    by_status = Counter(f["status"] for f in done)
    if len(executions) != len(done) or set(by_status) != {"Succeeded"}:
        problems.append(f"{len(done)} fires ({dict(by_status)}) started {len(executions)} "
                        "executions")
    return {"fires": len(done), "executions": len(executions),
            "fire statuses": dict(by_status), "problems": problems}


# ---- (h) task-token answers racing the task's timeout ---------------------------------
TOKEN_FN = """
import os
def handler(event, context):
    with open(event["file"] + ".tmp", "w") as f:
        f.write(event["token"])
    os.replace(event["file"] + ".tmp", event["file"])
    return {}
"""


def attack_token_races(rng: random.Random, rounds: int = 12) -> dict[str, Any]:
    from stackyard.errors import ConflictError
    from stackyard.lambdas import register_function
    from stackyard.states import StateMachine, send_task_success

    register_function("hand-token", write(WORK / "fn ü" / "hand_token.py", TOKEN_FN),
                      "hand_token.handler", timeout=60)
    sm = StateMachine.create("race", {"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "TimeoutSeconds": 1, "Parameters": {"FunctionName": "hand-token", "Payload": {
                    "token.$": "$$.Task.Token", "file.$": "$.file"}},
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}], "End": True},
        "Late": {"Type": "Pass", "Result": "timed out", "End": True}}})
    outcomes: Counter = Counter()
    problems: list[str] = []
    for i in range(rounds):
        token_file = WORK / f"token {i}"
        e = sm.start_execution({"file": str(token_file)}, name=f"r{i}", wait=False)
        token = wait_for(lambda f=token_file: f.exists() and f.read_text(), 60, "the token")
        appeared = time.monotonic()
        time.sleep(max(0.0, appeared + rng.uniform(0.0, 1.5) - time.monotonic()))
        try:
            send_task_success(token, json.dumps({"answer": i}))
            accepted = True
        except ConflictError:
            accepted = False
        d = wait_for(lambda e=e: (x := e.describe())["status"] != "RUNNING" and x, 60,
                     "the execution")
        got = json.loads(d.get("output") or "null")
        if got != ({"answer": i} if accepted else "timed out"):
            problems.append(f"r{i}: answer {'accepted' if accepted else 'refused'}, "
                            f"execution {d['status']} with {got!r}")
        outcomes["accepted" if accepted else "refused"] += 1
    return {"rounds": rounds, **dict(outcomes), "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--state-kills", type=int, default=12)
    ap.add_argument("--only", default="abcdefgh", help="the rows to run, e.g. 'ef'")
    opts = ap.parse_args()
    rng = random.Random(opts.seed)
    pipeline = setup()
    print(f"attacking in {WORK}", flush=True)
    rows = []
    for label, attack in [
            ("a. kill -9 the runner at random moments, resume", lambda: attack_kills(
                pipeline, opts.kills, rng)),
            ("b. two runs at once; two resumes of one run at once",
             lambda: attack_concurrency(pipeline)),
            ("c. junk HTTP to a running endpoint", attack_http),
            ("d. junk CLI invocations", lambda: attack_cli(rng)),
            ("e. kill -9 a state-machine execution (Map, Parallel, Wait), resume",
             lambda: attack_states(opts.state_kills, rng)),
            ("f. junk HTTP to the API server and UI; kill -9 it mid-stream",
             lambda: attack_api(rng)),
            ("g. two servers (schedulers) on one store, one killed with -9",
             attack_schedulers),
            ("h. send-task-success racing the task's timeout",
             lambda: attack_token_races(rng))]:
        if label[0] not in opts.only:
            continue
        t0 = time.monotonic()
        try:
            result = attack()
        except Exception as e:  # noqa: BLE001 - a crash of the attack is a failed row
            result = {"problems": [f"the attack itself failed: {type(e).__name__}: {e}"]}
        result["seconds"] = round(time.monotonic() - t0, 1)
        rows.append((label, result))
        print(f"{label}: {json.dumps(result, ensure_ascii=False)[:2000]}", flush=True)
    print("\n| attack | counts | result |\n| --- | --- | --- |")
    for label, result in rows:
        counts = ", ".join(f"{k}: {v}" for k, v in result.items()
                           if k not in ("problems", "refusal"))
        verdict = "PASS" if not result["problems"] else (
            "FAIL: " + "; ".join(result["problems"][:3]))
        print(f"| {label} | {counts} | {verdict} |")
    return 0 if all(not r["problems"] for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
