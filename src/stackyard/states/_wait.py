"""Wait states, and the one timestamp reader of the States Language.

Timestamps follow the spec to the letter: RFC 3339 with an uppercase ``T`` between date and
time and an uppercase ``Z`` when there is no numeric offset
(``2016-03-14T01:59:00Z``, ``2016-03-14T01:59:00.123456789+01:00``). AWS refuses a space
instead of ``T``, a missing offset and impossible dates or hours with the causes kept here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from stackyard.states._errors import RUNTIME, StatesError
from stackyard.states._paths import PathNotFound, select

# The longest a Wait may last: a standard workflow's one-year limit.
MAX_WAIT_SECONDS = 365 * 24 * 3600

_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
                      r"(Z|[+-]\d{2}:\d{2})", re.ASCII)  # ASCII digits only


def parse_timestamp(text: Any) -> tuple[datetime, int] | None:
    """``(UTC time to the second, nanoseconds)`` for a valid timestamp, else None.

    Nanoseconds are kept apart because AWS compares timestamps to the nanosecond and
    Python's datetime stops at microseconds.
    """
    if not isinstance(text, str):
        return None
    m = _RFC3339.fullmatch(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    nanos = int((m.group(7) or "").ljust(9, "0"))
    zone = m.group(8)
    try:
        if zone == "Z":
            tz = UTC
        else:
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 18 or minutes > 59:
                return None
            delta = timedelta(hours=hours, minutes=minutes)
            tz = timezone(delta if zone[0] == "+" else -delta)
        when = datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    return when.astimezone(UTC), nanos


def _describe(value: Any) -> str:
    from stackyard.states._intrinsics import java_text

    return java_text(value)


def wait_until(state: dict, data: Any, now: datetime) -> datetime:
    """When a Wait state ends: ``now`` plus Seconds/SecondsPath, or Timestamp/
    TimestampPath. ``data`` is the state's input after InputPath; ``now`` is when it was
    entered (an aware datetime). Bad values raise ``States.Runtime`` with AWS's causes."""
    if "Seconds" in state:  # validation checks the type; the bound is the one of SecondsPath
        if state["Seconds"] > MAX_WAIT_SECONDS:  # (timedelta overflowed past 2.7M years)
            raise StatesError(RUNTIME, "Wait state delay is too long.")
        return now + timedelta(seconds=state["Seconds"])
    if "Timestamp" in state:
        parsed = parse_timestamp(state["Timestamp"])
        if parsed is None:  # validation refuses this; kept for callers that skip it
            raise StatesError(RUNTIME, "The Timestamp field cannot be parsed as an ISO-8601 "
                                       f"extended offset date-time format string: "
                                       f"{state['Timestamp']}")
        return parsed[0] + timedelta(microseconds=parsed[1] // 1000)
    if "SecondsPath" in state:
        path = state["SecondsPath"]
        try:
            value = select(path, data)
        except PathNotFound:
            raise StatesError(RUNTIME, "The SecondsPath parameter does not reference an "
                                       f"input value: {path}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise StatesError(RUNTIME, "The SecondsPath parameter cannot be parsed as a long "
                                       f"value: {path} == {_describe(value)}")
        if value < 0:
            raise StatesError(RUNTIME, "The SecondsPath parameter references a negative "
                                       f"value: {path} == {value}")
        if value > MAX_WAIT_SECONDS:
            raise StatesError(RUNTIME, "Wait state delay is too long.")
        return now + timedelta(seconds=value)
    path = state["TimestampPath"]
    try:
        value = select(path, data)
    except PathNotFound:
        raise StatesError(RUNTIME, "The TimestampPath parameter does not reference an input "
                                   f"value: {path}") from None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise StatesError(RUNTIME, "The TimestampPath parameter does not reference a valid "
                                   "ISO-8601 extended offset date-time format string: "
                                   f"{path} == {_describe(value)}")
    return parsed[0] + timedelta(microseconds=parsed[1] // 1000)
