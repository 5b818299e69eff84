"""Retry and Catch as pure rules over a state's ``Retry``/``Catch`` lists (like
``engine/_retry.py`` for pipelines), with AWS's matching rules:

* a retrier or catcher matches when one of its ``ErrorEquals`` names the error;
* ``States.ALL`` matches every error but the terminal ones (``States.DataLimitExceeded``,
  ``States.Runtime``), which neither Retry nor Catch ever sees;
* ``States.TaskFailed`` matches every error except ``States.Timeout`` (and the terminal
  ones);
* the first matching retrier (or catcher) in the list decides.

The wait before retry *k* (counted per retrier, from 0) is ``IntervalSeconds`` (default 1)
times ``BackoffRate`` (default 2.0) to the power *k*, capped by ``MaxDelaySeconds``; with
``JitterStrategy: FULL`` it is drawn uniformly between 0 and that. A retrier allows
``MaxAttempts`` (default 3; 0 means never) retries.
"""

from __future__ import annotations

import random
from typing import Any

from stackyard.states._errors import ALL, TASK_FAILED, TIMEOUT, UNCATCHABLE

DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


def error_matches(names: list[str], error: str) -> bool:
    """Whether an ``ErrorEquals`` list covers ``error``."""
    if error in UNCATCHABLE:
        return False
    if error in names or ALL in names:
        return True
    return TASK_FAILED in names and error != TIMEOUT


def _first(rules: list[dict[str, Any]], error: str) -> int | None:
    for i, rule in enumerate(rules):
        if error_matches(rule.get("ErrorEquals", []), error):
            return i
    return None


def matching_retrier(state: dict, error: str) -> int | None:
    """The index of the retrier that handles ``error``, or None."""
    return _first(state.get("Retry", []), error)


def retry_delay(state: dict, error: str, attempt_by_retrier: list[int], *,
                rng: random.Random | None = None) -> float | None:
    """Seconds to wait before retrying after ``error``, or None when no retrier matches or
    the matching one has used up its ``MaxAttempts``.

    ``attempt_by_retrier[i]`` is how many retries retrier *i* has already made (missing
    entries count 0); the caller adds one to the matching retrier's count
    (``matching_retrier``) when it retries.
    """
    i = matching_retrier(state, error)
    if i is None:
        return None
    rule = state["Retry"][i]
    done = attempt_by_retrier[i] if i < len(attempt_by_retrier) else 0
    if done >= rule.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS):
        return None
    delay = rule.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS) * \
        rule.get("BackoffRate", DEFAULT_BACKOFF_RATE) ** done
    if "MaxDelaySeconds" in rule:
        delay = min(delay, rule["MaxDelaySeconds"])
    if rule.get("JitterStrategy", "NONE") == "FULL":
        delay = (rng or random).uniform(0, delay)
    return float(delay)


def catcher_for(state: dict, error: str) -> dict | None:
    """The catcher that handles ``error`` (its ``Next`` and ``ResultPath``), or None."""
    i = _first(state.get("Catch", []), error)
    return None if i is None else state["Catch"][i]
