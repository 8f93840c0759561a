"""Escaping and formatting: what a hostile Xero value or an amount looks like in Slack."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from bot.slack import text as tx

INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


def test_mentions_and_links_lose_their_angle_brackets():
    out = tx.safe("<!channel> <@U123> <#C1|general> <https://evil.example|your bank>")
    assert "<" not in out and ">" not in out
    assert out.startswith("&lt;!channel&gt;")


def test_ampersand_is_escaped_once():
    assert tx.safe("Smith & Co") == "Smith &amp; Co"


@pytest.mark.parametrize(
    "hostile", ["*URGENT*", "_pay now_", "~void~", "`code`", "**x**", "*Star* Print Shop", "INV_0042", "A*B"]
)
def test_mrkdwn_escaping_keeps_every_character_and_adds_nothing_invisible(hostile):
    # Slack documents escapes for & < > only (a backslash does not escape * _ ~ `), so the
    # characters are kept as they are: copied back into Xero they are exactly Xero's.
    out = tx.safe(hostile)
    assert out == hostile
    assert not any(ch in out for ch in INVISIBLE)


@pytest.mark.parametrize(
    "value",
    ["*Star* Print Shop", "<!channel> Events Ltd", "_x_", "~y~", "`rm -rf`", "&amp;", "Smith & Jones <A>"],
)
def test_plain_text_values_are_exactly_xeros(value):
    assert tx.plain(value) == value


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


def test_moments_are_shown_in_the_organisations_zone():
    from datetime import UTC

    instant = datetime(2026, 11, 12, 1, 5, tzinfo=UTC)
    assert tx.moment(instant, "Pacific/Auckland") == "12 Nov 2026 14:05 NZDT"
    assert tx.moment(instant, "Europe/London") == "12 Nov 2026 01:05 GMT"
    assert tx.moment(instant, "Not/AZone") == "12 Nov 2026 01:05 UTC"
    assert tx.clock_time(instant, "Pacific/Auckland") == "14:05"


def test_human_list():
    assert tx.human_list([]) == ""
    assert tx.human_list(["a"]) == "a"
    assert tx.human_list(["a", "b", "c"]) == "a, b and c"
