"""The single-flight refresh: one refresh across processes, nothing changed on failure."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta

import pytest

from storage import grants
from storage.crypto import TokenCipher
from storage.db import Database
from tests.storage.fakes import Conn, Tokens


class InvalidGrant(Exception):
    pass


def expired_grant(db):
    result = grants.save_consent(
        db,
        slack_team_id="T1",
        slack_user_id="U1",
        xero_user_id="xu-1",
        tokens=Tokens("old-access", "refresh-0", expires_at=datetime.now(UTC) - timedelta(seconds=5)),
        connections=[Conn("c1", "ten-1", "Harbour Coffee")],
    )
    return result.grant


def test_valid_token_is_returned_without_refresh(db):
    grant = grants.save_consent(
        db,
        slack_team_id="T1",
        slack_user_id="U1",
        xero_user_id="xu",
        tokens=Tokens("fresh-access", "r"),
        connections=[],
    ).grant
    calls = []
    token = grants.valid_access_token(db, grant.id, lambda rt: calls.append(rt))
    assert token.token == "fresh-access" and not token.refreshed and calls == []


def test_expired_token_is_refreshed_and_rotation_stored(db):
    grant = expired_grant(db)
    seen = []

    def refresh(rt):
        seen.append(rt)
        return Tokens("new-access", "refresh-1")

    token = grants.valid_access_token(db, grant.id, refresh)
    assert seen == ["refresh-0"]
    assert token.token == "new-access" and token.refreshed and token.generation == grant.generation + 1
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-1"
    again = grants.valid_access_token(db, grant.id, refresh)
    assert again.token == "new-access" and seen == ["refresh-0"]


def test_failing_refresh_changes_nothing(db):
    grant = expired_grant(db)

    def boom(_rt):
        raise TimeoutError("xero did not answer")

    with pytest.raises(TimeoutError):
        grants.valid_access_token(db, grant.id, boom)
    after = grants.get_grant(db, grant.id)
    assert after.generation == grant.generation and after.status == "active"
    assert grants.refresh_token_for_revocation(db, grant.id) == "refresh-0"


def test_invalid_grant_marks_needs_reconnect_under_the_lock(db):
    grant = expired_grant(db)

    def dead(_rt):
        raise InvalidGrant()

    with pytest.raises(InvalidGrant):
        grants.valid_access_token(db, grant.id, dead, invalid_grant=InvalidGrant)
    assert grants.get_grant(db, grant.id).status == "needs_reconnect"
    with pytest.raises(grants.GrantNotUsable):
        grants.valid_access_token(db, grant.id, dead)


def test_forced_refresh_after_401_happens_once_per_generation(db):
    grant = grants.save_consent(
        db,
        slack_team_id="T1",
        slack_user_id="U1",
        xero_user_id="xu",
        tokens=Tokens("a0", "r0"),
        connections=[],
    ).grant
    count = []

    def refresh(rt):
        count.append(rt)
        return Tokens(f"a{len(count)}", f"r{len(count)}")

    first = grants.valid_access_token(db, grant.id, refresh, stale_generation=grant.generation)
    second = grants.valid_access_token(db, grant.id, refresh, stale_generation=grant.generation)
    assert first.refreshed and not second.refreshed and second.token == first.token == "a1"
    assert count == ["r0"]


def _worker(url: str, key: str, grant_id: int, barrier, counter, results) -> None:
    import time

    db = Database(url, TokenCipher([key]))

    def refresh(rt: str) -> Tokens:
        with counter.get_lock():
            counter.value += 1
        time.sleep(0.3)  # widen the race window: others arrive while this refresh is in flight
        return Tokens("access-after", "refresh-after")

    barrier.wait()
    token = grants.valid_access_token(db, grant_id, refresh)
    results.put(token.token)
    db.dispose()


@pytest.mark.parametrize("workers", [16])
def test_sixteen_processes_refresh_exactly_once(db, db_url, encryption_key, workers):
    grant = expired_grant(db)
    db.dispose()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    counter = ctx.Value("i", 0)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(db_url, encryption_key, grant.id, barrier, counter, results))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    tokens = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert counter.value == 1
    assert tokens == ["access-after"] * workers
    assert grants.get_grant(db, grant.id).generation == grant.generation + 1


def _taker(url: str, key: str, grant_id: int, barrier, counter, used, results, crash: bool) -> None:
    import os
    import time
    from datetime import timedelta

    if crash:
        os.environ["RECON_CHAOS_CRASH_AT"] = "after_xero"
    db = Database(url, TokenCipher([key]))

    def refresh(rt: str) -> Tokens:
        with counter.get_lock():
            counter.value += 1
        used.put(rt)
        time.sleep(0.3)
        return Tokens(f"access-{os.getpid()}", f"refresh-{os.getpid()}")

    if barrier is not None:
        barrier.wait()
    token = grants.valid_access_token(db, grant_id, refresh, lease=timedelta(seconds=3))
    results.put(token.token)
    db.dispose()


def test_a_holder_killed_after_xero_is_taken_over_once_by_fifteen_waiters(db, db_url, encryption_key):
    """The holder dies with Xero's answer in hand; of fifteen processes that then need a token,
    exactly one refreshes again — with the token the dead holder sent — and all use its result."""
    grant = expired_grant(db)
    db.dispose()
    ctx = mp.get_context("spawn")
    counter, used, results = ctx.Value("i", 0), ctx.Queue(), ctx.Queue()
    holder = ctx.Process(
        target=_taker, args=(db_url, encryption_key, grant.id, None, counter, used, results, True)
    )
    holder.start()
    holder.join(60)
    assert holder.exitcode == -9 and counter.value == 1

    barrier = ctx.Barrier(15)
    procs = [
        ctx.Process(
            target=_taker, args=(db_url, encryption_key, grant.id, barrier, counter, used, results, False)
        )
        for _ in range(15)
    ]
    for p in procs:
        p.start()
    tokens = [results.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert counter.value == 2
    assert [used.get(timeout=5), used.get(timeout=5)] == ["refresh-0", "refresh-0"]
    assert len(set(tokens)) == 1
    assert grants.get_grant(db, grant.id).generation == grant.generation + 1
