"""The keys of SQLite's text indexes: organisation and date inside the FTS5 rowid.

An FTS5 table can only answer "which rowids match"; counting 100,000 matches of a common word
and then looking each one up to see whether it is this organisation's and within the dates cost
a microsecond or more a match — hundreds of milliseconds on a large organisation. So the text
indexes are keyed not by the row's id but by::

    organisation number (16 bits) | day since 1970 (15 bits) | row id (32 bits)

Then "this organisation, these dates" is a rowid range, which FTS5 seeks inside its own
lists, and rowid order is date order: the count and the page's candidates come from the index
alone. Days before 1970 or after 2059 share the end values, so a date filter at those ends is
also tested on the row (:func:`key_range` says when). The organisation number comes from
``mirror_search_tenants``, filled by the trigger that indexes a tenant's first row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

ID_BITS = 32
DAY_BITS = 15
ID_MASK = (1 << ID_BITS) - 1
LAST_DAY = (1 << DAY_BITS) - 1
EPOCH = date(1970, 1, 1)
JULIAN_EPOCH = 2440587  # CAST(julianday('1970-01-01') AS INTEGER)
TENANT_SHIFT = ID_BITS + DAY_BITS
MAX_TENANTS = (1 << (63 - TENANT_SHIFT)) - 1  # 16 bits: 65,535 organisations in one database


def key_sql(row: str) -> str:
    """The key as an SQL expression over a trigger's ``new``/``old`` row."""
    template = (
        "(((SELECT number FROM mirror_search_tenants WHERE tenant_id = ROW.tenant_id) << TENANT_SHIFT)"
        " + (MIN(MAX(CAST(julianday(ROW.date) AS INTEGER) - JULIAN_EPOCH, 0), LAST_DAY) << ID_BITS)"
        " + ROW.id)"
    )
    for name, value in (
        ("TENANT_SHIFT", TENANT_SHIFT),
        ("JULIAN_EPOCH", JULIAN_EPOCH),
        ("LAST_DAY", LAST_DAY),
        ("ID_BITS", ID_BITS),
        ("ROW", row),
    ):
        template = template.replace(name, str(value))
    return template


def day_number(day: date) -> int:
    return (day - EPOCH).days


@dataclass(frozen=True)
class KeyRange:
    low: int
    high: int
    dates_exact: bool  # False: the dates must be tested on the row as well


def day_start(key: int) -> int:
    """The first key of the day ``key`` is in (same organisation)."""
    return key >> ID_BITS << ID_BITS


def day_end(key: int) -> int:
    return day_start(key) + ID_MASK


def key_range(number: int, date_from: date | None, date_to: date | None) -> KeyRange:
    base = number << TENANT_SHIFT
    exact = True
    first, last = 0, LAST_DAY
    if date_from is not None:
        day = day_number(date_from)
        exact &= 0 < day <= LAST_DAY
        first = min(max(day, 0), LAST_DAY)
    if date_to is not None:
        day = day_number(date_to)
        exact &= 0 <= day < LAST_DAY
        last = min(max(day, 0), LAST_DAY)
    return KeyRange(base + (first << ID_BITS), base + (last << ID_BITS) + ID_MASK, exact)


# ---------------------------------------------------------------------- what the indexes hold


def text_columns_sql(row: str) -> tuple[str, str, str]:
    """The trigram index's three columns from ``search_text`` (contact, reference, the line
    descriptions), so ``contact:``/``ref:`` are a column filter instead of a test on the row."""
    text = f"({row}.search_text || char(10))"
    first = f"instr({text}, char(10))"
    rest = f"substr({text}, {first} + 1)"
    second = f"instr({rest}, char(10))"
    return (
        f"substr({text}, 1, {first} - 1)",
        f"substr({rest}, 1, {second} - 1)",
        f"substr({rest}, {second} + 1)",
    )


__all__ = [
    "ID_MASK",
    "KeyRange",
    "day_end",
    "day_number",
    "day_start",
    "key_range",
    "key_sql",
    "text_columns_sql",
]
