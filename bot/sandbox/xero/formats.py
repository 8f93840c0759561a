"""Xero's wire formats: Microsoft JSON dates, money, the response envelope.

Kept apart from the handlers so that the shapes Xero uses are written down once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

PROVIDER_NAME = "Recon Sandbox"
CENT = Decimal("0.01")


def ms_date(value: date | datetime, *, offset: bool = True) -> str:
    """``/Date(1476316800000+0000)/`` — epoch milliseconds, with Xero's ``+0000`` suffix."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=UTC)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    millis = int(value.timestamp() * 1000)
    return f"/Date({millis}+0000)/" if offset else f"/Date({millis})/"


def ms_date_from_millis(millis: int) -> str:
    return f"/Date({millis}+0000)/"


def date_string(value: date) -> str:
    """The plain ``DateString`` Xero sends beside ``Date`` (``2016-10-13T00:00:00``)."""
    return f"{value.isoformat()}T00:00:00"


def utc_string(value: datetime) -> str:
    """``2019-02-23T05:23:20`` — the ``…UTCString`` form next to an ms-date."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def connection_date(value: datetime) -> str:
    """Identity timestamps look like ``2019-12-07T18:46:19.5165400`` (7 fractional digits, no zone)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0"


def money(value: Decimal) -> float:
    """Money goes out as a JSON number with at most 2 decimals (Xero's default ``unitdp``)."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def amount(value: Decimal, places: int = 4) -> float:
    """Quantities and unit amounts keep up to 4 decimals."""
    return float(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def envelope(now: datetime, key: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """Xero's success envelope around a collection."""
    body: dict[str, Any] = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": ms_date(now, offset=False),
    }
    body.update(extra)
    body[key] = items
    return body


def validation_error(messages: list[str], element: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 400 body of Xero's OpenAPI ``components.schemas.Error`` (ErrorNumber 10, ValidationException)."""
    item = dict(element or {})
    item["ValidationErrors"] = [{"Message": m} for m in messages]
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [item],
    }


def problem(status: int, title: str, detail: str, instance: str | None = None) -> dict[str, Any]:
    """The RFC 7807-style body Xero's gateway uses for 401/403 (and, here, 404/429/5xx)."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": instance or str(uuid.uuid4()),
        "Extensions": {},
    }
