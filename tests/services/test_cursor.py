"""Page cursors in Slack button values: round-trip, size limit, and nothing leaks from bad input."""

from __future__ import annotations

import base64
import json
import random
import zlib
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.cursor import (
    MAX_CURSOR_CHARS,
    Cursor,
    CursorError,
    CursorTooLong,
    decode_cursor,
    encode_cursor,
)
from bot.services.query import MAX_QUERY_CHARS

TENANT = "a3f0c1de-0000-4000-8000-1234567890ab"
SNAP = date(2024, 5, 31)


def _pack(obj: object) -> str:
    raw = json.dumps(obj).encode()
    return base64.urlsafe_b64encode(zlib.compress(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "zephyr from:30d",
        'contact:"Tom &amp; Jerry" “smart”',
        "café\u0000\n\t",
        "lone \ud800 surrogate",
        "x" * MAX_QUERY_CHARS,
    ],
)
def test_round_trip(query: str) -> None:
    encoded = encode_cursor(query, TENANT, 3, SNAP)
    assert encoded.isascii() and len(encoded) <= MAX_CURSOR_CHARS
    assert all(ch.isalnum() or ch in "-_" for ch in encoded)  # safe in any button value
    assert decode_cursor(encoded) == Cursor(query, TENANT, 3, SNAP)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=MAX_QUERY_CHARS), st.integers(1, 10_000), st.dates())
def test_round_trip_property(query: str, page: int, snapshot: date) -> None:
    try:
        encoded = encode_cursor(query, TENANT, page, snapshot)
    except CursorTooLong:
        return
    assert decode_cursor(encoded) == Cursor(query, TENANT, page, snapshot)


def test_any_ascii_query_within_the_parser_limit_fits() -> None:
    # Worst case for ASCII: incompressible printable text, every char JSON-escaped costs more.
    noisy = "".join(chr(33 + (i * 7919) % 94) for i in range(MAX_QUERY_CHARS))
    assert len(encode_cursor(noisy, "x" * 100, 10_000, SNAP)) <= MAX_CURSOR_CHARS


def test_a_long_query_in_chinese_fits() -> None:
    rng = random.Random(7)
    cjk = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(MAX_QUERY_CHARS))
    assert decode_cursor(encode_cursor(cjk, TENANT, 10_000, SNAP)).query_text == cjk


def test_cursor_that_would_not_fit_a_button_is_refused_clearly() -> None:
    # 500 random astral-plane characters (4 UTF-8 bytes each, barely compressible): the only kind
    # of parser-accepted query that cannot be paged.
    rng = random.Random(7)
    wide = "".join(chr(rng.randint(0x10000, 0x10FFFF)) for _ in range(MAX_QUERY_CHARS))
    with pytest.raises(CursorTooLong, match=r"Slack buttons hold 2000"):
        encode_cursor(wide, TENANT, 1, SNAP)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("q", TENANT, 0, SNAP), "page"),
        (("q", TENANT, 10_001, SNAP), "page"),
        (("q", TENANT, True, SNAP), "page"),
        (("q", "", 1, SNAP), "tenant"),
        (("q", "t" * 101, 1, SNAP), "tenant"),
        (("q", TENANT, 1, datetime(2024, 5, 31, 12)), "snapshot"),
        ((None, TENANT, 1, SNAP), "query"),
    ],
)
def test_encode_rejects_bad_arguments(args: tuple, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        encode_cursor(*args)


def _flip(encoded: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    ch = encoded[index]
    return encoded[:index] + alphabet[(alphabet.index(ch) + 1) % 64] + encoded[index + 1 :]


def test_every_single_character_tamper_is_caught_or_decodes_to_a_valid_cursor() -> None:
    encoded = encode_cursor("zephyr from:30d", TENANT, 2, SNAP)
    rejected = 0
    for i in range(len(encoded)):
        try:
            cursor = decode_cursor(_flip(encoded, i))
        except CursorError:
            rejected += 1
            continue
        assert isinstance(cursor, Cursor) and cursor.page >= 1  # never trusted anyway
    assert rejected >= len(encoded) - 2  # zlib's checksum catches practically every change


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a cursor!",
        "AAAA",
        "é",
        "x" * (MAX_CURSOR_CHARS + 1),
        encode_cursor("q", TENANT, 1, SNAP)[:-3],  # truncated
        encode_cursor("q", TENANT, 1, SNAP) + "AAAA",  # trailing data
        base64.urlsafe_b64encode(b"plain bytes").decode(),
        _pack("a string"),
        _pack([1, "q", TENANT, 1]),  # too short
        _pack([2, "q", TENANT, 1, "2024-05-31"]),  # future version
        _pack([True, "q", TENANT, 1, "2024-05-31"]),
        _pack([1, 5, TENANT, 1, "2024-05-31"]),
        _pack([1, "q", None, 1, "2024-05-31"]),
        _pack([1, "q", TENANT, "1", "2024-05-31"]),
        _pack([1, "q", TENANT, 1.5, "2024-05-31"]),
        _pack([1, "q", TENANT, -1, "2024-05-31"]),
        _pack([1, "q", TENANT, 1, "2024-02-30"]),
        _pack([1, "q", TENANT, 1, 20240531]),
        _pack({"v": 1}),
        base64.urlsafe_b64encode(zlib.compress(b"\xff\xfe")).decode(),
        base64.urlsafe_b64encode(zlib.compress(b"[" * 5000)).decode(),
        base64.urlsafe_b64encode(zlib.compress(b" " * 1_000_000)).decode(),  # zip bomb
    ],
)
def test_garbage_is_a_cursor_error(garbage: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(garbage)


def test_non_string_is_a_cursor_error() -> None:
    with pytest.raises(CursorError):
        decode_cursor(None)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=2100), st.binary(max_size=1500).map(lambda b: base64.urlsafe_b64encode(b).decode())
    )
)
def test_decode_only_ever_raises_cursor_error(value: str) -> None:
    try:
        cursor = decode_cursor(value)
    except CursorError:
        return
    assert isinstance(cursor, Cursor)
