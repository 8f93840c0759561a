"""Two clock processes started by mistake against one database: every digest still goes out once."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from zoneinfo import ZoneInfo

from storage import digests as ledger
from tests.clock.clockproc import run_clock_process
from tests.clock.test_digest_delivery import at, subscribe

AKL = ZoneInfo("Pacific/Auckland")


def test_two_clock_processes_send_each_digest_exactly_once(world, encryption_key):
    world.connect("U0ALICE")
    world.connect("U0BOB")
    orgs = world.tenants
    plan = [
        ("U0ALICE", "C01", 0, "09:00"),
        ("U0BOB", "C02", 0, "09:00"),
        ("U0ALICE", "C03", 1, "09:00"),
        ("U0BOB", "C04", 2, "09:00"),
        ("U0ALICE", "C05", 2, "12:30"),
    ]
    for owner, channel, index, local_time in plan:
        world.add_channel(channel, channel.lower())
        subscribe(world, owner, channel, orgs[index]["tenant_id"], local_time=local_time)

    day = world.tomorrow(AKL)
    instants = [
        at(day, 8, 59, AKL),
        at(day, 9, 0, AKL),
        at(day, 9, 1, AKL),
        at(day, 12, 30, AKL),
        at(day, 13, 0, AKL),
        at(day + timedelta(days=1), 11, 0, AKL),  # a late start the next day
        at(day + timedelta(days=1), 12, 30, AKL),
        at(day + timedelta(days=1), 12, 31, AKL),
    ]
    ticks = [t.isoformat() for t in instants]
    env = {
        "SLACK_BOT_TOKEN": world.slack.bot_token,
        "SLACK_SIGNING_SECRET": world.slack.signing_secret,
        "SLACK_API_URL": world.slack.api_url,
        "XERO_CLIENT_ID": world.xero.client_id,
        "XERO_CLIENT_SECRET": world.xero.client_secret,
        "XERO_REDIRECT_URI": world.settings.xero_redirect_uri,
        "XERO_AUTHORIZE_URL": world.xero.authorize_url,
        "XERO_IDENTITY_URL": world.xero.url,
        "XERO_API_URL": world.xero.url,
        "DATABASE_URL": world.database_url,
        "RECON_ENCRYPTION_KEY": encryption_key,
    }

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=run_clock_process, args=(env, ticks, barrier, results, name), daemon=True)
        for name in ("clock-a", "clock-b")
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [error for *_, error in outcomes if error]
    assert not errors, errors[0]

    total_sent = sum(sent for _, sent, _, _ in outcomes)
    assert total_sent == 2 * len(plan)  # two mornings each, whichever clock sent them
    for _owner, channel, _index, _time in plan:
        posts = world.channel_posts(channel)
        assert len(posts) == 2, channel
        [sub] = ledger.subscriptions_in_channel(world.db, "T0RECON", channel)
        runs = _runs(world, sub.id)
        assert [(r.local_date, r.status) for r in runs] == [
            (day, ledger.STATUS_SENT),
            (day + timedelta(days=1), ledger.STATUS_SENT),
        ]
    assert world.slack.invalid_payloads == []


def _runs(world, subscription_id):
    from sqlalchemy import select

    from storage.models import DigestRun

    with world.db.session() as session:
        return session.scalars(
            select(DigestRun)
            .where(DigestRun.subscription_id == subscription_id)
            .order_by(DigestRun.local_date)
        ).all()
