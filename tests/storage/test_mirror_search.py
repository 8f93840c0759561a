"""Search over the mirror, on SQLite and PostgreSQL: every filter, paging, totals, hostile text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text

from bot.services.mirror_rows import row_from_transaction
from bot.services.textmatch import normalise
from bot.xero.models import AccountRef, BankTransaction, ContactRef, LineItem
from storage.mirror import remove_rows, upsert_rows
from storage.mirror_search import (
    MirrorFilter,
    mirror_bank_accounts,
    search_mirror,
    text_index,
    unreconciled_rows,
)

T = "tenant-1"
BANK = AccountRef("acc-1", "090", "Business Bank Account")
CARD = AccountRef("acc-2", "091", "Credit Card")


def _line(description: str | None) -> LineItem:
    return LineItem(None, description, None, None, None, None, None, None, None, None)


def _txn(n: int, **changes) -> BankTransaction:
    fields = dict(
        bank_transaction_id=f"b-{n:04d}",
        type="SPEND",
        status="AUTHORISED",
        date=date(2026, 11, 1) - timedelta(days=n % 30),
        contact=ContactRef(f"c-{n % 3}", ["Café Zoë", "Harbour Coffee Roasters", "O'Brien & Sons"][n % 3]),
        bank_account=BANK,
        reference=f"INV-{n:04d}",
        url=None,
        line_items=(_line("Beans"),),
        line_amount_types="Inclusive",
        sub_total=Decimal("10.00") + n,
        total_tax=Decimal(0),
        total=Decimal("10.00") + n,
        currency_code="NZD",
        is_reconciled=n % 2 == 0,
        updated_date_utc=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
        has_line_items=True,
        has_attachments=False,
    )
    fields.update(changes)
    return BankTransaction(**fields)


def _fill(db, txns, tenant=T) -> None:
    upsert_rows(db, tenant, [row_from_transaction(t) for t in txns])


def _ids(page) -> list[str]:
    return [r.bank_transaction_id for r in page.rows]


def _find(db, limit=100, offset=0, tenant=T, **wanted):
    if "terms" in wanted:
        wanted["terms"] = tuple(normalise(t) for t in wanted["terms"])
    for key in ("contact", "reference"):
        if wanted.get(key) is not None:
            wanted[key] = normalise(wanted[key])
    return search_mirror(db, tenant, MirrorFilter(**wanted), offset=offset, limit=limit)


@pytest.fixture
def filled(db):
    return fill_sixty(db)


def fill_sixty(db):
    """Sixty rows of three contacts (one without) over thirty days, and five of another tenant."""
    txns = [_txn(n) for n in range(60)]
    txns[5] = _txn(5, type="RECEIVE", bank_account=CARD, line_items=(_line("Refund for Crème brûlée"),))
    txns[7] = _txn(7, contact=None, reference=None, line_items=())
    _fill(db, txns)
    _fill(db, [_txn(n, reference=f"OTHER-{n}") for n in range(5)], tenant="tenant-2")
    return db


def test_order_paging_and_total(filled):
    everything = _find(filled, limit=100)
    assert everything.total == 60 and len(everything.rows) == 60
    keys = [(r.date, r.bank_transaction_id) for r in everything.rows]
    assert keys == sorted(keys, reverse=True)
    pages = [_ids(_find(filled, limit=10, offset=o)) for o in range(0, 60, 10)]
    assert [i for p in pages for i in p] == _ids(everything)
    second = _find(filled, limit=10, offset=10)
    assert second.total == 60 and len(second.rows) == 10
    beyond = _find(filled, limit=10, offset=60)
    assert beyond.total == 60 and beyond.rows == ()


def test_tenants_never_mix(filled):
    assert _find(filled, tenant="tenant-2").total == 5
    assert _find(filled, tenant="tenant-2", reference="INV").total == 0
    assert _find(filled, reference="OTHER").total == 0
    assert _find(filled, tenant="nobody").total == 0


def test_text_terms_are_anded_case_and_accent_insensitive(filled):
    assert _ids(_find(filled, terms=("CREME BRULEE",))) == ["b-0005"]
    assert _ids(_find(filled, terms=("refund", "brûlée"))) == ["b-0005"]
    assert _find(filled, terms=("refund", "beans")).total == 0  # b-0005 has no "beans"
    cafe = _find(filled, terms=("cafe",))
    assert cafe.total == 20 and all(r.contact_name == "Café Zoë" for r in cafe.rows)
    # found in different fields: contact and reference
    assert _ids(_find(filled, terms=("zoe", "inv-0003"))) == ["b-0003"]


def test_short_terms_are_still_exact(filled):
    """Trigram indexes need three characters; one- and two-letter terms must still be right."""
    assert _find(filled, terms=("zo",)).total == 20
    assert _find(filled, terms=("&",)).total == 20  # O'Brien & Sons
    assert _find(filled, terms=("'b",)).total == 20
    assert _find(filled, terms=("q",)).total == 0
    assert _find(filled, terms=("é",)).total == 59  # folds to "e": every row but b-0007 (no text)


def test_a_term_never_matches_across_two_fields(filled):
    # contact "cafe zoe" then reference "inv-0000": "zoe inv" is in neither field
    assert _find(filled, terms=("zoe\ninv",)).total == 0
    assert _find(filled, terms=("zoe inv",)).total == 0


def test_contact_and_reference_match_only_their_own_field(filled):
    assert _find(filled, contact="harbour").total == 19  # less b-0007 (no contact)
    assert _find(filled, contact="inv").total == 0  # in every reference, no contact
    assert _find(filled, contact="ar").total == 19  # short: "harbour"
    assert _ids(_find(filled, reference="inv-0042")) == ["b-0042"]
    assert _find(filled, reference="beans").total == 0
    assert _find(filled, reference="v-").total == 59  # b-0007 has no reference
    assert _find(filled, contact="zoe", reference="inv-000").total == 4  # b-0000, 3, 6, 9


def test_typed_filters(filled):
    assert _ids(_find(filled, types=("RECEIVE",))) == ["b-0005"]
    assert _find(filled, types=("SPEND", "RECEIVE")).total == 60
    assert _ids(_find(filled, bank_account_id="acc-2")) == ["b-0005"]
    assert _find(filled, reconciled=True).total == 30
    assert _find(filled, reconciled=False).total == 30
    days = _find(filled, date_from=date(2026, 10, 30), date_to=date(2026, 10, 31))
    assert {r.date for r in days.rows} == {date(2026, 10, 30), date(2026, 10, 31)} and days.total == 4
    assert _find(filled, min_total_e4=650_000).total == 5  # 65..69
    assert _find(filled, max_total_e4=109_999).total == 1  # 10.00
    assert _find(filled, min_total_e4=200_000, max_total_e4=210_000).total == 2  # 20, 21


def test_exact_amount_with_and_without_sign(db):
    _fill(
        db,
        [
            _txn(1, total=Decimal("57.33")),
            _txn(2, total=Decimal("57.33"), type="RECEIVE"),
            _txn(3, total=Decimal("57.30")),
            _txn(4, total=Decimal("1234.56"), type="RECEIVE"),
        ],
    )
    assert _find(db, total_e4=573_300).total == 2
    assert _ids(_find(db, signed_e4=-573_300)) == ["b-0001"]
    assert _ids(_find(db, signed_e4=573_300)) == ["b-0002"]
    assert _ids(_find(db, signed_e4=12_345_600)) == ["b-0004"]
    assert _find(db, signed_e4=-12_345_600).total == 0


@pytest.mark.parametrize(
    ("typed", "stored", "other"),
    [
        ("50%", "50% off", "50 off"),
        ("a_b", "a_b cups", "axb cups"),
        ("c:\\x", "c:\\x path", "c:x path"),
        ("\\%", "odd \\% text", "odd % text"),
        ("'); DROP TABLE mirror_transactions; --", "'); drop table mirror_transactions; -- x", "drop"),
        ('"quoted" AND NOT x', 'say "quoted" and not x', "say quoted and not x"),
        ("NEAR(a b)", "near(a b)", "near a b"),
        ("*", "star * here", "star here"),
        ("日本語", "日本語の本", "日本"),
        ("🧾 receipt", "🧾 receipt kept", "receipt"),
    ],
)
def test_hostile_text_is_only_ever_a_substring(db, typed, stored, other):
    _fill(db, [_txn(1, line_items=(_line(stored),)), _txn(2, line_items=(_line(other),))])
    assert _ids(_find(db, terms=(typed,))) == ["b-0001"]
    assert _find(db, contact=typed).total == 0
    assert _find(db, reference=typed).total == 0
    assert _find(db).total == 2  # nothing was dropped


def test_very_long_and_unmatched_terms(filled):
    assert _find(filled, terms=("x" * 5000,)).total == 0
    assert _find(filled, terms=("beans " * 100,)).total == 0
    assert _find(filled, terms=("zzqx",)).total == 0
    assert _find(filled, terms=("",)).total == 60  # an empty term constrains nothing


def test_the_index_follows_upserts_and_deletes(db):
    _fill(db, [_txn(1, line_items=(_line("Espresso machine"),)), _txn(2)])
    assert _ids(_find(db, terms=("espresso",))) == ["b-0001"]
    _fill(db, [_txn(1, line_items=(_line("Grinder repair"),))])  # ON CONFLICT DO UPDATE
    assert _find(db, terms=("espresso",)).total == 0
    assert _ids(_find(db, terms=("grinder",))) == ["b-0001"]
    # an update that changes nothing textual leaves the index as it was
    _fill(db, [_txn(1, line_items=(_line("Grinder repair"),), is_reconciled=True)])
    assert _ids(_find(db, terms=("grinder",), reconciled=True)) == ["b-0001"]
    remove_rows(db, T, ["b-0001"])
    assert _find(db, terms=("grinder",)).total == 0
    _fill(db, [_txn(1, line_items=(_line("Grinder repair"),))])  # back again, a new rowid
    assert _ids(_find(db, terms=("grinder",))) == ["b-0001"]
    if db.is_sqlite:
        with db.engine.begin() as conn:  # FTS5 raises if its index disagrees with the content
            conn.exec_driver_sql("INSERT INTO mirror_text_fts(mirror_text_fts) VALUES ('integrity-check')")


def test_bank_accounts_from_the_mirror(filled):
    accounts = mirror_bank_accounts(filled, T)
    assert [(a.account_id, a.code, a.name) for a in accounts] == [
        ("acc-1", "090", "Business Bank Account"),
        ("acc-2", "091", "Credit Card"),
    ]
    assert mirror_bank_accounts(filled, "nobody") == []


def test_the_text_index_is_there(db):
    with db.engine.connect() as conn:
        assert text_index(conn) == ("FTS5 trigram" if db.is_sqlite else "pg_trgm GIN")


def test_sqlite_text_search_uses_the_fts_index(sqlite_db):
    _fill(sqlite_db, [_txn(n) for n in range(30)])
    with sqlite_db.engine.connect() as conn:
        plan = conn.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT rowid FROM mirror_text_fts "
                "WHERE mirror_text_fts MATCH :q AND rowid BETWEEN 0 AND 1"
            ),
            {"q": '"harbour"'},
        ).all()
    assert any("VIRTUAL TABLE INDEX" in str(row) for row in plan), plan


def test_rows_come_back_whole(filled):
    row = _find(filled, reference="inv-0005").rows[0]
    assert row == replace(
        row_from_transaction(
            _txn(5, type="RECEIVE", bank_account=CARD, line_items=(_line("Refund for Crème brûlée"),))
        )
    )


def test_oldest_first_is_the_exact_reverse_and_pages_without_overlap(db):
    _fill(db, [_txn(n) for n in range(45)])
    newest = _ids(search_mirror(db, T, MirrorFilter(), limit=100))
    pages = [
        _ids(search_mirror(db, T, MirrorFilter(), offset=o, limit=10, oldest_first=True))
        for o in (0, 10, 20, 30, 40)
    ]
    assert [i for page in pages for i in page] == newest[::-1]


def test_unreconciled_rows_are_every_type_oldest_first_and_nothing_else(db):
    _fill(
        db,
        [
            _txn(1, is_reconciled=False),
            _txn(2, is_reconciled=True),
            _txn(3, is_reconciled=False, type="SPEND-TRANSFER"),
            _txn(5, is_reconciled=False, type="RECEIVE-OVERPAYMENT"),
        ],
    )
    _fill(db, [_txn(7, is_reconciled=False)], tenant="tenant-2")
    rows = unreconciled_rows(db, T)
    assert [r.bank_transaction_id for r in rows] == ["b-0005", "b-0003", "b-0001"]  # oldest first
    assert {r.type for r in rows} == {"SPEND", "SPEND-TRANSFER", "RECEIVE-OVERPAYMENT"}


@pytest.mark.parametrize("oldest_first", [False, True])
@pytest.mark.parametrize(
    "wanted",
    [
        {"terms": ("beans",)},
        {"terms": ("beans",), "reconciled": False},  # every row a text match, half pass the status
        {"terms": ("inv-000",), "reconciled": False},  # a few text matches
        {"terms": ("beans",), "reconciled": False, "min_total_e4": 300_000},
    ],
)
def test_text_pages_cut_through_days_in_the_order_of_the_whole_list(db, oldest_first, wanted):
    """Several transactions a day: a page that ends inside a day takes that day's rows in
    BankTransactionID order, and pages of an odd size neither skip nor repeat a row."""
    txns = [_txn(n, date=date(2026, 11, 1) - timedelta(days=n % 4)) for n in range(60)]
    _fill(db, txns)
    term = wanted["terms"][0]
    kept = [
        t
        for t in txns
        if (term in t.reference.lower() or term in t.line_items[0].description.lower())
        and ("reconciled" not in wanted or t.is_reconciled is wanted["reconciled"])
        and t.total * 10_000 >= wanted.get("min_total_e4", 0)
    ]
    kept.sort(key=lambda t: (t.date, t.bank_transaction_id), reverse=not oldest_first)
    expected = [t.bank_transaction_id for t in kept]
    pages = [
        search_mirror(db, T, MirrorFilter(**wanted), offset=o, limit=7, oldest_first=oldest_first)
        for o in range(0, 63, 7)
    ]
    assert {p.total for p in pages} == {len(expected)} and expected
    assert [i for p in pages for i in _ids(p)] == expected
