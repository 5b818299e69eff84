"""When a schedule fires: the next fire time after a given time, in epoch milliseconds.

Times are integers (ms) so that a fire time computed twice, by two processes, is the same
key in the store. Cron expressions are evaluated in the schedule's time zone by ``cronsim``
(DST gaps and repeats as cron does); rates count from ``start_ms`` (first fire at the start)
or else from creation (first fire one period after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# at most this many cron times are enumerated in one call (a month of minutes is 44,640)
MAX_SCAN = 200_000


@dataclass(frozen=True)
class Timing:
    parsed: dict[str, Any]  # ``_checks.parse_schedule_expression``
    timezone: str
    created_ms: int
    start_ms: int | None = None
    end_ms: int | None = None

    @classmethod
    def of(cls, schedule: dict[str, Any]) -> Timing:
        spec = schedule["spec"]
        return cls(spec["parsed"], spec["timezone"], int(schedule["created_at"] * 1000),
                   spec.get("start_ms"), spec.get("end_ms"))

    def first(self) -> int | None:
        """The first fire time."""
        if self.parsed.get("once"):
            return self._bounded(max(self.created_ms, self.start_ms or 0))
        return self.next_after(max(self.created_ms, (self.start_ms or 0) - 1))

    def next_after(self, ms: int) -> int | None:
        """The first fire time strictly after ``ms`` (None: no more)."""
        if self.parsed.get("once"):
            return None
        if "rate_s" in self.parsed:
            p = self.parsed["rate_s"] * 1000
            base = self.start_ms if self.start_ms is not None else self.created_ms + p
            t = base if ms < base else base + ((ms - base) // p + 1) * p
            return self._bounded(t)
        from cronsim import CronSim

        tz = ZoneInfo(self.timezone)
        start = max(ms, (self.start_ms or 0) - 1)
        it = CronSim(self.parsed["cron"], datetime.fromtimestamp(start / 1000, tz))
        for _ in range(MAX_SCAN):
            t = int(next(it).timestamp() * 1000)
            if t > start:
                return self._bounded(t)
        return None

    def due(self, next_ms: int, now_ms: int, limit: int) -> tuple[list[int], int, int | None]:
        """Fire times from ``next_ms`` up to ``now_ms``: (the last ``limit`` of them, how many
        there were, the first one after ``now_ms``)."""
        if "rate_s" in self.parsed and next_ms <= now_ms:
            p = self.parsed["rate_s"] * 1000
            last = next_ms + (now_ms - next_ms) // p * p
            if self.end_ms is not None and last > self.end_ms:
                last = next_ms + (self.end_ms - next_ms) // p * p
            count = (last - next_ms) // p + 1
            times = [last - i * p for i in range(min(count, limit))][::-1]
            return times, count, self.next_after(max(now_ms, last))
        times: list[int] = []
        count = 0
        t: int | None = next_ms
        while t is not None and t <= now_ms and count < MAX_SCAN:
            count += 1
            times.append(t)
            if len(times) > limit:
                times.pop(0)
            t = self.next_after(t)
        return times, count, t

    def _bounded(self, t: int) -> int | None:
        return None if self.end_ms is not None and t > self.end_ms else t
