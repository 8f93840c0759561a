"""Short terms (one or two characters) through their gram tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine

from storage.crypto import TokenCipher
from storage.db import Database
from storage.mirror import remove_rows
from storage.mirror_search import MirrorFilter, search_mirror
from storage.search_grams import gram_token, grams, has_token
from tests.storage.migrating import mirrored_at_revision
from tests.storage.test_mirror_search import T, _fill, _find, _ids, _line, _txn


def test_grams_are_every_character_and_pair_within_a_word():
    tokens = set(grams("ab c\nzō").split())
    assert tokens == {gram_token(g) for g in ("a", "b", "ab", "c", "z", "ō", "zō")}
    assert gram_token("b ") not in tokens and gram_token("bc") not in tokens  # never across a space
    assert gram_token("ō") == "x14d" and gram_token("ab") == "x61g62"
    assert grams("") == ""
    assert has_token("ab") and has_token("é") and not has_token("abc") and not has_token("a ")


def test_short_terms_at_a_fields_end_and_beyond_ascii(db):
    _fill(db, [_txn(1, reference="ZQ"), _txn(2, line_items=(_line("Kōwhai"),)), _txn(3)])
    assert _ids(_find(db, terms=("zq",))) == ["b-0001"]  # the last two characters of a field
    assert _ids(_find(db, reference="q")) == ["b-0001"]
    assert _ids(_find(db, terms=("ow",))) == ["b-0002"]  # folded: "kowhai"
    assert _ids(_find(db, terms=("ŌW",))) == ["b-0002"]  # the term is folded as the text was


def test_short_terms_follow_upserts_and_deletes(db):
    _fill(db, [_txn(1, line_items=(_line("qx"),)), _txn(2)])
    assert _ids(_find(db, terms=("qx",))) == ["b-0001"]
    _fill(db, [_txn(1, line_items=(_line("jv"),))])
    assert _find(db, terms=("qx",)).total == 0
    assert _ids(_find(db, terms=("jv",))) == ["b-0001"]
    remove_rows(db, T, ["b-0001"])
    assert _find(db, terms=("jv",)).total == 0
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO mirror_grams_fts(mirror_grams_fts) VALUES ('integrity-check')")


def test_rows_mirrored_before_the_grams_get_them(db_url, encryption_key):
    """The migration fills ``search_grams`` for rows already there, and indexes them."""
    engine = create_engine(db_url)
    mirrored_at_revision(engine, "xero_budget", _txn(1, reference="OLD-QZ"), tenant=T)
    engine.dispose()
    db = Database(db_url, TokenCipher([encryption_key]))
    try:
        assert _ids(_find(db, terms=("qz",))) == ["b-0001"]
        assert _ids(_find(db, terms=("old-qz",))) == ["b-0001"]
    finally:
        db.dispose()


def test_a_short_term_no_index_can_look_up_is_still_tested(db):
    """Folded input never holds such a term, but the filter must not drop it."""
    _fill(db, [_txn(1, line_items=(_line("x q"),)), _txn(2, line_items=(_line("xq"),))])
    found = search_mirror(db, T, MirrorFilter(terms=(" q",)))
    assert [r.bank_transaction_id for r in found.rows] == ["b-0001"]
    found = search_mirror(db, T, MirrorFilter(terms=(" q", "xq")))
    assert found.total == 0
    found = search_mirror(db, T, MirrorFilter(terms=(" q", "x")))
    assert [r.bank_transaction_id for r in found.rows] == ["b-0001"]


def test_a_row_beyond_the_sqlite_text_keys_is_refused_not_indexed_wrongly(sqlite_db):
    """The text index packs organisation number and row id into its key: past them, a loud error."""
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage.search_keys import ID_MASK

    columns = (
        "id, tenant_id, bank_transaction_id, type, status, date, bank_account_id, bank_account_name, "
        "total_e4, signed_e4, is_reconciled, updated_utc, line_descriptions, has_attachments, search_text, "
        "search_grams, mirrored_at"
    )
    row = (
        ":id, 't-1', :txn, 'SPEND', 'AUTHORISED', '2026-11-01', 'a', 'Bank', 100, -100, 0, "
        "'2026-11-01 00:00:00', '', 0, 'x', '', '2026-11-01 00:00:00'"
    )
    insert = text(f"INSERT INTO mirror_transactions ({columns}) VALUES ({row})")  # noqa: S608
    with sqlite_db.engine.begin() as conn:
        conn.execute(insert, {"id": ID_MASK, "txn": "b-last"})  # the last id that fits
    with pytest.raises(DBAPIError, match="key space"), sqlite_db.engine.begin() as conn:
        conn.execute(insert, {"id": ID_MASK + 1, "txn": "b-beyond"})


def test_the_migrations_key_guard_names_the_key_spaces_limits():
    import importlib

    from storage.search_keys import ID_MASK, MAX_TENANTS

    migration = importlib.import_module("storage.migrations.versions.0009_search_grams")
    assert f"new.id > {ID_MASK} " in migration._KEY_GUARD and f") > {MAX_TENANTS};" in migration._KEY_GUARD
