"""Schedule expressions: AWS and standard cron, rates, seconds, time zones, start/end."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stackyard._checks import parse_schedule_expression
from stackyard.errors import UsageError
from stackyard.triggers._times import Timing


def ms(*args: int, tz: str = "UTC") -> int:
    return int(datetime(*args, tzinfo=ZoneInfo(tz)).timestamp() * 1000)


@pytest.mark.parametrize(("text", "parsed"), [
    ("cron(0 2 * * ? *)", {"cron": "0 2 * * *"}),
    ("0 2 * * *", {"cron": "0 2 * * *"}),
    ("cron(0 9 ? * 2-6 *)", {"cron": "0 9 * * 1-5"}),  # AWS MON-FRI is 2-6
    ("cron(0 9 ? * MON-FRI *)", {"cron": "0 9 * * MON-FRI"}),
    ("cron(0 0/6 ? * * *)", {"cron": "0 0/6 * * *"}),
    ("rate(1 day)", {"rate_s": 86400}),
    ("rate(5 minutes)", {"rate_s": 300}),
    ("2 seconds", {"rate_s": 2}),
    ("rate(1 week)", {"rate_s": 604800}),
    ("NOW", {"once": True}),
])
def test_expressions(text, parsed) -> None:
    assert parse_schedule_expression(text) == parsed


@pytest.mark.parametrize(("text", "says"), [
    ("cron(0 2 * * ? 2030)", "year field"),
    ("cron(0 2 * * ?)", "six fields"),
    ("61 * * * *", "Bad minute"),
    ("rate(0 days)", "at least 1"),
    ("rate(1 fortnight)", "rate\\(N"),
    ("every day", "five fields"),
    ("", "write e.g."),
    ("0 ٢ * * *", "write e.g."),
])
def test_bad_expressions(text, says) -> None:
    with pytest.raises(UsageError, match=says):
        parse_schedule_expression(text)


def test_cron_follows_the_time_zone_across_dst() -> None:
    t = Timing({"cron": "0 2 * * *"}, "Europe/Berlin", ms(2026, 3, 27))
    first = t.first()
    assert first == ms(2026, 3, 27, 2, tz="Europe/Berlin")
    # 2026-03-29 02:00 does not exist in Berlin (clocks jump 02:00 -> 03:00)
    times = [first]
    for _ in range(3):
        times.append(t.next_after(times[-1]))
    local = [datetime.fromtimestamp(x / 1000, ZoneInfo("Europe/Berlin")) for x in times]
    assert [d.day for d in local] == [27, 28, 29, 30]
    assert local[3].hour == 2 and local[3].utcoffset().total_seconds() == 7200


def test_rate_counts_from_start_or_creation_and_stops_at_end() -> None:
    created = ms(2026, 1, 1)
    t = Timing({"rate_s": 10}, "UTC", created)
    assert t.first() == created + 10_000
    assert t.next_after(created + 10_000) == created + 20_000
    s = Timing({"rate_s": 10}, "UTC", created, start_ms=created + 5_000, end_ms=created + 25_000)
    assert s.first() == created + 5_000
    assert s.next_after(created + 15_000) == created + 25_000
    assert s.next_after(created + 25_000) is None


def test_due_lists_the_latest_times_and_counts_all() -> None:
    created = ms(2026, 1, 1)
    t = Timing({"rate_s": 1}, "UTC", created)
    times, count, after = t.due(created + 1_000, created + 100_500, limit=3)
    assert count == 100 and times == [created + 98_000, created + 99_000, created + 100_000]
    assert after == created + 101_000
    c = Timing({"cron": "*/15 * * * *"}, "UTC", created)
    times, count, after = c.due(c.first(), ms(2026, 1, 1, 1, 0), limit=10)
    assert count == 4 and after == ms(2026, 1, 1, 1, 15)
    assert datetime.fromtimestamp(times[0] / 1000, UTC).minute == 15
