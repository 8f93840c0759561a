"""The `/recon search` query language: text in, a validated :class:`SearchQuery` out.

Why a hand-written tokenizer rather than ``shlex``: Slack delivers curly quotes, HTML-escaped
``& < >`` and stray control characters, and every mistake must come back to the user as a
:class:`QueryError` that names the offending token and shows the fix — ``shlex`` raises bare
``ValueError("No closing quotation")`` and knows nothing of “smart quotes”.

The parser splits the query in two on purpose: values that can be typed (dates, amounts, enum
words) become :class:`~bot.xero.filters.TransactionFilter` fields via :meth:`SearchQuery.to_filter`;
everything the user wrote as text (free text, contact, reference, account, org) stays on the
bot's side, for :mod:`bot.services.textmatch` or for lookups the search service does itself.
User text therefore never reaches Xero's ``where`` clause.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from bot.xero.filters import TransactionFilter, TransactionType

MAX_QUERY_CHARS = 500
DEFAULT_WINDOW_DAYS = 90

# Straight, curly and low-9 double quotes, plus the full-width one some IMEs produce. Any of them
# opens and any closes: macOS "smart quotes" sometimes type ” at both ends. Single quotes are not
# quotes here — they are apostrophes in names like O'Brien / O’Brien.
_QUOTES = frozenset('"“”„‟＂')
_KEYS = ("from", "to", "contact", "ref", "account", "type", "status", "min", "max", "org", "sort")
_KEY_RE = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
# ASCII digits only: `\d` would also accept Arabic-Indic and other Unicode digits.
_ISO_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_RELATIVE_RE = re.compile(r"(\d{1,5})([dwm])", re.ASCII | re.IGNORECASE)
_AMOUNT_RE = re.compile(r"\d{1,15}(?:\.\d{1,2})?", re.ASCII)
# A bare amount as bookkeepers type it: 57.33, -57.33, $1,000, 1,234.56, -$20 (a sign makes it
# signed: money out is negative). Quoted, the same characters are text.
_BARE_AMOUNT_RE = re.compile(
    r"(?P<sign>[+\-−])?[$£€]?(?P<sign2>[+\-−])?"
    r"(?P<whole>\d{1,3}(?:,\d{3})+|\d{1,15})(?P<cents>\.\d{1,2})?",
    re.ASCII,
)
_SLASH_DATE_RE = re.compile(r"(\d{1,2})([/.])(\d{1,2})\2(\d{4})", re.ASCII)
# Where people write the month first. Everywhere else Xero is sold, the day comes first.
_MONTH_FIRST = frozenset({"US", "PR", "GU", "VI", "AS", "MP", "UM", "FM", "MH", "PW"})
DateOrder = Literal["DMY", "MDY"]
_SLACK_ENTITY_RE = re.compile(r"&(amp|lt|gt);")
_SLACK_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_TYPES: dict[str, TransactionType] = {"spend": "SPEND", "receive": "RECEIVE"}
_STATUSES: dict[str, bool | None] = {"unreconciled": False, "reconciled": True, "any": None}
_SORTS = {"newest": False, "oldest": True}  # value: oldest first

SYNTAX_HELP = """\
*Search syntax* — combine any of these, in any order:
• `anchor milk` — words that must all appear in the contact, reference or a line description; \
`"two words"` in quotes stay together
• `from:2024-01-01`  `to:2024-03-31` — dates, both inclusive, also as the organisation writes them \
(31/03/2024, or 03/31/2024 in the US); or relative: `from:30d` (days), \
`from:2w` (weeks), `from:3m` (calendar months). Without dates: the last 90 days
• `contact:"Zephyr Plumbing"` — the contact name contains this
• `ref:INV-1` — the reference contains this
• `account:"Business Bank"` — bank account, by name or code
• `type:spend` or `type:receive` — default: every type
• `status:unreconciled`, `status:reconciled` or `status:any` (default)
• `min:100`  `max:250.50` — amount without its sign: `min:100` finds spends and receipts of 100 or more
• `57.33` or `$1,234.56` — exactly this amount, spent or received; `-57.33` only money out, \
`+57.33` only money in; digits alone (`4471`) are text
• `org:"Kestrel Design"` — which connected organisation (default: your default one)
• `sort:oldest` — oldest first, as the digest lists them (default: `sort:newest`)
Example: `/recon search zephyr from:180d`"""


class QueryError(ValueError):
    """A query the user has to fix.

    ``token`` is the offending token as the user typed it (Slack's ``&amp;`` escaping undone);
    ``message`` is ready-to-post mrkdwn that names the token and says what to type instead. The
    token is shown inside a code span with ``& < >`` re-escaped, so echoing ``<!channel>`` back
    pings nobody.
    """

    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token
        self.message = message


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search. Text fields are kept as typed; matching normalises them itself."""

    text_terms: tuple[str, ...]
    contact: str | None
    reference: str | None
    account: str | None
    org: str | None
    date_from: date | None
    date_to: date | None
    types: tuple[TransactionType, ...]
    reconciled: bool | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    raw: str
    amount: Decimal | None = None  # a bare amount: exactly this total
    amount_signed: bool = False  # …and its sign counts (negative: money out)
    readings: tuple[str, ...] = ()  # how ambiguous input was read, for the header
    oldest_first: bool = False  # `sort:oldest`: the digest's own order

    @property
    def needs_bot_side(self) -> bool:
        """Whether a live search must read rows to match them (Xero's ``where`` cannot)."""
        return bool(self.text_terms or self.contact or self.reference or self.amount_signed)

    @property
    def display(self) -> str:
        """The query as the user sees it, for headers (the block builder still escapes it).

        ``raw`` is the text exactly as Slack sent it (still ``&amp;``-escaped) so that re-parsing
        it — e.g. from a page cursor — is lossless; this is the human form.
        """
        return " ".join(_clean(self.raw).split())

    def to_filter(
        self, *, bank_account_id: uuid.UUID | None = None, contact_id: uuid.UUID | None = None
    ) -> TransactionFilter:
        """The part of the query Xero may see: only typed values, never the user's text.

        ``bank_account_id``/``contact_id`` are GUIDs the search service looked up itself (from
        ``account:``/``contact:``); they are checked to be real ``uuid.UUID`` objects so a string
        cannot slip through by accident. Deleted and voided transactions are never searched.
        """
        for name, value in (("bank_account_id", bank_account_id), ("contact_id", contact_id)):
            if value is not None and not isinstance(value, uuid.UUID):
                raise TypeError(f"{name} must be a uuid.UUID, not {type(value).__name__}")
        return TransactionFilter(
            date_from=self.date_from,
            date_to=self.date_to,
            types=self.types,
            status="AUTHORISED",
            is_reconciled=self.reconciled,
            bank_account_id=bank_account_id,
            contact_id=contact_id,
            min_total=_tighter(self.min_amount, self.amount, max),
            max_total=_tighter(self.max_amount, self.amount, min),
        )


def _tighter(bound: Decimal | None, amount: Decimal | None, pick) -> Decimal | None:
    """A bare amount is both bounds at once (without its sign); with min:/max: the tighter wins."""
    if amount is None:
        return bound
    return abs(amount) if bound is None else pick(bound, abs(amount))


def date_order_for(country_code: str | None) -> DateOrder:
    """How an organisation's people write dates, from its country (Xero's CountryCode)."""
    return "MDY" if (country_code or "").upper() in _MONTH_FIRST else "DMY"


def org_named(text: str) -> str | None:
    """The ``org:`` of a query, read before the rest: the organisation says how to read dates.

    Raises :class:`QueryError` only for what no organisation could make right (a quote never
    closed); everything else is left to :func:`parse_query`.
    """
    for token in _tokenize(_clean(text[: MAX_QUERY_CHARS + 1])):
        key_match = _KEY_RE.fullmatch(token)
        if key_match and key_match.group(1).lower() == "org":
            return " ".join(_unquote(key_match.group(2)).split()) or None
    return None


def parse_query(text: str, *, today: date, date_order: DateOrder | None = None) -> SearchQuery:
    """Parse ``/recon search`` text as Slack delivers it; raise :class:`QueryError` on any mistake.

    ``today`` is the organisation's local date (relative dates and the default window hang off
    it); a page cursor carries the date of page 1 so later pages see the same window.
    ``date_order`` is how the organisation writes dates (:func:`date_order_for`); ``None``, for a
    syntax check before the organisation is known, accepts a date valid in either order.

    Choices where the language could go either way:

    * A key given twice is an error (naming both), not "last wins": silently dropping half of
      ``from:2024-01-01 from:30d`` would show results the user did not ask for.
    * Without ``from``/``to`` the window is the last 90 days, open-ended at the top so
      future-dated transactions and org-timezone skew still show; ``to`` alone means the 90 days
      up to it; ``from`` alone means from then on.
    * ``Nd``/``Nw``/``Nm`` are N days, N×7 days, N calendar months before ``today`` (the day of
      month clamped, so 31 May − 3m = 28/29 Feb); ``0d`` is today.
    * ``foo:bar`` with an unknown key is an error rather than free text, so a typo like
      ``contcat:Acme`` is caught; quoting (``"foo:bar"``) searches for the text itself.
    * A number written as money (``57.33``, ``$1,000``, ``-20``) is an amount; digits alone
      (``4471``) and anything quoted are text. Two amounts can never both be the total: an error.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(
            text[:30] + "…",
            f"That search is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS}. Try fewer words.",
        )
    seen: dict[str, str] = {}
    values: dict[str, str] = {}
    terms: list[str] = []
    amount_token: str | None = None
    amount: Decimal | None = None
    signed = False
    for token in _tokenize(_clean(text)):
        key_match = _KEY_RE.fullmatch(token)
        bare = _BARE_AMOUNT_RE.fullmatch(token) if key_match is None else None
        if bare is not None and _is_money(token, bare):
            if amount_token is not None:
                raise QueryError(
                    token,
                    f"`{_esc(amount_token)}` and `{_esc(token)}` are both amounts, and a transaction has "
                    f'one total — keep one, or put text in quotes: `"{_esc(token)}"`.',
                )
            amount_token = token
            amount, signed = _bare_amount(bare)
            continue
        if key_match is None:
            term = " ".join(_unquote(token).split()).casefold()
            if term:
                terms.append(term)
            continue
        key = key_match.group(1).lower()
        if key not in _KEYS:
            raise QueryError(
                token,
                f"I don't know the filter `{_esc(key_match.group(1))}:` in `{_esc(token)}`. "
                f'To search for that text, put it in quotes: `"{_esc(_unquote(token))}"`.',
            )
        if key in seen:
            raise QueryError(
                token,
                f"`{key}:` is given twice (`{_esc(seen[key])}` and `{_esc(token)}`) — keep one.",
            )
        value = " ".join(_unquote(key_match.group(2)).split())
        if not value:
            raise QueryError(token, f"`{_esc(token)}` needs a value, e.g. {_EXAMPLES[key]}.")
        seen[key] = token
        values[key] = value

    readings: list[str] = []
    date_from = date_to = None
    if "from" in values:
        date_from = _parse_date(seen["from"], values["from"], today, date_order, readings)
    if "to" in values:
        date_to = _parse_date(seen["to"], values["to"], today, date_order, readings)
    guessed = date_order is None and bool(readings)  # a syntax check cannot know which was meant
    if date_from is not None and date_to is not None and date_from > date_to and not guessed:
        raise QueryError(
            seen["from"],
            f"`{_esc(seen['from'])}` ({_short(date_from)}) is after `{_esc(seen['to'])}` "
            f"({_short(date_to)}) — swap them.",
        )
    if date_from is None:
        date_from = _days_before(date_to or today, DEFAULT_WINDOW_DAYS, seen.get("to", ""))

    min_amount = _parse_amount(seen["min"], values["min"]) if "min" in values else None
    max_amount = _parse_amount(seen["max"], values["max"]) if "max" in values else None
    if min_amount is not None and max_amount is not None and min_amount > max_amount:
        raise QueryError(
            seen["min"], f"`{_esc(seen['min'])}` is more than `{_esc(seen['max'])}` — swap them."
        )

    types: tuple[TransactionType, ...] = ()
    if "type" in values:
        kind = _TYPES.get(values["type"].lower())
        if kind is None:
            raise QueryError(
                seen["type"], f"I couldn't read `{_esc(seen['type'])}` — use `type:spend` or `type:receive`."
            )
        types = (kind,)

    reconciled: bool | None = None
    if "status" in values:
        status = values["status"].lower()
        if status not in _STATUSES:
            raise QueryError(
                seen["status"],
                f"I couldn't read `{_esc(seen['status'])}` — use `status:unreconciled`, "
                "`status:reconciled` or `status:any`.",
            )
        reconciled = _STATUSES[status]

    oldest_first = False
    if "sort" in values:
        sort = _SORTS.get(values["sort"].lower())
        if sort is None:
            raise QueryError(
                seen["sort"], f"I couldn't read `{_esc(seen['sort'])}` — use `sort:oldest` or `sort:newest`."
            )
        oldest_first = sort

    return SearchQuery(
        text_terms=tuple(terms),
        contact=values.get("contact"),
        reference=values.get("ref"),
        account=values.get("account"),
        org=values.get("org"),
        date_from=date_from,
        date_to=date_to,
        types=types,
        reconciled=reconciled,
        min_amount=min_amount,
        max_amount=max_amount,
        raw=text.strip(),
        amount=amount,
        amount_signed=signed,
        readings=tuple(readings),
        oldest_first=oldest_first,
    )


def _is_money(token: str, found: re.Match[str]) -> bool:
    """Digits alone (``4471``) stay text — invoice numbers and references are typed like that —
    so an amount needs what only money has: cents, a thousands comma, a currency sign or ±."""
    if found.group("sign") and found.group("sign2"):
        return False
    return not token.isdigit()


def _bare_amount(found: re.Match[str]) -> tuple[Decimal, bool]:
    sign = found.group("sign") or found.group("sign2")
    value = Decimal(found.group("whole").replace(",", "") + (found.group("cents") or ""))
    return (-value if sign in ("-", "\u2212") else value), sign is not None


_EXAMPLES = {
    "from": "`from:2024-01-01` or `from:30d`",
    "to": "`to:2024-03-31` or `to:7d`",
    "contact": '`contact:"Zephyr Plumbing"`',
    "ref": "`ref:INV-1`",
    "account": '`account:"Business Bank"`',
    "type": "`type:spend` or `type:receive`",
    "status": "`status:unreconciled`",
    "sort": "`sort:oldest`",
    "min": "`min:100`",
    "max": "`max:250.50`",
    "org": '`org:"Kestrel Design"`',
}


def _clean(text: str) -> str:
    """Undo Slack's ``&amp; &lt; &gt;`` escaping and drop control/format characters.

    One regex pass, so a literally typed ``&amp;`` (sent as ``&amp;amp;``) comes out as ``&amp;``.
    Control characters that are whitespace (tabs, newlines) become spaces so they still separate
    words; other control and format characters (zero-width spaces, bidi overrides) and lone
    surrogates (possible after JSON decoding, never real text) vanish.
    """
    text = _SLACK_ENTITY_RE.sub(lambda m: _SLACK_ENTITIES[m.group(1)], text)
    return "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )


def _tokenize(text: str) -> list[str]:
    """Split on whitespace outside quotes; quotes stay in the token so keys can be told from text."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] in _QUOTES:
                close = next((j for j in range(i + 1, n) if text[j] in _QUOTES), None)
                if close is None:
                    token = text[start:].strip()
                    raise QueryError(
                        token,
                        f'The quote in `{_esc(token)}` is never closed — add a closing `"`.',
                    )
                i = close
            i += 1
        tokens.append(text[start:i])
    return tokens


def _unquote(value: str) -> str:
    return "".join(ch for ch in value if ch not in _QUOTES)


def _parse_date(token: str, value: str, today: date, order: DateOrder | None, readings: list[str]) -> date:
    fix = "use YYYY-MM-DD or `30d` (also `2w`, `3m`)."
    if slash := _SLASH_DATE_RE.fullmatch(value):
        return _local_date(token, value, slash, order, readings)
    if iso := _ISO_DATE_RE.fullmatch(value):
        try:
            return date(*(int(part) for part in iso.groups()))
        except ValueError:
            raise QueryError(
                token, f"I couldn't read `{_esc(token)}` — {value} isn't a real date; {fix}"
            ) from None
    if rel := _RELATIVE_RE.fullmatch(value):
        count, unit = int(rel.group(1)), rel.group(2).lower()
        if unit == "m":
            return _months_before(today, count, token)
        return _days_before(today, count * (7 if unit == "w" else 1), token)
    raise QueryError(token, f"I couldn't read `{_esc(token)}` — {fix}")


def _local_date(
    token: str, value: str, found: re.Match[str], order: DateOrder | None, readings: list[str]
) -> date:
    """31/03/2024 or 03/31/2024, as the organisation writes dates; the reading is echoed when
    both orders make a real date."""
    first, _, second, year = found.groups()
    a, b, y = int(first), int(second), int(year)
    orders: tuple[DateOrder, ...] = (order,) if order else ("DMY", "MDY")
    for each in orders:
        day, month = (a, b) if each == "DMY" else (b, a)
        try:
            read = date(y, month, day)
        except ValueError:
            continue
        if a != b and a <= 12 and b <= 12:
            readings.append(f"{value} read as {_short(read)}")
        return read
    form = {"DMY": "DD/MM/YYYY", "MDY": "MM/DD/YYYY"}
    told = f"dates here are {form[order]}" if order else "that is no date in either order"
    raise QueryError(
        token, f"I couldn't read `{_esc(token)}` — {told}; or use YYYY-MM-DD or `30d` (also `2w`, `3m`)."
    )


def _days_before(day: date, days: int, token: str) -> date:
    try:
        return day - timedelta(days=days)
    except OverflowError:
        raise QueryError(token, f"`{_esc(token)}` goes back too far — pick a later date.") from None


def _months_before(day: date, months: int, token: str) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    if year < 1:
        raise QueryError(token, f"`{_esc(token)}` goes back too far — pick a later date.")
    month = month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _parse_amount(token: str, value: str) -> Decimal:
    if _AMOUNT_RE.fullmatch(value):
        return Decimal(value)
    if value.startswith("-"):
        hint = "amounts are compared without their sign, so drop the minus"
    else:
        hint = "use digits with up to 2 decimals and no separators, e.g. `min:1000.50`"
    raise QueryError(token, f"I couldn't read `{_esc(token)}` — {hint}.")


def _short(day: date) -> str:
    """The look-and-feel date form, "1 May 2024"."""
    return f"{day.day} {day:%b %Y}"


def _esc(text: str) -> str:
    """Make user text safe inside a mrkdwn code span: no mentions, no broken backticks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")
