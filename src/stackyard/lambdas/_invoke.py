"""The process of a ``LambdaStep``'s job: ``python -m stackyard.lambdas._invoke EVENT
RESPONSE CODE_DIR`` imports the handler's module from ``CODE_DIR``, calls ``handler(event,
context)`` and writes the returned dict (any JSON value when the config says ``AnyJson``)
to ``RESPONSE`` (temp name, renamed when whole).
An exception, or a return value that is not a JSON object, ends the job with code 1 and a
one-line reason in ``failure`` beside ``RESPONSE`` (the step's failure reason); the
traceback goes to the job log. Started by ``lambdas._step`` through the runtime.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any


class LambdaContext:
    """What AWS Lambda hands a handler as ``context`` (the fields handlers read)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.function_name = config["FunctionName"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = config.get("FunctionArn") or ""
        self.memory_limit_in_mb = 128
        self.aws_request_id = config["RequestId"]
        self.log_group_name = f"/stackyard/lambda/{self.function_name}"
        self.log_stream_name = config["RequestId"]
        self._deadline = time.monotonic() + float(config["Timeout"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _fail(out: Path, reason: str, error: BaseException | None = None) -> int:
    """Write the one-line reason (``failure``) and, as AWS Lambda reports a function error,
    ``error.json`` (``errorType``, ``errorMessage``, ``stackTrace``) beside ``RESPONSE``."""
    (out.parent / "failure").write_text(reason)
    doc = {"errorType": type(error).__name__ if error else "Runtime.InvalidResponse",
           "errorMessage": str(error) if error else reason,
           "stackTrace": traceback.format_tb(error.__traceback__)[1:] if error else []}
    (out.parent / "error.json").write_text(json.dumps(doc))
    print(reason, file=sys.stderr)
    return 1


def main(event_path: str, response_path: str, code_dir: str) -> int:
    config = json.loads(Path(event_path).read_text())
    out = Path(response_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    module, _, func = config["Handler"].rpartition(".")
    sys.path.insert(0, code_dir)
    try:
        handler = getattr(importlib.import_module(module), func)
        response = handler(config["Event"], LambdaContext(config))
    except SystemExit as e:  # a handler that calls sys.exit() returned nothing
        return _fail(out, f"Lambda function {config['Handler']} called sys.exit({e.code!r}) "
                          "instead of returning a dict")
    except Exception as e:  # noqa: BLE001 - any failure of the function fails the step
        traceback.print_exc()
        return _fail(out, f"Lambda function {config['Handler']} raised {type(e).__name__}: {e}",
                     e)
    try:
        # a Step Functions task takes any JSON value; a pipeline's LambdaStep a dict
        if not isinstance(response, dict) and not config.get("AnyJson"):
            raise TypeError(f"it returned {type(response).__name__} {response!r:.200}")
        text = json.dumps(response, allow_nan=False)
    except (TypeError, ValueError) as e:
        return _fail(out, f"Lambda function {config['Handler']} must return a dict of JSON "
                          f"values (outputs by name); {e}")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
