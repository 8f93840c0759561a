"""Escaping and formatting: what a hostile Xero value or an amount looks like in Slack."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from bot.slack import text as tx

ZW = tx.ZWSP


def test_mentions_and_links_lose_their_angle_brackets():
    out = tx.safe("<!channel> <@U123> <#C1|general> <https://evil.example|your bank>")
    assert "<" not in out and ">" not in out
    assert out.startswith("&lt;!channel&gt;")


def test_ampersand_is_escaped_once():
    assert tx.safe("Smith & Co") == "Smith &amp; Co"


@pytest.mark.parametrize("hostile", ["*URGENT*", "_pay now_", "~void~", "`code`", "**x**"])
def test_formatting_markers_at_word_boundaries_are_fenced(hostile):
    out = tx.safe(hostile)
    # Every marker that opens or closes a word is fenced by zero-width spaces on both sides.
    for i, ch in enumerate(out):
        if ch in "*_~`":
            assert out[i - 1] == ZW and out[i + 1] == ZW, (hostile, out)
    assert out.replace(ZW, "") == hostile


@pytest.mark.parametrize("reference", ["INV_0042", "A*B", "x~y", "PO_2024_11"])
def test_markers_inside_words_keep_their_exact_bytes(reference):
    assert tx.safe(reference) == reference


def test_line_breaks_collapse_so_a_value_cannot_start_a_quote_line():
    out = tx.safe("line one\n> quoted\r\n\tend")
    assert "\n" not in out and out == "line one &gt; quoted end"


def test_values_are_cut_with_an_ellipsis():
    assert tx.safe("x" * 500, 10) == "x" * 9 + "…"


def test_empty_values_show_a_placeholder():
    assert tx.safe(None) == "—"
    assert tx.safe("   ", empty="(none)") == "(none)"


def test_code_span_cannot_be_closed_early():
    out = tx.code("a`b<c>")
    assert out.startswith("`") and out.endswith("`") and out.count("`") == 2
    assert "&lt;c&gt;" in out


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("-1234.5"), "NZD", "−1,234.50 NZD"),
        (Decimal("1000000"), "USD", "1,000,000.00 USD"),
        (Decimal("0.005"), None, "0.01"),
        (Decimal("-0.004"), "GBP", "0.00 GBP"),
    ],
)
def test_money_has_separators_two_decimals_and_a_real_minus(amount, currency, expected):
    assert tx.money(amount, currency) == expected


def test_dates_are_unambiguous_without_leading_zeros():
    assert tx.day(date(2026, 11, 2)) == "2 Nov 2026"
    assert tx.day_short(date(2026, 3, 9)) == "9 Mar"
    assert tx.moment(datetime(2026, 11, 12, 14, 5)) == "12 Nov 2026 14:05 UTC"


def test_human_list():
    assert tx.human_list([]) == ""
    assert tx.human_list(["a"]) == "a"
    assert tx.human_list(["a", "b", "c"]) == "a, b and c"
