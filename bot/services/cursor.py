"""Page cursors for search results, carried in a Slack button's ``value`` (≤ 2,000 characters).

A cursor holds what is needed to re-run a search and fetch page N: the query text exactly as
Slack sent it (re-parsed, never trusted as parsed data), the organisation, the page, and the
"snapshot" date page 1 was computed against — pass it as ``today`` to ``parse_query`` so
``from:30d`` means the same window on every page even across midnight.

A cursor is NOT an authorisation token. Anyone can forge one (it is only compressed, not signed),
so the Slack layer must check that ``tenant_id`` belongs to the user who pressed the button, and
the query text goes through the parser again like any other user input.

Format: ``urlsafe_b64(zlib(JSON [version, query, tenant, page, "YYYY-MM-DD"]))`` without padding.
zlib's Adler-32 check catches most tampering with the bytes; the decoder validates every field
regardless, and whatever happens inside (bad base64, zlib, JSON, types) surfaces only as
:class:`CursorError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from datetime import date

VERSION = 1
MAX_CURSOR_CHARS = 2000  # Slack's limit on a button value
MAX_PAGE = 10_000
_MAX_TENANT_CHARS = 100
# A valid cursor decompresses to at most a few KB; refuse to inflate more (zip-bomb guard).
_MAX_PAYLOAD_BYTES = 16_384


class CursorError(ValueError):
    """A cursor that cannot be used: garbage, tampered, from another version, or too big."""


class CursorTooLong(CursorError):
    """The cursor for this query would not fit in a Slack button value.

    The parser caps queries at 500 characters, which is enough for any reasonable text; only
    hundreds of incompressible non-ASCII characters get here. The Slack layer should then show
    the first page without paging buttons rather than fail the search.
    """


@dataclass(frozen=True)
class Cursor:
    query_text: str
    tenant_id: str
    page: int
    snapshot: date


def encode_cursor(query_text: str, tenant_id: str, page: int, snapshot: date) -> str:
    """Pack a page request into an ASCII string for a button value; raises :class:`CursorTooLong`."""
    cursor = Cursor(query_text, tenant_id, page, snapshot)
    _validate(cursor, error=ValueError)
    payload = json.dumps(
        [VERSION, query_text, tenant_id, page, snapshot.isoformat()],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8", "surrogatepass")  # a lone surrogate from JSON must not crash paging
    encoded = base64.urlsafe_b64encode(zlib.compress(payload, 9)).rstrip(b"=").decode("ascii")
    if len(encoded) > MAX_CURSOR_CHARS:
        raise CursorTooLong(
            f"a cursor for this query would be {len(encoded)} characters; "
            f"Slack buttons hold {MAX_CURSOR_CHARS}"
        )
    return encoded


def decode_cursor(value: str) -> Cursor:
    """Unpack a button value; anything but a well-formed current-version cursor is a CursorError."""
    if not isinstance(value, str) or not value or len(value) > MAX_CURSOR_CHARS:
        raise CursorError("cursor is empty, not text, or longer than a button value can be")
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii") + b"=" * (-len(value) % 4))
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise CursorError(f"cursor is not base64: {exc}") from exc
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(raw, _MAX_PAYLOAD_BYTES)
    except zlib.error as exc:
        raise CursorError(f"cursor is not compressed data: {exc}") from exc
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise CursorError("cursor is truncated, oversized or has trailing data")
    try:
        fields = json.loads(payload.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CursorError(f"cursor is not valid JSON: {exc}") from exc
    if not isinstance(fields, list) or len(fields) != 5:
        raise CursorError("cursor has the wrong shape")
    version, query_text, tenant_id, page, snapshot_text = fields
    if version != VERSION or isinstance(version, bool):
        raise CursorError(f"cursor version {version!r} is not supported")
    if not isinstance(snapshot_text, str):
        raise CursorError("cursor snapshot is not a date")
    try:
        snapshot = date.fromisoformat(snapshot_text)
    except ValueError as exc:
        raise CursorError(f"cursor snapshot is not a date: {exc}") from exc
    cursor = Cursor(query_text, tenant_id, page, snapshot)
    _validate(cursor, error=CursorError)
    return cursor


def _validate(cursor: Cursor, *, error: type[ValueError]) -> None:
    if not isinstance(cursor.query_text, str):
        raise error("query text must be a string")
    if not isinstance(cursor.tenant_id, str) or not 0 < len(cursor.tenant_id) <= _MAX_TENANT_CHARS:
        raise error(f"tenant id must be a string of 1-{_MAX_TENANT_CHARS} characters")
    if isinstance(cursor.page, bool) or not isinstance(cursor.page, int) or not 1 <= cursor.page <= MAX_PAGE:
        raise error(f"page must be an integer from 1 to {MAX_PAGE}")
    if type(cursor.snapshot) is not date:
        raise error("snapshot must be a date (not a datetime)")
