"""Seed 004, scheduled: score daily, train monthly, retrain and tell people on drift.

1. make the data, train once and approve the version (as ``run_demo.py``);
2. a webhook receiver on loopback stands in for the team's chat; it becomes channel ``ops``;
3. ``schedules create daily-scoring`` runs the batch pipeline on a fast clock (``--rate
   "N seconds"``; in production ``--cron "cron(0 2 * * ? *)"``), pointed at the drifted day;
   ``monthly-training`` runs the training pipeline on the first of each month;
4. ``rules create`` on ``drift-detected``: retrain (a new version, approved) and notify ops;
5. the trigger loop (what ``stackyard server`` runs) fires the schedule; the check finds
   drift, the rules retrain and post to the webhook; the demo then pauses daily-scoring
   and stops once the retraining has finished.

Exits 0 only if all of that happened. ``--rate`` sets the seconds between daily runs.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from churn_data import DRIFTED_DAY, write_day, write_training

HERE = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).parent / "stackyard")


def sh(*args: str) -> None:
    print("$ stackyard " + " ".join(args), flush=True)
    subprocess.run([EXE, *args], check=True)


def cli_json(*args: str) -> object:
    out = subprocess.run([EXE, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def receiver() -> tuple[str, list[dict]]:
    """A loopback webhook that prints and keeps what it is sent."""
    got: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append(body)
            print(f"  webhook <- {body['subject']}: {body['message']}", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/ops", got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--rate", type=int, default=5, help="seconds between daily runs")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    data = args.data.resolve()
    os.environ.setdefault("STACKYARD_HOME", str(Path.cwd() / ".stackyard"))
    table = write_training(data / "churn.csv")
    drifted = write_day(data / "days", DRIFTED_DAY, drifted=True)
    train, batch = str(HERE / "train_pipeline.py"), str(HERE / "batch_pipeline.py")

    sh("run", train, "-q", "-p", f"InputData={table}")
    sh("models", "approve", cli_json("models", "latest", "churn-xgboost")["ref"])

    url, received = receiver()
    sh("channels", "create", "ops", "--webhook", url)
    sh("schedules", "create", "daily-scoring", "--pipeline", batch, "-p",
       f"DayFolder={drifted}", "--rate", f"{args.rate} seconds", "--overlap", "skip")
    sh("schedules", "create", "monthly-training", "--pipeline", train, "-p",
       f"InputData={table}", "--cron", "cron(0 3 1 * ? *)")
    sh("rules", "create", "retrain-on-drift", "--on", "drift-detected", "--then", "pipeline",
       train, "-p", f"InputData={table}", "-p", "ModelApprovalStatus=Approved")
    sh("rules", "create", "tell-ops", "--on", "drift-detected", "--then", "notify", "ops")

    from stackyard import triggers

    print("\nthe trigger loop runs (what `stackyard server` does) ...", flush=True)
    stop = threading.Event()
    loop = threading.Thread(target=triggers.serve, args=(stop,),
                            kwargs={"owner": "schedule-demo", "tick": 0.5})
    loop.start()
    deadline = time.monotonic() + args.timeout

    def wait_for(what: str, done: object) -> None:
        while not done():
            if time.monotonic() > deadline:
                stop.set()
                sys.exit(f"schedule-demo: timed out waiting for {what}")
            stop.wait(0.5)

    def open_fires() -> bool:
        return any(f["status"] in ("Pending", "Running")
                   for r in ("retrain-on-drift", "tell-ops")
                   for f in triggers.describe_rule(r)["fires"])

    try:
        wait_for("the drift notification", lambda: received)
        print("drift seen: pausing daily-scoring until the new model is in", flush=True)
        triggers.pause_schedule("daily-scoring")
        wait_for("the retraining", lambda: not open_fires())
    finally:
        stop.set()
        loop.join()
    sh("schedules", "describe", "daily-scoring")
    sh("rules", "describe", "retrain-on-drift")
    sh("notifications", "list")
    latest = cli_json("models", "latest", "churn-xgboost")
    retrains = triggers.describe_rule("retrain-on-drift")["fires"]
    if not retrains or any(f["status"] != "Succeeded" for f in retrains):
        sys.exit("schedule-demo: a retraining did not succeed")
    print(f"\ndrift on {drifted.name} retrained the model: {latest['ref']} is "
          f"{latest['approval_status']}; ops got {len(received)} webhook post(s)")


if __name__ == "__main__":
    main()
