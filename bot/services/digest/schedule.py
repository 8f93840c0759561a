"""When a digest is due — pure functions of a wall-clock time, an IANA zone and "now".

A subscription is due on its local date once the local clock has passed its time
(:func:`due_day`). Computed from ``zoneinfo`` every minute rather than from a timer, so a clock
that starts late, restarts, or lives through a daylight-saving change still finds exactly one due
day: on a spring-forward day a time inside the gap is due at the first instant after the gap; on
a fall-back day an ambiguous time is due at its first occurrence (the ledger stops the second).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.xero.timezones import iana_zone
from storage.digests import Subscription

log = logging.getLogger(__name__)

DEFAULT_TIME = "09:00"

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$", re.ASCII)


def parse_local_time(text: str) -> time | None:
    """``"9:00"``/``"09:00"`` → 09:00; anything else (``25:00``, ``9am``) → ``None``."""
    m = _HHMM.match(text.strip())
    return time(int(m.group(1)), int(m.group(2))) if m else None


@cache
def _zone_names() -> dict[str, str]:
    names = {name.casefold(): name for name in available_timezones()}
    names.setdefault("utc", "UTC")
    return names


def canonical_zone(text: str) -> str | None:
    """An IANA zone name as the tz database spells it (``pacific/auckland`` → ``Pacific/Auckland``),
    or ``None`` when there is no such zone (``Mars/Olympus``)."""
    name = _zone_names().get(text.strip().casefold())
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def scheduled_at(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant the digest for local ``day`` is due.

    An ambiguous wall time (clocks going back) means its first occurrence. A wall time that does
    not exist (clocks going forward past it) means the first instant after the gap.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _local(first, zone) == wall:
        return first
    # In a gap: fold=0 and fold=1 land either side of it; find the transition between them.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)  # local(lo) < wall <= local(hi)
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _local(datetime.fromtimestamp(mid, UTC), zone) >= wall:
            hi_s = mid
        else:
            lo_s = mid
    return datetime.fromtimestamp(hi_s, UTC)


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def due_day(at: time, zone: ZoneInfo, now: datetime, *, not_before: datetime | None = None) -> date | None:
    """The local date whose digest is due at ``now``, or ``None`` before today's time.

    ``not_before`` (the subscription's creation) keeps a subscription made at 10:00 for 09:00
    from firing at once: its first digest is the first scheduled time after it was made.
    Whether that day was already sent is the ledger's business, not this function's.
    """
    today = now.astimezone(zone).date()
    when = scheduled_at(today, at, zone)
    if now < when or (not_before is not None and when < not_before):
        return None
    return today


def next_run(at: time, zone: ZoneInfo, now: datetime, *, not_before: datetime | None = None) -> datetime:
    """The next scheduled instant strictly after ``now`` (for "next digest: …" messages)."""
    day = now.astimezone(zone).date() - timedelta(days=1)
    for _ in range(4):
        when = scheduled_at(day, at, zone)
        if when > now and (not_before is None or when >= not_before):
            return when
        day += timedelta(days=1)
    return scheduled_at(day, at, zone)


def subscription_due_day(sub: Subscription, now: datetime) -> date | None:
    at = parse_local_time(sub.local_time)
    zone_name = canonical_zone(sub.timezone)
    if at is None or zone_name is None:
        log.error(
            "digest subscription %s has an unusable schedule %r %r", sub.id, sub.local_time, sub.timezone
        )
        return None
    return due_day(at, ZoneInfo(zone_name), now, not_before=sub.created_at)


def subscription_next_run(sub: Subscription, now: datetime) -> datetime | None:
    at = parse_local_time(sub.local_time)
    zone_name = canonical_zone(sub.timezone)
    if at is None or zone_name is None:
        return None
    return next_run(at, ZoneInfo(zone_name), now, not_before=sub.created_at)


def org_zone(xero_timezone: str | None) -> str:
    """Xero's Windows-style ``Timezone`` (``NEWZEALANDSTANDARDTIME``) as an IANA name, else UTC."""
    return iana_zone(xero_timezone, "UTC")


def suggest_zone(text: str) -> str | None:
    """``Auckland`` → ``Pacific/Auckland``: the zone whose city part matches, for error messages."""
    city = text.strip().casefold().rsplit("/", 1)[-1]
    if not city:
        return None
    matches = sorted(name for key, name in _zone_names().items() if key.rsplit("/", 1)[-1] == city)
    return matches[0] if matches else None
