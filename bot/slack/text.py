"""Making untrusted text safe for Slack, and formatting money and dates the way bookkeepers read them.

Pure functions only. Text that came from Xero (contact names, references, account and
organisation names) or from a user is shown in ``plain_text`` objects wherever Block Kit allows
(section text and fields, context elements, headers, buttons, labels): Slack renders those
literally, so a contact called ``*Star* Print Shop`` or ``<!channel> Events`` shows exactly as
Xero has it, pings nobody, and nothing invisible is added to what a bookkeeper may copy back
into Xero. :func:`plain` prepares such a value (one line, cut to length) and escapes nothing.

Where mrkdwn is unavoidable (a sentence that also holds a ``<@user>`` mention, a ``<#channel>``
link or a link to Xero, and the notification ``text`` of a message), :func:`safe` applies
Slack's documented escaping and nothing more: ``& < >`` become ``&amp; &lt; &gt;``, which is
what stops ``<!channel>``, ``<@U123>`` and ``<https://evil|bank>`` from pinging or linking.
Slack documents no escape for ``* _ ~ ````` (a backslash does not work), so a name that happens
to look like formatting may be shown formatted there — but every character is kept and no
zero-width characters are inserted. Such text objects are sent with ``verbatim: true`` so Slack
does not auto-link bare URLs or ``#names`` inside them either.

Line breaks and tabs inside one value collapse to a space in both forms, so a hostile value
cannot start a ``>`` quote line or break a row's layout.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUS = "\u2212"  # a real minus sign: readable, and not a markdown list marker
ELLIPSIS = "…"

_WHITESPACE = re.compile(r"[\s\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text: str) -> str:
    """Slack's three control characters as entities; nothing else is touched."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Control characters removed, any run of whitespace (line breaks too) made one space."""
    return _WHITESPACE.sub(" ", _CONTROL.sub("", text)).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, ending in an ellipsis when cut."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def safe(text: str | None, limit: int = 300, *, empty: str = "—") -> str:
    """An untrusted value for a ``mrkdwn`` text object: one line, cut, ``& < >`` escaped.

    ``limit`` counts the characters the user sees (before escaping adds entity characters), so a
    caller budgeting a 3,000-character section should allow for ``&amp;`` growth — the builders
    keep their limits well below Slack's for that reason.
    """
    if text is None:
        return empty
    cleaned = one_line(str(text))
    if not cleaned:
        return empty
    return escape(truncate(cleaned, limit))


def plain(text: str | None, limit: int = 300, *, empty: str = "—") -> str:
    """An untrusted value for a ``plain_text`` object: one line and cut, otherwise exactly as given.

    ``plain_text`` renders neither formatting nor mentions nor links, so nothing is escaped: a
    ``&`` stays one character and ``<!channel>`` stays words.
    """
    if text is None:
        return empty
    cleaned = one_line(str(text))
    if not cleaned:
        return empty
    return truncate(cleaned, limit)


def code(text: str, limit: int = 200) -> str:
    """Inline code showing ``text`` exactly (backticks inside can't close the span early)."""
    cleaned = truncate(one_line(text), limit).replace("`", "ˋ")
    return f"`{escape(cleaned)}`" if cleaned else "``"


def money(amount: Decimal, currency: str | None = None, *, signed: bool = True) -> str:
    """``-1234.5, "NZD"`` → ``−1,234.50 NZD``: thousands separators, two decimals, real minus."""
    rounded = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = MINUS if signed and rounded < 0 else ""
    body = f"{abs(rounded):,.2f}"
    return f"{sign}{body} {currency}" if currency else f"{sign}{body}"


def day(value: date | datetime) -> str:
    """``12 Nov 2026`` — unambiguous in every locale, no leading zero."""
    return f"{value.day} {value.strftime('%b %Y')}"


def day_short(value: date | datetime) -> str:
    """``12 Nov`` for lists within one year."""
    return f"{value.day} {value.strftime('%b')}"


def zone_of(name: str | None) -> ZoneInfo:
    """An IANA zone by name, or UTC when there is none or it is unknown."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def moment(value: datetime, zone: str | None = None) -> str:
    """``12 Nov 2026 14:05 NZDT`` — a timestamp (UpdatedDateUTC, a fix) in the organisation's zone.

    Without a zone (or for a naive value) it is shown in UTC and says so.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(zone_of(zone))
    label = local.strftime("%Z") or "UTC"
    return f"{day(local)} {local:%H:%M} {label}"


def clock_time(value: datetime, zone: str | None = None) -> str:
    """``14:02`` in the organisation's zone, for "✓ by @bob 14:02"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return f"{value.astimezone(zone_of(zone)):%H:%M}"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else (plural_noun or noun + 's')}"


def human_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
