"""Sixteen processes find the same expired token at once: Xero sees exactly one refresh."""

from __future__ import annotations

import multiprocessing as mp
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.xero_world import make_world
from bot.xero.filters import TransactionFilter


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=20)
    yield w
    w.services.close()
    w.sb.stop()


def _worker(db_url, key, sandbox_url, offset_s, grant_id, barrier, results) -> None:
    from bot.services.tokens import TokenService
    from bot.xero.oauth import XeroOAuth
    from storage.crypto import TokenCipher
    from storage.db import Database

    db = Database(db_url, TokenCipher([key]))
    now = lambda: datetime.now(UTC) + timedelta(seconds=offset_s)  # noqa: E731 - the sandbox's time
    oauth = XeroOAuth(
        client_id="recon-sandbox-client",
        client_secret="recon-sandbox-secret",
        redirect_uri="http://127.0.0.1:9/xero/callback",
        scopes=("offline_access",),
        identity_url=sandbox_url,
        api_url=sandbox_url,
        now=now,
    )
    service = TokenService(db, oauth.refresh, lambda team, user: "unused", now=now)
    barrier.wait()
    results.put(service.access_token(grant_id).token)
    db.dispose()


def test_sixteen_processes_cause_exactly_one_refresh_at_xero(world, db_url, encryption_key):
    grant = world.consent().grant
    world.sb.clock.advance(31 * 60)
    world.sb.faults.latency(300)  # the refresh takes a while: the others pile up behind the lock
    offset = (world.sb.clock.now() - datetime.now(UTC)).total_seconds()
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(16), ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker, args=(db_url, encryption_key, world.sb.url, offset, grant.id, barrier, results)
        )
        for _ in range(16)
    ]
    for p in procs:
        p.start()
    tokens = [results.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(world.refresh_requests()) == 1
    assert len(set(tokens)) == 1


def _crashing_worker(db_url, key, sandbox_url, offset_s, grant_id, point) -> None:
    import os

    os.environ["RECON_CHAOS_CRASH_AT"] = point
    from bot.services.tokens import TokenService
    from bot.xero.oauth import XeroOAuth
    from storage.crypto import TokenCipher
    from storage.db import Database

    db = Database(db_url, TokenCipher([key]))
    now = lambda: datetime.now(UTC) + timedelta(seconds=offset_s)  # noqa: E731 - the sandbox's time
    oauth = XeroOAuth(
        client_id="recon-sandbox-client",
        client_secret="recon-sandbox-secret",
        redirect_uri="http://127.0.0.1:9/xero/callback",
        scopes=("offline_access",),
        identity_url=sandbox_url,
        api_url=sandbox_url,
        now=now,
    )
    TokenService(db, oauth.refresh, lambda team, user: "unused", now=now).access_token(grant_id)


@pytest.mark.parametrize(
    ("point", "calls_before"), [("before_xero", 0), ("after_xero", 1), ("before_commit", 1)]
)
def test_a_refreshing_process_killed_at_any_point_is_recovered_by_the_clock(
    world, db_url, encryption_key, point, calls_before
):
    from slack_sdk import WebClient

    from bot.jobs import keep_tokens_alive
    from storage import grants

    grant = world.consent().grant
    world.sb.clock.advance(31 * 60)
    offset = (world.sb.clock.now() - datetime.now(UTC)).total_seconds()
    proc = mp.get_context("spawn").Process(
        target=_crashing_worker, args=(db_url, encryption_key, world.sb.url, offset, grant.id, point)
    )
    proc.start()
    proc.join(60)
    assert proc.exitcode == -9
    assert len(world.refresh_requests()) == calls_before

    world.sb.clock.advance(5 * 60)  # the clock's next keep-alive run, well inside the grace period
    nowhere = WebClient(base_url="http://127.0.0.1:9/")  # no reconnect DMs are expected
    report = keep_tokens_alive(world.services, world.sb.clock.now(), nowhere)
    assert report.refreshed == [grant.id]
    used = [r.form["refresh_token"] for r in world.refresh_requests()]
    assert len(used) == calls_before + 1 and len(set(used)) == 1  # the same refresh token throughout

    world.sb.clock.advance(45 * 60)  # past the grace period of the token the dead process used
    source = world.services.tokens.source_for_grant(grant.id, world.sb.tenants[0]["tenant_id"])
    assert world.services.xero.list_bank_transactions(
        source, TransactionFilter(), page=1, page_size=1
    ).transactions
    assert grants.get_grant(world.db, grant.id).status == "active"
