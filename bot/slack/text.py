"""Making untrusted text safe for Slack, and formatting money and dates the way bookkeepers read them.

Pure functions only. Everything that came from Xero (contact names, references, descriptions,
organisation names) or from a user goes through :func:`safe` before it lands in a ``mrkdwn`` text
object, and through :func:`plain` before it lands in a ``plain_text`` one.

Why this escaping, and what it deliberately does not do:

* ``& < >`` become ``&amp; &lt; &gt;`` everywhere (Slack's own rule for any text field). That is
  what stops ``<!channel>``, ``<@U123>``, ``<#C123>`` and ``<https://evil|bank>`` from pinging or
  linking: without the angle brackets Slack sees ordinary text.
* ``mrkdwn`` has no backslash escape for ``* _ ~ `````. A formatting marker only works at a word
  boundary (``*bold*`` but not ``INV*42``), so :func:`safe` fences a marker with zero-width spaces
  **only** where it touches a boundary. ``INV_0042`` and ``A*B`` keep their exact bytes (a
  bookkeeper can copy them into Xero's search), while ``*URGENT*`` and ```rm``` show literally.
* Line breaks and tabs inside one value collapse to a space so a hostile value cannot start a
  ``>`` quote line or break a row's layout, and values are cut to a length the block allows.
* Text objects carrying such values are sent with ``verbatim: true`` (:func:`bot.slack.kit.mrkdwn`)
  so Slack does not auto-link bare URLs or ``#channel`` names inside them either.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

MINUS = "\u2212"  # a real minus sign: readable, and not a markdown list marker
ZWSP = "\u200b"
ELLIPSIS = "…"

_MARKERS = "*_~`"
_WHITESPACE = re.compile(r"[\s\u2028\u2029]+")
# A marker touching a word boundary: start/end of text, whitespace or punctuation on one side.
_BOUNDARY_MARKER = re.compile(r"(?:^|(?<=[\s\W]))[*_~`]|[*_~`](?=$|[\s\W])")
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


def _neutralise(text: str) -> str:
    """Fence each boundary marker with zero-width spaces on both sides.

    Whichever way Slack's parser classifies U+200B (word character or space), a marker fenced
    like this is neither preceded nor followed by what formatting needs, so it shows literally.
    """
    return _BOUNDARY_MARKER.sub(lambda m: ZWSP + m.group(0) + ZWSP, text)


def safe(text: str | None, limit: int = 300, *, empty: str = "—") -> str:
    """An untrusted value ready for a ``mrkdwn`` text object: one line, cut, escaped, inert.

    ``limit`` counts the characters the user sees (before escaping adds entity characters), so a
    caller budgeting a 3,000-character section should allow for ``&amp;`` growth — the builders
    keep their limits well below Slack's for that reason.
    """
    if text is None:
        return empty
    cleaned = one_line(str(text))
    if not cleaned:
        return empty
    return _neutralise(escape(truncate(cleaned, limit)))


def plain(text: str | None, limit: int = 300, *, empty: str = "—") -> str:
    """An untrusted value for a ``plain_text`` object: one line, cut, ``& < >`` escaped.

    ``plain_text`` never renders formatting or mentions, so only the entities are needed.
    """
    if text is None:
        return empty
    cleaned = one_line(str(text))
    if not cleaned:
        return empty
    return escape(truncate(cleaned, limit))


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


def moment(value: datetime) -> str:
    """``12 Nov 2026 14:05 UTC`` for timestamps (UpdatedDateUTC, last refresh)."""
    return f"{day(value)} {value.strftime('%H:%M')} UTC"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else (plural_noun or noun + 's')}"


def human_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]
