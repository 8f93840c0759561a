"""Mirror search returns exactly what a brute-force filter over the sandbox's own data returns.

For random queries (text, contact, reference, account, type, status, amounts, dates in either
form, paging), parsed as a user's would be: the oracle is today's matching
(:func:`bot.services.textmatch.matches`) plus the typed filters, run over every live transaction
the sandbox holds, newest first then by BankTransactionID; the mirror side is the SQL search.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from bot.sandbox.xero import XeroSandbox
from bot.services.query import QueryError, parse_query
from bot.services.search import _pick_account, mirror_filter
from bot.services.textmatch import matches
from storage import migrate, mirror_contacts, mirror_search
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror_search import mirror_bank_accounts, search_mirror
from tests.conftest import _truncate
from tests.mirrorfill import fill_from_sandbox, live_transactions

PAGE = 10


@pytest.fixture(scope="module")
def sandbox():
    return XeroSandbox(seed=23, transactions=900, organisations=1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def mirror(request, sandbox, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'recon.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(url, TokenCipher([Fernet.generate_key().decode()]))
    if not db.is_sqlite:
        _truncate(db)
    tenant = sandbox.tenants[0]["tenant_id"]
    fill_from_sandbox(db, sandbox, tenant, at=sandbox.clock.now())
    yield db, tenant, live_transactions(sandbox, tenant)
    db.dispose()


def _words(txns) -> list[str]:
    """Pieces of the data's own text, so most queries find something; cased and accented."""
    found: set[str] = set()
    for t in txns[:300]:
        texts = [t.contact.name if t.contact else "", t.reference or ""]
        texts += [line.description or "" for line in t.line_items]
        for text in texts:
            for word in text.split():
                found.add(word)
                found.add(word[:2])
                found.add(word[1:5])
    return sorted(w for w in found if w and not any(q in w for q in '"“”„‟＂'))


def _oracle(query, txns, account_id):
    kept = [
        t
        for t in txns
        if matches(query, t)
        and (query.date_from is None or t.date >= query.date_from)
        and (query.date_to is None or t.date <= query.date_to)
        and (not query.types or t.type in query.types)
        and (query.reconciled is None or t.is_reconciled is query.reconciled)
        and (account_id is None or t.bank_account.account_id == account_id)
    ]
    kept.sort(key=lambda t: (t.date, t.bank_transaction_id), reverse=True)
    return [t.bank_transaction_id for t in kept]


def _query_text(rnd: random.Random, words, txns, today, order) -> str:
    parts: list[str] = []
    for _ in range(rnd.choice([0, 0, 1, 1, 2, 3])):
        word = rnd.choice(words)
        word = rnd.choice([word, word.upper(), word.lower(), word.replace("e", "é")])
        parts.append(f'"{word}"' if rnd.random() < 0.5 else word)
    sample = rnd.choice(txns)
    if rnd.random() < 0.25 and sample.contact:
        name = sample.contact.name
        start = rnd.randrange(len(name))
        parts.append(f'contact:"{name[start : start + rnd.randint(1, 8)]}"')
    if rnd.random() < 0.2 and sample.reference:
        ref = sample.reference
        parts.append(f'ref:"{ref[rnd.randrange(len(ref)) :]}"')
    if rnd.random() < 0.15:
        parts.append(f"account:{sample.bank_account.code or sample.bank_account.name.split()[0]}")
    if rnd.random() < 0.25:
        parts.append(rnd.choice(["type:spend", "type:receive"]))
    if rnd.random() < 0.3:
        parts.append(rnd.choice(["status:reconciled", "status:unreconciled", "status:any"]))
    if rnd.random() < 0.2:
        parts.append(f"min:{rnd.randint(0, 400)}")
    if rnd.random() < 0.2:
        parts.append(f"max:{rnd.randint(100, 3000)}.{rnd.randint(0, 99):02d}")
    if rnd.random() < 0.25:
        amount = rnd.choice(txns).total
        parts.append(rnd.choice(["", "-", "+", "$", "-$"]) + f"{amount:,.2f}")
    for key, wide in (("from", "from:560d"), ("to", None)):
        roll = rnd.random()
        day = today - timedelta(days=rnd.randint(0, 560) if key == "from" else rnd.randint(0, 200))
        if roll < 0.2:
            parts.append(f"{key}:{day.isoformat()}")
        elif roll < 0.35:
            first, second = (day.day, day.month) if order == "DMY" else (day.month, day.day)
            parts.append(f"{key}:{first:02d}/{second:02d}/{day.year}")
        elif roll < 0.45:
            parts.append(f"{key}:{rnd.randint(0, 500)}d")
        elif wide and roll < 0.85:
            parts.append(wide)  # most queries look back over the whole history
    rnd.shuffle(parts)
    return " ".join(parts)


# A random query (its seed), the organisation's date order, a page, and either order.
_QUERIES = dict(
    seed=st.integers(0, 2**32 - 1),
    order=st.sampled_from(["DMY", "MDY"]),
    page=st.integers(1, 4),
    oldest=st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**_QUERIES)
def test_mirror_search_is_the_brute_force_answer(mirror, sandbox, seed, order, page, oldest):
    _check_one_query(mirror, sandbox, seed, order, page, oldest_first=oldest)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**_QUERIES)
def test_many_text_matches_count_from_the_indexes_instead_of_a_list(
    mirror, sandbox, seed, order, page, oldest, monkeypatch
):
    """On SQLite, past a number of text matches they are no longer read into a list: with typed
    filters the count walks the typed filters' index, without them it comes from the text index
    alone; small data would never get there, so the limits drop."""
    monkeypatch.setattr(mirror_search, "_PROBES", 0)
    monkeypatch.setattr(mirror_search, "_LISTED", 0)
    _check_one_query(mirror, sandbox, seed, order, page, oldest_first=oldest)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(**_QUERIES, split=st.sampled_from([1, 3]))
def test_without_the_contact_dictionary_the_answer_is_the_same(
    mirror, sandbox, seed, order, page, oldest, split, monkeypatch
):
    """An organisation with more contacts than search reads has each row's contact tested in
    SQL: every way a few terms can fall between the contact and the rest, or past ``split``
    terms a scan of every row."""
    monkeypatch.setattr(mirror_contacts, "MOST", 0)
    monkeypatch.setattr(mirror_search, "_SPLIT_TERMS", split)
    _check_one_query(mirror, sandbox, seed, order, page, oldest_first=oldest)


def _check_one_query(mirror, sandbox, seed, order, page, *, oldest_first=False):
    db, tenant, txns = mirror
    rnd = random.Random(seed)
    today = sandbox.clock.now().date()
    text = _query_text(rnd, _words(txns), txns, today, order)
    try:
        query = parse_query(text, today=today, date_order=order)
    except QueryError:
        assume(False)
        return
    account_id = None
    if query.account:
        try:
            account_id = _pick_account(query.account, mirror_bank_accounts(db, tenant)).account_id
        except Exception:  # noqa: BLE001 - an ambiguous or unknown account: not this test's business
            assume(False)
    want = _oracle(query, txns, account_id)
    if oldest_first:
        want.reverse()  # the digest's order: oldest first, then by BankTransactionID ascending
    got = search_mirror(
        db,
        tenant,
        mirror_filter(query, bank_account_id=account_id),
        offset=(page - 1) * PAGE,
        oldest_first=oldest_first,
    )
    assert got.total == len(want), text
    assert [r.bank_transaction_id for r in got.rows] == want[(page - 1) * PAGE : page * PAGE], text


def test_the_queries_find_things(mirror, sandbox):
    """The generator is no good if almost every query finds nothing."""
    db, tenant, txns = mirror
    rnd = random.Random(5)
    today = sandbox.clock.now().date()
    words = _words(txns)
    found = 0
    for _ in range(60):
        try:
            query = parse_query(_query_text(rnd, words, txns, today, "DMY"), today=today, date_order="DMY")
        except QueryError:
            continue
        if query.account:
            continue
        found += bool(search_mirror(db, tenant, mirror_filter(query)).total)
    assert found >= 15, found
