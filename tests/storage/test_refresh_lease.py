"""The refresh lease: Xero is called outside any transaction, and a crashed holder is taken over.

Storage-level: ``refresh`` is a plain callable standing in for Xero's token endpoint, so each test
can look at the database from another connection while "Xero" is being called, or kill the
process at a chosen point.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from storage import grants
from storage.crypto import TokenCipher
from storage.db import Database
from tests.storage.fakes import Conn, Tokens


def expired_grant(db, user="U1", refresh="refresh-0"):
    return grants.save_consent(
        db,
        slack_team_id="T1",
        slack_user_id=user,
        xero_user_id=f"xu-{user}",
        tokens=Tokens("old-access", refresh, expires_at=datetime.now(UTC) - timedelta(seconds=5)),
        connections=[Conn("c1", "ten-1", "Harbour Coffee")],
    ).grant


def write_from_elsewhere(db_url: str, grant_id: int) -> None:
    """Another process's writer touching the same grant row, unwilling to wait more than 0.3 s."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0.3, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE grants SET reconnect_notified_at = NULL WHERE id = ?", (grant_id,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '300ms'")
            conn.exec_driver_sql(f"UPDATE grants SET reconnect_notified_at = NULL WHERE id = {int(grant_id)}")
    finally:
        engine.dispose()


def test_xero_is_called_with_no_lock_held_on_the_grant(db, db_url):
    """While Xero answers slowly, other writers (even of the same row) go ahead."""
    grant = expired_grant(db)
    problems: list[BaseException] = []

    def refresh(rt):
        try:
            write_from_elsewhere(db_url, grant.id)
        except Exception as exc:  # noqa: BLE001 - asserted below
            problems.append(exc)
        return Tokens("new-access", "refresh-1")

    token = grants.valid_access_token(db, grant.id, refresh)
    assert problems == []
    assert token.refreshed and token.token == "new-access"
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-1"


def test_a_waiter_uses_the_holders_new_token(db):
    grant = expired_grant(db)
    started, calls, results = threading.Event(), [], []

    def slow(rt):
        calls.append(rt)
        started.set()
        threading.Event().wait(0.5)  # Xero taking its time; the other caller arrives meanwhile
        return Tokens("access-1", "refresh-1")

    holder = threading.Thread(target=lambda: results.append(grants.valid_access_token(db, grant.id, slow)))
    holder.start()
    assert started.wait(10)
    waiter = grants.valid_access_token(db, grant.id, slow)
    holder.join(10)
    assert calls == ["refresh-0"]
    assert waiter.token == "access-1" and not waiter.refreshed
    assert results[0].refreshed and results[0].generation == waiter.generation == grant.generation + 1


def test_the_attempt_is_recorded_before_xero_is_called(db):
    grant = expired_grant(db)
    seen = []

    def refresh(rt):
        seen.append(grants.get_grant(db, grant.id))
        raise TimeoutError("the answer was lost")

    with pytest.raises(TimeoutError):
        grants.valid_access_token(db, grant.id, refresh)
    during = seen[0]
    assert during.refresh_pending_generation == grant.generation and during.refresh_pending_since is not None
    after = grants.get_grant(db, grant.id)
    # Xero may have rotated: the attempt stays recorded (for the clock), the lease is given back.
    assert after.refresh_pending_generation == grant.generation and after.refreshing_until is None
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-0"
    # Completing it clears the record.
    grants.valid_access_token(db, grant.id, lambda rt: Tokens("a", "refresh-1"))
    done = grants.get_grant(db, grant.id)
    assert done.refresh_pending_generation is None and done.refresh_pending_since is None


def _crashing_holder(url: str, key: str, grant_id: int, point: str, used: str) -> None:
    import os

    os.environ["RECON_CHAOS_CRASH_AT"] = point
    db = Database(url, TokenCipher([key]))

    def refresh(rt: str) -> Tokens:
        Path(used).write_text(rt)  # what "Xero" received from the holder
        return Tokens("access-lost", "refresh-lost")

    grants.valid_access_token(db, grant_id, refresh)


@pytest.mark.parametrize("point", ["before_xero", "after_xero", "before_commit"])
def test_a_killed_holder_is_taken_over_with_the_same_refresh_token(
    db, db_url, encryption_key, tmp_path, point
):
    grant = expired_grant(db)
    used = tmp_path / "used.txt"
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_crashing_holder, args=(db_url, encryption_key, grant.id, point, str(used)))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL

    after = grants.get_grant(db, grant.id)
    assert after.generation == grant.generation and after.status == "active"
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-0"
    assert after.refreshing_until is not None and after.refresh_pending_generation == grant.generation
    # The clock sees the unfinished attempt at once, not after seven idle days.
    soon = lambda: datetime.now(UTC) + timedelta(minutes=2)  # noqa: E731 - past the lease
    assert grants.grants_due_for_keepalive(db, older_than=timedelta(days=7), now=soon) == [grant.id]

    # While the dead holder's lease lasts, others wait (and give up after their own limit).
    with pytest.raises(grants.RefreshBusy):
        grants.valid_access_token(db, grant.id, lambda rt: Tokens("x", "y"), wait=0.3)

    taken = []

    def takeover(rt):
        taken.append(rt)
        return Tokens("access-2", "refresh-2")

    token = grants.valid_access_token(db, grant.id, takeover, now=soon)
    assert taken == ["refresh-0"]  # the very token the holder sent: Xero's grace period covers it
    if point != "before_xero":
        assert used.read_text() == "refresh-0"
    assert token.refreshed and token.generation == grant.generation + 1
    done = grants.get_grant(db, grant.id)
    assert done.refreshing_until is None and done.refresh_pending_generation is None


def test_a_slow_holder_whose_lease_expired_loses_the_compare_and_set(db):
    """The late holder's rotation is discarded; it uses the token the taker committed."""
    grant = expired_grant(db)
    late_start, taker_done = threading.Event(), threading.Event()
    late_result = []

    def late(rt):
        late_start.set()
        assert taker_done.wait(10)
        return Tokens("access-late", "refresh-late")

    t = threading.Thread(target=lambda: late_result.append(grants.valid_access_token(db, grant.id, late)))
    t.start()
    assert late_start.wait(10)
    later = lambda: datetime.now(UTC) + timedelta(minutes=5)  # noqa: E731
    taker = grants.valid_access_token(
        db, grant.id, lambda rt: Tokens("access-taker", "refresh-taker"), now=later
    )
    taker_done.set()
    t.join(10)
    assert taker.refreshed and taker.token == "access-taker"
    assert not late_result[0].refreshed and late_result[0].token == "access-taker"
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-taker"
    assert grants.get_grant(db, grant.id).generation == grant.generation + 1
