"""When a digest is due: plain days, late starts and the four 2026 DST changes we care about."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.digest import canonical_zone, due_day, next_run, parse_local_time, scheduled_at

AKL = ZoneInfo("Pacific/Auckland")
LON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def minutes(start: datetime, end: datetime):
    t = start
    while t <= end:
        yield t
        t += timedelta(minutes=1)


def days_due(at: time, zone: ZoneInfo, start: datetime, end: datetime) -> dict[date, datetime]:
    """Every local date found due, with the first minute it was due (minute ticks)."""
    found: dict[date, datetime] = {}
    for now in minutes(start, end):
        day = due_day(at, zone, now)
        if day is not None and day not in found:
            found[day] = now
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [("09:00", time(9)), ("9:05", time(9, 5)), ("23:59", time(23, 59)), ("00:00", time(0))],
)
def test_valid_times(text, expected):
    assert parse_local_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "24:00", "9", "9am", "09:60", "0900", "٠٩:٠٠", "-1:00", ""])
def test_invalid_times(text):
    assert parse_local_time(text) is None


def test_zone_names_are_canonicalised_and_unknown_ones_refused():
    assert canonical_zone("pacific/auckland") == "Pacific/Auckland"
    assert canonical_zone("UTC") == "UTC"
    assert canonical_zone("Mars/Olympus") is None
    assert canonical_zone("../../etc/passwd") is None


def test_an_ordinary_day_is_due_from_its_time_until_midnight():
    at = time(9)
    assert due_day(at, AKL, datetime(2026, 6, 1, 8, 59, tzinfo=AKL)) is None
    assert due_day(at, AKL, datetime(2026, 6, 1, 9, 0, tzinfo=AKL)) == date(2026, 6, 1)
    # A clock that comes up at 11:00 still finds the morning's digest due (the ledger sends it once).
    assert due_day(at, AKL, datetime(2026, 6, 1, 11, 0, tzinfo=AKL)) == date(2026, 6, 1)
    assert due_day(at, AKL, datetime(2026, 6, 1, 23, 59, tzinfo=AKL)) == date(2026, 6, 1)


def test_a_subscription_made_after_todays_time_starts_tomorrow():
    made = datetime(2026, 6, 1, 10, 0, tzinfo=AKL)
    assert due_day(time(9), AKL, made + timedelta(minutes=5), not_before=made) is None
    assert due_day(time(9), AKL, datetime(2026, 6, 2, 9, 0, tzinfo=AKL), not_before=made) == date(2026, 6, 2)
    assert next_run(time(9), AKL, made, not_before=made) == datetime(2026, 6, 2, 9, 0, tzinfo=AKL)


@pytest.mark.parametrize(
    ("zone", "day", "at"),
    [
        (AKL, date(2026, 4, 5), time(9)),  # NZDT → NZST (clocks back at 03:00)
        (AKL, date(2026, 9, 27), time(9)),  # NZST → NZDT (clocks forward at 02:00)
        (LON, date(2026, 3, 29), time(9)),  # GMT → BST
        (LON, date(2026, 10, 25), time(9)),  # BST → GMT
        (AKL, date(2026, 4, 5), time(2, 30)),  # happens twice that night
        (AKL, date(2026, 9, 27), time(2, 30)),  # never happens that night
        (LON, date(2026, 3, 29), time(1, 30)),  # never happens
        (LON, date(2026, 10, 25), time(1, 30)),  # happens twice
    ],
)
def test_dst_days_are_due_exactly_once_and_neighbours_are_untouched(zone, day, at):
    start = datetime.combine(day - timedelta(days=1), time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=2), time(0), zone).astimezone(UTC) - timedelta(minutes=1)
    found = days_due(at, zone, start, end)
    assert sorted(found) == [day - timedelta(days=1), day, day + timedelta(days=1)]
    first = found[day].astimezone(zone)
    assert first.date() == day
    assert (first.hour, first.minute) >= (at.hour, at.minute)


def test_a_time_inside_the_spring_forward_gap_is_due_at_the_end_of_the_gap():
    # Auckland 2026-09-27: 02:00 NZST jumps to 03:00 NZDT, so 02:30 never happens.
    when = scheduled_at(date(2026, 9, 27), time(2, 30), AKL)
    assert when.astimezone(AKL) == datetime(2026, 9, 27, 3, 0, tzinfo=AKL)
    assert when == utc(2026, 9, 26, 14, 0)
    # London 2026-03-29: 01:00 GMT jumps to 02:00 BST.
    assert scheduled_at(date(2026, 3, 29), time(1, 30), LON) == utc(2026, 3, 29, 1, 0)


def test_an_ambiguous_time_is_due_at_its_first_occurrence():
    # Auckland 2026-04-05: 03:00 NZDT goes back to 02:00 NZST; 02:30 happens at 13:30Z and 14:30Z.
    assert scheduled_at(date(2026, 4, 5), time(2, 30), AKL) == utc(2026, 4, 4, 13, 30)
    assert scheduled_at(date(2026, 10, 25), time(1, 30), LON) == utc(2026, 10, 25, 0, 30)


def test_next_run_skips_to_tomorrow_once_todays_time_has_passed():
    now = datetime(2026, 3, 28, 10, 0, tzinfo=LON)
    # Tomorrow is the spring-forward day: 09:00 BST is 08:00Z.
    assert next_run(time(9), LON, now) == utc(2026, 3, 29, 8, 0)
