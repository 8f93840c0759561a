"""Bot-side matching: what a user finds when they type words, a contact, a reference or amounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from bot.services.query import parse_query
from bot.services.textmatch import matches, normalise


@dataclass(frozen=True)
class Named:
    name: str


@dataclass(frozen=True)
class Account:
    name: str
    code: str | None


@dataclass(frozen=True)
class Line:
    description: str | None


@dataclass(frozen=True)
class Txn:
    contact: Named | None = Named("Zephyr Plumbing Ltd")
    reference: str | None = "ZP-4471"
    line_items: tuple[Line, ...] = field(default=(Line("Emergency callout — Café Zoë"), Line(None)))
    total: Decimal = Decimal("1234.56")
    bank_account: Account = Account("Business Bank Account", "090")


TXN = Txn()


def found(text: str, txn: Txn = TXN) -> bool:
    return matches(parse_query(text, today=date(2024, 5, 31)), txn)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("zephyr", True),
        ("ZEPHYR", True),  # case-insensitive
        ("zp-4471", True),  # reference
        ("callout", True),  # line description
        ("cafe zoe", True),  # accents folded, each word on its own
        ('"café zoë"', True),
        ('"CAFE   ZOE"', True),  # phrase whitespace and case don't matter
        ("zephyr callout 4471", True),  # AND: terms may sit in different fields
        ("zephyr hammer", False),  # AND: one missing term is enough to exclude
        ('"plumbing callout"', False),  # a phrase must appear as a whole in one field
        ("090", False),  # free text does not search the bank account
        ("contact:zephyr", True),
        ('contact:"plumbing ltd"', True),
        ("contact:callout", False),  # contact: only looks at the contact name
        ("ref:4471", True),
        ("ref:zephyr", False),
        ("account:business", True),
        ("account:090", True),  # by code
        ("account:09", False),  # codes match exactly, not by prefix
        ("account:card", False),
        ("min:1234.56", True),
        ("min:1234.57", False),
        ("max:1234.56", True),
        ("max:1234.55", False),
        ("min:1000 max:2000 zephyr", True),
    ],
)
def test_matching(text: str, expected: bool) -> None:
    assert found(text) is expected


def test_amounts_ignore_the_sign() -> None:
    spend_with_sign = Txn(total=Decimal("-150.00"))
    assert found("min:100", spend_with_sign)
    assert not found("max:100", spend_with_sign)


def test_missing_fields_do_not_crash_and_do_not_match() -> None:
    bare = Txn(contact=None, reference=None, line_items=(), total=Decimal("5"))
    assert found("", bare)
    assert not found("zephyr", bare)
    assert not found("contact:zephyr", bare)
    assert not found("ref:zp", bare)


def test_slack_escaped_ampersand_finds_the_contact() -> None:
    assert found("contact:&amp;", Txn(contact=Named("Tom & Jerry")))
    assert found("tom &amp; jerry", Txn(contact=Named("Tom & Jerry")))


def test_user_text_is_never_a_pattern() -> None:
    # Regex/glob metacharacters are taken literally.
    assert not found("ref:.*", TXN)
    assert found("ref:.*", Txn(reference="A.*B"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Café", "cafe"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),
        ("ﬁnance", "finance"),  # ligature
        ("Ｆｕｌｌ", "full"),  # full-width
        ("  a\t b  ", "a b"),
        (None, ""),
    ],
)
def test_normalise(raw: str | None, expected: str) -> None:
    assert normalise(raw) == expected
