"""The mapping worker: the outside process seed 000's callback steps wait for.

It takes each message from the queue (``stackyard.callbacks.receive_messages``, SQS's
shape), reads the topics the layer found from that layer's model (``input_location``),
revises the mapping: names every topic from its keywords and marks the big generic ones
for splitting (``--split-factor`` times layer 1's median topic size or more, at least
``--min-docs`` documents, and ``--cohesion-factor`` times layer 1's median cohesion or
less: a family of use cases is less cohesive than one use case), writes it as JSON under
``output_location`` and answers with its location
(``send_pipeline_execution_step_success``, outputs ``mapping`` and ``split_topics``).
A layer the model does not have (an earlier mapping split nothing, so it was not trained)
gets an empty mapping, and the pipeline finishes with the layers it has.
A message it cannot handle is answered with a failure naming the problem, so the
pipeline stops with that reason instead of waiting.

Run:  python mapping_worker.py QUEUE [--answers N] [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackyard._checks import check_number, to_uri, uri_to_path
from stackyard.callbacks import (
    receive_messages,
    send_pipeline_execution_step_failure,
    send_pipeline_execution_step_success,
)
from stackyard.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parent / "code"))
from modelfiles import read_member


def revise(table: dict[str, dict], first: dict[str, dict], split_factor: float,
           cohesion_factor: float, min_docs: int) -> dict[str, dict]:
    """The mapping for a layer's topic ``table``: a name from each topic's first three
    distinct keywords, and ``split`` for the big generic topics, judged against layer 1's
    topics (``first``): at least ``split_factor`` times their median size (and ``min_docs``
    documents), and at most ``cohesion_factor`` times their median cohesion. Size alone
    would also split a big specific use case (which then scatters over several final
    topics); a generic family's documents are spread over its use cases, so it is the less
    cohesive."""
    if not table:
        raise ValueError("the layer found no topics")
    size = statistics.median(e["size"] for e in first.values())
    cohesion = statistics.median(e["cohesion"] for e in first.values())
    out = {}
    for t, e in table.items():
        words: list[str] = []
        for k in e["keywords"]:
            if not any(k in w or w in k for w in words):
                words.append(k)
        out[t] = {"name": " / ".join(words[:3]) or f"topic {t}",
                  "keywords": e["keywords"], "size": e["size"],
                  "split": (e["size"] >= max(split_factor * size, min_docs)
                            and e["cohesion"] <= cohesion_factor * cohesion)}
    return out


def handle(body: dict, split_factor: float, cohesion_factor: float, min_docs: int
           ) -> dict[str, str]:
    args = body["arguments"]
    layer = int(args["layer"])
    model = uri_to_path(args["input_location"])
    built = json.loads(read_member(model, "manifest.json"))["layers"]
    if built < layer:
        # an earlier mapping split nothing, so this layer was never trained: an empty
        # mapping (nothing to name, nothing to split) lets the pipeline finish with the
        # layers the model has
        mapping: dict[str, dict] = {}
    else:
        table = json.loads(read_member(model, f"layer{layer}/topics.json"))
        first = json.loads(read_member(model, "layer1/topics.json"))
        mapping = revise(table, first, split_factor, cohesion_factor, min_docs)
    folder = uri_to_path(args["output_location"])
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"mapping-layer{layer}-{body['token'][:12]}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"layer": layer, "topics": mapping}, f, indent=1)
    os.replace(tmp, target)
    split = [t for t, e in mapping.items() if e["split"]]
    what = (f"{len(mapping)} topics named, {len(split)} marked for splitting "
            f"({', '.join(mapping[t]['name'] for t in split)})" if built >= layer else
            f"the model stopped at layer {built} (nothing was split); nothing to name")
    print(f"worker: layer {layer}: {what} -> {target}", flush=True)
    return {"mapping": to_uri(target), "split_topics": str(len(split))}


def _number(what: str, **rule: Any) -> Callable[[str], float | int]:
    """An argparse type: ``check_number``'s rule (finite, ASCII digits, in range); ``nan``
    would make every comparison false and silently split nothing."""
    def parse(text: str) -> float | int:
        try:
            return check_number(text, what, **rule)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue")
    parser.add_argument("--answers", type=_number("--answers", lo=1, integer=True), default=2)
    parser.add_argument("--wait", type=_number("--wait", lo=0, lo_open=True), default=600)
    parser.add_argument("--split-factor", type=_number("--split-factor", lo=0), default=1.5)
    parser.add_argument("--cohesion-factor", type=_number("--cohesion-factor", lo=0),
                        default=0.9)
    parser.add_argument("--min-docs", type=_number("--min-docs", lo=0, integer=True),
                        default=20)
    args = parser.parse_args()
    answered = 0
    deadline = time.monotonic() + args.wait
    while answered < args.answers:
        if time.monotonic() > deadline:
            sys.exit(f"worker: no message on {args.queue!r} within {args.wait:.0f} s")
        for msg in receive_messages(args.queue, WaitTimeSeconds=5).get("Messages", []):
            body = json.loads(msg["Body"])
            try:
                outputs = handle(body, args.split_factor, args.cohesion_factor,
                                 args.min_docs)
            except Exception as e:  # noqa: BLE001 - any message it cannot handle is
                # answered, else the step waits out its timeout (days) for nothing
                reason = f"mapping worker: {type(e).__name__}: {e}"
                print(reason, flush=True)
                send_pipeline_execution_step_failure(CallbackToken=body["token"],
                                                     FailureReason=reason)
            else:
                send_pipeline_execution_step_success(
                    CallbackToken=body["token"],
                    OutputParameters=[{"Name": k, "Value": v} for k, v in outputs.items()])
            answered += 1


if __name__ == "__main__":
    main()
