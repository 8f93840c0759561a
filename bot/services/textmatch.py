"""Bot-side matching of the text parts of a search against transactions Xero returned.

These filters run here, not in Xero's ``where``, so user text can never alter the query Xero
runs (see :mod:`bot.services.query`). Written against duck-typed transactions (anything with
``contact``, ``reference``, ``line_items``, ``total`` and ``bank_account``) so it stays
independent of the Xero model module.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from bot.services.query import SearchQuery


def normalise(text: str | None) -> str:
    """Fold case and accents and collapse whitespace, so "Café  Zoë" is found by "cafe zoe".

    NFKD also unpacks compatibility forms (ligatures like "ﬁ", full-width letters), which is what
    a user typing on an ordinary keyboard expects to match.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def matches(query: SearchQuery, txn: Any) -> bool:
    """True if ``txn`` satisfies every bot-side part of ``query``.

    * each free-text term must appear (AND) in the contact name, the reference or any line
      description — a term may be found in different fields from the others;
    * ``contact:`` / ``ref:`` are substrings of the contact name / reference;
    * ``account:`` is a substring of the bank account name or equals its code (the search service
      normally turns it into a GUID for Xero; checking again here costs nothing);
    * ``min:`` / ``max:`` compare with the total without its sign (Xero's totals are positive,
      but a model that signs spends must still match ``min:100``);
    * a bare amount is the total exactly, its sign (when typed) saying money out or in.

    Dates, type and reconciled status are left to Xero's ``where``: they are typed values.
    """
    contact_name = normalise(getattr(txn.contact, "name", None) if txn.contact is not None else None)
    reference = normalise(txn.reference)
    descriptions = [normalise(getattr(line, "description", None)) for line in txn.line_items or ()]
    haystacks = [contact_name, reference, *descriptions]

    if not all(_found(normalise(term), haystacks) for term in query.text_terms):
        return False
    if query.contact is not None and normalise(query.contact) not in contact_name:
        return False
    if query.reference is not None and normalise(query.reference) not in reference:
        return False
    if query.account is not None and not _account_matches(query.account, txn.bank_account):
        return False
    if query.min_amount is None and query.max_amount is None and query.amount is None:
        return True
    if txn.total is None:  # an amount filter cannot be satisfied by an unknown amount
        return False
    amount = abs(txn.total)
    if query.amount is not None and not _amount_matches(query, txn, amount):
        return False
    if query.min_amount is not None and amount < query.min_amount:
        return False
    return not (query.max_amount is not None and amount > query.max_amount)


def _amount_matches(query: SearchQuery, txn: Any, amount: Any) -> bool:
    """A bare amount: the total exactly; with a sign, money out is negative (spends, whatever
    sign the model gives its totals)."""
    if query.amount_signed:
        spend = getattr(txn, "is_spend", None)
        if spend is None:
            spend = txn.total < 0
        return (-amount if spend else amount) == query.amount
    return amount == abs(query.amount)


def _found(term: str, haystacks: Iterable[str]) -> bool:
    return any(term in haystack for haystack in haystacks)


def _account_matches(wanted: str, account: Any) -> bool:
    if account is None:
        return False
    needle = normalise(wanted)
    code = normalise(getattr(account, "code", None))
    return needle in normalise(getattr(account, "name", None)) or (bool(code) and needle == code)
