"""Xero's organisation time zones (Windows names, squashed: ``NEWZEALANDSTANDARDTIME``) → IANA.

The table is CLDR's Windows-zone mapping as shipped by ``tzlocal``, normalised the way Xero
writes the names, plus the two zones Windows has since retired.
"""

from __future__ import annotations

import re
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

_RETIRED = {
    "KAMCHATKASTANDARDTIME": "Asia/Kamchatka",
    "MIDATLANTICSTANDARDTIME": "Atlantic/South_Georgia",
}


def _squash(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", name.upper())


@cache
def _table() -> dict[str, str]:
    table = {_squash(windows): iana for windows, iana in win_tz.items()}
    table.update(_RETIRED)
    return table


def iana_zone(xero_timezone: str | None, default: str = "UTC") -> str:
    """The IANA name for a Xero ``Timezone`` value, or ``default`` when unknown or missing."""
    if not xero_timezone:
        return default
    candidate = _table().get(_squash(xero_timezone))
    if candidate is None and "/" in xero_timezone:
        candidate = xero_timezone  # already IANA
    if candidate is None:
        return default
    try:
        ZoneInfo(candidate)
    except (ZoneInfoNotFoundError, ValueError):
        return default
    return candidate
