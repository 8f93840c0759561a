"""A slow Xero no longer holds SQLite's single write lock: other writers go on meanwhile."""

from __future__ import annotations

import threading

import pytest
import requests

import storage.db
from bot.demo.xero_world import TEAM, make_world
from bot.xero.filters import TransactionFilter
from storage import states
from storage.crypto import TokenCipher
from storage.db import Database


@pytest.fixture
def world(sqlite_db):
    w = make_world(sqlite_db, sqlite_db.url, transactions=20)
    yield w
    w.services.close()
    w.sb.stop()


def test_other_writers_go_on_during_two_slow_refreshes(world, encryption_key, monkeypatch):
    """Scaled down: refreshes held under the lock used to last up to ~56 s each, against a 60 s
    busy timeout, so two in a row failed other writers. Here Xero takes 1.5 s per call and the
    other writer waits at most 1 s for the lock — the same race in a few seconds."""
    world.consent(user="U0ALICE")
    bob = world.sb.add_user("bob@example.com", "Bob", "Books")
    world.sb.login_as(bob["xero_user_id"])
    world.consent(user="U0BOB")
    world.sb.clock.advance(31 * 60)  # both access tokens expired: the next use refreshes
    world.sb.faults.latency(1500)

    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 1000)
    impatient = Database(world.db.url, TokenCipher([encryption_key]))

    failures: list[BaseException] = []

    def list_for(user: str) -> None:
        try:
            org = world.services.connect.default_org(TEAM, user)
            source = world.services.tokens.source(TEAM, user, org.tenant_id)
            world.services.xero.list_bank_transactions(source, TransactionFilter(), page=1, page_size=1)
        except Exception as exc:  # noqa: BLE001 - asserted below
            failures.append(exc)

    refreshing = threading.Event()

    class Signalling(requests.Session):
        def post(self, *args, **kwargs):
            refreshing.set()
            return super().post(*args, **kwargs)

    world.services.oauth.session = Signalling()
    users = [threading.Thread(target=list_for, args=(u,)) for u in ("U0ALICE", "U0BOB")]
    for t in users:
        t.start()
    assert refreshing.wait(30)  # a refresh is on its way to Xero
    written = [
        states.create_state(impatient, TEAM, f"U0WRITER{i}", purpose=states.PURPOSE_CONNECT) for i in range(5)
    ]
    for t in users:
        t.join(30)
    assert len(written) == 5
    assert failures == []  # both users got their transactions, each after one refresh
    assert len(world.refresh_requests()) == 2
    impatient.dispose()
