"""Telling the truth about an edit, against the sandbox over HTTP on both databases.

Once Xero has confirmed the write, whatever fails afterwards is a warning beside "Saved", never
"Nothing was changed"; the History note's key is the note's own; ``/recon edit <id>`` finds a
transaction in any of the user's organisations.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from bot.demo.xero_world import TEAM, make_world
from bot.services import edit as edit_module
from bot.services.edit import AUDIT_LOST, HISTORY_LOST, TransactionNotFound, history_key
from bot.services.errors import NotConnected
from storage.audit import audit_for_transaction

USER = "U0ALICE"


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=200)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


def editable(world, tenant_id: str, skip: int = 0) -> dict:
    found = [
        t
        for t in world.transactions(tenant_id)
        if t["Type"] in ("SPEND", "RECEIVE") and t["Status"] == "AUTHORISED"
    ]
    return found[skip]


def save(world, tenant_id: str, txn: dict, **fields):
    form = world.services.edit.load(TEAM, USER, tenant_id, txn["BankTransactionID"])
    values = {"reference": form.txn.reference, "url": form.txn.url, "note": None, **fields}
    return world.services.edit.save(
        TEAM,
        USER,
        "alice",
        tenant_id,
        txn["BankTransactionID"],
        expected_updated=form.txn.updated_date_utc,
        **values,
    )


def _broken_db(times: int):
    real = edit_module.write_audit
    calls = {"n": 0}

    def write(db, records):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("INSERT INTO audit_log", {}, Exception("database is locked"))
        return real(db, records)

    return write, calls


def test_a_lost_audit_row_after_xero_saved_says_saved_with_a_warning_and_is_logged_loudly(
    world, monkeypatch, caplog
):
    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    txn = editable(world, tenant)
    write, calls = _broken_db(times=100)
    monkeypatch.setattr(edit_module, "write_audit", write)
    monkeypatch.setattr(edit_module, "AUDIT_BACKOFF_S", (0, 0))
    with caplog.at_level(logging.ERROR, logger="bot.services.edit"):
        outcome = save(world, tenant, txn, reference="AFTER-AUDIT-FAIL")
    # Before: the audit insert raised and the user read "Nothing was changed" while Xero had it.
    assert outcome.kind == "saved"
    assert AUDIT_LOST in outcome.warnings
    assert "Nothing was changed" not in outcome.message
    assert world.sb.get_transaction(tenant, txn["BankTransactionID"])["Reference"] == "AFTER-AUDIT-FAIL"
    assert calls["n"] >= edit_module.AUDIT_ATTEMPTS  # retried before giving up
    lost = [r.getMessage() for r in caplog.records if "AUDIT ROW LOST" in r.getMessage()]
    assert any("field=reference" in m and "'AFTER-AUDIT-FAIL'" in m for m in lost)


def test_an_audit_insert_that_fails_once_is_retried_and_kept(world, monkeypatch):
    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    txn = editable(world, tenant)
    write, _calls = _broken_db(times=1)
    monkeypatch.setattr(edit_module, "write_audit", write)
    monkeypatch.setattr(edit_module, "AUDIT_BACKOFF_S", (0, 0))
    outcome = save(world, tenant, txn, reference="RETRIED-AUDIT")
    assert outcome.kind == "saved" and outcome.warnings == ()
    rows = audit_for_transaction(world.db, tenant, txn["BankTransactionID"])
    assert ("reference", "RETRIED-AUDIT", "success") in {(a.field, a.after, a.outcome) for a in rows}


def test_a_history_note_whose_connection_dies_after_the_write_still_says_saved(world, monkeypatch):
    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    txn = editable(world, tenant)

    def refresh_died(*_args, **_kwargs):
        raise NotConnected("https://login.example/consent", reconnect=True)

    monkeypatch.setattr(world.services.xero, "add_history_note", refresh_died)
    outcome = save(world, tenant, txn, reference="NOTE-LOST")
    # Before: NotConnected escaped the service and the modal said "Nothing was changed".
    assert outcome.kind == "saved" and not outcome.history_added
    assert HISTORY_LOST in outcome.message
    assert world.sb.get_transaction(tenant, txn["BankTransactionID"])["Reference"] == "NOTE-LOST"
    rows = audit_for_transaction(world.db, tenant, txn["BankTransactionID"])
    assert {(a.field, a.outcome) for a in rows} >= {("reference", "success"), ("history", "failed")}


def test_a_second_note_on_an_unchanged_transaction_is_a_new_note(world):
    tenant = world.services.connect.default_org(TEAM, USER).tenant_id
    txn = editable(world, tenant)
    first = save(world, tenant, txn, note="Checked with the supplier")
    second = save(world, tenant, txn, note="Receipt is in the shared drive")
    assert (first.kind, second.kind) == ("saved", "saved")
    history = " ".join(str(h) for h in world.sb.history(tenant, txn["BankTransactionID"]))
    # Before: both notes had one key, so Xero replayed the first answer and the second was lost.
    assert "Checked with the supplier" in history and "Receipt is in the shared drive" in history


def test_the_history_key_depends_on_the_note_and_the_user():
    from datetime import UTC, datetime

    at = datetime(2026, 11, 1, tzinfo=UTC)
    base = history_key("t", "x", at, "REF", "", "note", "U1")
    assert base == history_key("t", "x", at, "REF", "", "note", "U1")  # a double submit is one note
    assert base != history_key("t", "x", at, "REF", "", "another note", "U1")
    assert base != history_key("t", "x", at, "REF", "", "note", "U2")
    assert len(base) <= 128


def test_edit_without_an_organisation_finds_the_transaction_in_any_of_the_users(world):
    connect = world.services.connect
    default = connect.default_org(TEAM, USER)
    other = next(t for t in connect.organisations(TEAM, USER) if t.tenant_id != default.tenant_id)
    txn = editable(world, other.tenant_id)
    form = world.services.edit.load(TEAM, USER, None, txn["BankTransactionID"])
    assert form.org.tenant_id == other.tenant_id
    assert form.txn.bank_transaction_id == txn["BankTransactionID"]


def test_edit_of_an_id_in_none_of_the_users_organisations_names_where_it_looked(world):
    with pytest.raises(TransactionNotFound) as err:
        world.services.edit.load(TEAM, USER, None, "00000000-0000-4000-8000-000000000001")
    names = [t.tenant_name for t in world.services.connect.organisations(TEAM, USER)]
    assert all(name in str(err.value) for name in names)
