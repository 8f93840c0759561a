"""``contact:`` through the organisation's distinct contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from bot.xero.models import ContactRef
from storage import migrate, mirror_contacts
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror import forget_tenant, remove_rows
from storage.mirror_contacts import distinct_contacts, prune_contacts
from tests.storage.migrating import mirrored_at_revision
from tests.storage.test_mirror_search import T, _fill, _find, _ids, _line, _txn, fill_sixty

_QUERIES = (
    {"terms": ("harbour",)},
    {"terms": ("coffee", "beans")},
    {"terms": ("zoe", "inv-00")},
    {"terms": ("cafe", "zoe", "harbour", "o'brien")},  # more terms than are split 2^n ways
    {"terms": ("harbour",), "reconciled": False, "types": ("SPEND",)},
    {"contact": "harbour"},
    {"contact": "o'brien"},
    {"contact": "cafe zoe"},
    {"contact": "e"},  # every contact holds an "e"
    {"contact": "ar", "reconciled": True},
    {"contact": "zoe", "reference": "inv-000"},
    {"contact": "harbour", "terms": ("beans",), "types": ("SPEND",)},
    {"contact": "coffee", "min_total_e4": 300_000},
    {"contact": "nobody at all"},
)


@pytest.fixture
def filled(db):
    return fill_sixty(db)


def _pages(db, **wanted) -> list[tuple[int, list[str]]]:
    return [(p.total, _ids(p)) for p in (_find(db, limit=4, offset=o, **wanted) for o in (0, 4, 16))]


def test_the_dictionary_is_the_organisations_distinct_folded_contacts(filled):
    with filled.session() as session:
        assert distinct_contacts(session, T) == ["", "cafe zoe", "harbour coffee roasters", "o'brien & sons"]
        assert distinct_contacts(session, T, most=3) is None
        assert distinct_contacts(session, "nobody") == []


def test_contact_and_text_match_the_same_with_and_without_the_dictionary(filled, monkeypatch):
    with_dictionary = {str(q): _pages(filled, **q) for q in _QUERIES}
    monkeypatch.setattr(mirror_contacts, "MOST", 1)  # too many contacts: each row's is tested in SQL
    with filled.session() as session:
        assert distinct_contacts(session, T) is None
    assert {str(q): _pages(filled, **q) for q in _QUERIES} == with_dictionary
    assert with_dictionary[str({"contact": "harbour"})][0][0] == 19
    assert with_dictionary[str({"terms": ("harbour",)})][0][0] == 19
    assert with_dictionary[str({"contact": "nobody at all"})] == [(0, [])] * 3


def test_a_term_in_the_contact_and_in_the_rest_is_one_match(db):
    """Free text splits between the contact (its own index) and the rest (the trigram index):
    a row holding a term in both, or one term in each, is found once."""
    _fill(
        db,
        [
            _txn(1, contact=ContactRef("c-1", "Beanery Ltd"), line_items=(_line("Beans"),)),  # both
            _txn(2, contact=ContactRef("c-2", "Beanery Ltd"), line_items=(_line("Milk"),)),  # contact
            _txn(3, contact=ContactRef("c-3", "Dairy Co"), line_items=(_line("Beans"),)),  # lines
            _txn(4, contact=ContactRef("c-4", "Dairy Co"), reference="MILK-BEAN"),  # reference
            _txn(5, contact=ContactRef("c-5", "Dairy Co"), line_items=(_line("Sugar"),)),  # neither
        ],
    )
    for most in (mirror_contacts.MOST, 0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(mirror_contacts, "MOST", most)
            assert _ids(_find(db, terms=("bean",))) == ["b-0001", "b-0002", "b-0003", "b-0004"], most
            assert _ids(_find(db, terms=("bean", "milk"))) == ["b-0002", "b-0004"], most
            assert _ids(_find(db, terms=("dairy", "beans"))) == ["b-0003", "b-0004"], most
            assert _ids(_find(db, terms=("beanery", "beans"))) == ["b-0001"], most
            assert _find(db, terms=("bean",), limit=2, offset=1).total == 4
            assert _ids(_find(db, terms=("bean",), limit=2, offset=1)) == ["b-0002", "b-0003"], most
            assert _ids(_find(db, terms=("ea",))) == ["b-0001", "b-0002", "b-0003", "b-0004"], most


def test_the_dictionary_follows_upserts_and_deletes(db):
    _fill(db, [_txn(1), _txn(2)])  # Harbour Coffee Roasters, O'Brien & Sons
    _fill(db, [_txn(1, contact=ContactRef("c-9", "Kōwhai Kitchens"))])  # renamed on an update
    assert _ids(_find(db, contact="kowhai")) == ["b-0001"]
    assert _ids(_find(db, terms=("kitchens",))) == ["b-0001"]
    assert _find(db, contact="harbour").total == 0
    remove_rows(db, T, ["b-0002"])
    assert _find(db, contact="brien").total == 0
    assert _find(db, terms=("brien",)).total == 0
    with db.session() as session:  # contacts no row carries stay listed until a whole read
        listed = ["harbour coffee roasters", "kowhai kitchens", "o'brien & sons"]
        assert distinct_contacts(session, T) == listed
        assert prune_contacts(session, T) == 2
        assert distinct_contacts(session, T) == ["kowhai kitchens"]
    forget_tenant(db, T)
    with db.session() as session:
        assert distinct_contacts(session, T) == []


def test_rows_mirrored_before_the_contact_column_get_it(db_url, encryption_key):
    """The migration fills ``contact_key`` from the text of rows already there."""
    engine = create_engine(db_url)
    traders = _txn(1, contact=ContactRef("c-1", "Ōtautahi Traders"))
    mirrored_at_revision(engine, "search_grams", traders, tenant=T, search_grams="")
    engine.dispose()
    db = Database(db_url, TokenCipher([encryption_key]))
    try:
        with db.session() as session:
            assert distinct_contacts(session, T) == ["otautahi traders"]
        assert _ids(_find(db, contact="tautahi")) == ["b-0001"]
    finally:
        db.dispose()


@pytest.mark.postgres
def test_postgresql_vacuums_the_rewritten_table_once_the_upgrade_commits(postgres_url):
    """Without it every count reads the table until autovacuum happens by (index-only scans
    need the visibility map the rewrite emptied)."""
    engine = create_engine(postgres_url)

    def all_visible() -> bool:
        with engine.connect() as conn:
            visible, pages = conn.exec_driver_sql(
                "SELECT relallvisible, relpages FROM pg_class WHERE relname = 'mirror_transactions'"
            ).one()
        return 0 < visible == pages

    try:
        migrate.upgrade(engine)
        mirrored_at_revision(engine, "search_grams", _txn(1), tenant="tenant-vacuumed", search_grams="")
        assert all_visible()
    finally:
        engine.dispose()
