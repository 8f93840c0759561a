"""``contact:`` through the organisation's distinct contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from bot.xero.models import ContactRef
from storage import migrate, mirror_contacts
from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror import remove_rows
from storage.mirror_contacts import contacts_holding, distinct_contacts
from tests.storage.migrating import mirrored_at_revision
from tests.storage.test_mirror_search import T, _fill, _find, _ids, _txn, fill_sixty

_QUERIES = (
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
        assert contacts_holding(session, T, "o") == ("cafe zoe", "harbour coffee roasters", "o'brien & sons")
        assert contacts_holding(session, T, "zzqx") == ()


def test_contact_matches_the_same_through_the_dictionary_and_the_text_index(filled, monkeypatch):
    through_dictionary = {str(q): _pages(filled, **q) for q in _QUERIES}
    monkeypatch.setattr(mirror_contacts, "MOST", 1)  # too many contacts: the text index answers
    with filled.session() as session:
        assert contacts_holding(session, T, "harbour") is None
    assert {str(q): _pages(filled, **q) for q in _QUERIES} == through_dictionary
    assert through_dictionary[str({"contact": "harbour"})][0][0] == 19
    assert through_dictionary[str({"contact": "nobody at all"})] == [(0, [])] * 3


def test_the_dictionary_follows_upserts_and_deletes(db):
    _fill(db, [_txn(1), _txn(2)])  # Harbour Coffee Roasters, O'Brien & Sons
    _fill(db, [_txn(1, contact=ContactRef("c-9", "Kōwhai Kitchens"))])  # renamed on an update
    assert _ids(_find(db, contact="kowhai")) == ["b-0001"]
    assert _find(db, contact="harbour").total == 0
    remove_rows(db, T, ["b-0002"])
    with db.session() as session:
        assert distinct_contacts(session, T) == ["kowhai kitchens"]
    assert _find(db, contact="brien").total == 0


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
