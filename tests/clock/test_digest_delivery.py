"""Digests against the Xero sandbox and the Slack stand-in, over real HTTP, on both databases."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import update

from bot.jobs import run_digests
from bot.slack import text as tx
from bot.slack.refs import ACTION_EDIT, EditRef
from storage import digests as ledger
from storage import grants
from storage.models import DigestSubscription
from tests.clock.world import TEAM

AKL = ZoneInfo("Pacific/Auckland")


def at(day: date, hh: int, mm: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hh, mm), zone).astimezone(UTC)


def subscribe(world, user, channel, tenant_id, *, local_time="09:00", zone="Pacific/Auckland", quiet=False):
    world.use(user, tenant_id)
    return world.digests.subscribe(
        TEAM, user, channel, local_time=local_time, timezone=zone, skip_when_clear=quiet
    ).subscription


def buttons(message, action_id):
    found = []
    for block in message.blocks:
        elements = [block.get("accessory")] if block.get("accessory") else block.get("elements", [])
        found += [e for e in elements if isinstance(e, dict) and e.get("action_id") == action_id]
    return found


def section_texts(message) -> str:
    return "\n".join(b["text"]["text"] for b in message.blocks if b.get("type") == "section")


def shown(message) -> str:
    """Every text object's text in the message's blocks (sections, fields, contexts)."""
    found = []
    for b in message.blocks:
        for obj in [b.get("text"), *(b.get("fields") or []), *(b.get("elements") or [])]:
            if isinstance(obj, dict) and obj.get("type") in ("mrkdwn", "plain_text"):
                found.append(obj["text"])
    return "\n".join(found)


def account_section(message, name: str) -> str:
    return next(
        b["text"]["text"]
        for b in message.blocks
        if b.get("type") == "section" and b["text"]["text"].startswith(tx.plain(name, 80) + " (")
    )


def test_three_organisations_ten_subscriptions_get_the_right_numbers(world):
    world.connect("U0ALICE")
    world.connect("U0BOB")
    orgs = world.tenants
    assert len(orgs) == 3
    plan = [  # (owner, channel, org index)
        ("U0ALICE", "C01", 0),
        ("U0ALICE", "C02", 0),
        ("U0BOB", "C03", 0),
        ("U0ALICE", "C04", 1),
        ("U0BOB", "C05", 1),
        ("U0BOB", "C06", 1),
        ("U0ALICE", "C07", 2),
        ("U0ALICE", "C08", 2),
        ("U0BOB", "C09", 2),
        ("U0BOB", "C10", 2),
    ]
    for _owner, channel, _ in plan:
        world.add_channel(channel, channel.lower())
    for owner, channel, index in plan:
        subscribe(world, owner, channel, orgs[index]["tenant_id"])
    world.xero.clear_requests()

    day = world.tomorrow(AKL)
    report = world.clock.tick(at(day, 9, 0, AKL))
    assert report.sent == 10 and report.failed == 0

    for _owner, channel, index in plan:
        org = orgs[index]
        expected = world.expected(org["tenant_id"])
        posts = world.channel_posts(channel)
        assert len(posts) == 1, channel
        message = posts[0]
        assert tx.plain(org["name"]) in message.blocks[0]["text"]["text"]
        body = section_texts(message)
        assert f"{expected.count:,} items" in body
        for name, (count, total, oldest) in expected.by_account.items():
            currency = next(a["currency"] for a in org["bank_accounts"] if a["name"] == name)
            line = account_section(message, name)
            assert f"{tx.plural(count, 'item')} (" in line
            assert tx.money(total, currency) in line
            assert f"oldest {tx.day(oldest)}" in line
        edits = [EditRef.decode(b["value"]) for b in buttons(message, ACTION_EDIT)]
        assert [e.txn_id for e in edits] == expected.editable_ids
        # Transfers and overpayments are counted, and named by kind beside spent and received.
        transfers = sum(n for t, n in expected.kinds.items() if t.endswith("-TRANSFER"))
        assert sum(int(n) for n in re.findall(r"(\d+) transfers?\b", body)) == transfers
        assert {e.tenant_id for e in edits} == {org["tenant_id"]}
        assert "Bank-feed statement lines" in message.blocks[-1]["elements"][0]["text"]
    # One fetch per organisation, however many channels subscribe to it.
    for org in orgs:
        assert world.transaction_list_calls(org["tenant_id"]) == 1
    assert report.xero_calls == {o["tenant_id"]: 1 for o in orgs}
    assert world.slack.invalid_payloads == []


def test_totals_per_account_match_the_sandbox_to_the_cent(world):
    world.connect("U0ALICE")
    org = world.tenants[0]
    world.add_channel("C01", "books")
    subscribe(world, "U0ALICE", "C01", org["tenant_id"])
    content = world.digests.build_now(TEAM, "U0ALICE")
    expected = world.expected(org["tenant_id"])
    assert content.count == expected.count
    got = {a.name: (a.count, a.total, a.oldest) for a in content.accounts}
    assert got == expected.by_account
    grand_total = sum(v[1] for v in expected.by_account.values())
    assert sum((a.total for a in content.accounts), Decimal(0)) == grand_total


def test_a_late_clock_still_sends_the_mornings_digest_once(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    for hh, mm in [(8, 59), (11, 0), (11, 1), (15, 30), (23, 59)]:
        world.clock.tick(at(day, hh, mm, AKL))
    posts = world.channel_posts("C01")
    assert len(posts) == 1
    # A restarted clock (fresh objects, same database) changes nothing.
    from bot.jobs import Clock

    Clock(world.services, world.clock.client).tick(at(day, 12, 0, AKL))
    assert len(world.channel_posts("C01")) == 1
    world.clock.tick(at(day + timedelta(days=1), 9, 0, AKL))
    assert len(world.channel_posts("C01")) == 2


def test_dst_change_days_send_once(world):
    world.connect("U0ALICE")
    cases = [
        ("C01", "Pacific/Auckland", "09:00", date(2026, 4, 5)),
        ("C02", "Pacific/Auckland", "02:30", date(2026, 4, 5)),
        ("C03", "Europe/London", "01:30", date(2026, 3, 29)),
        ("C04", "Pacific/Auckland", "02:30", date(2026, 9, 27)),
        ("C05", "Europe/London", "09:00", date(2026, 10, 25)),
        ("C06", "Europe/London", "01:30", date(2026, 10, 25)),
    ]
    tenant = world.tenants[0]["tenant_id"]
    for channel, zone, local, _ in cases:
        world.add_channel(channel, channel.lower())
        subscribe(world, "U0ALICE", channel, tenant, local_time=local, zone=zone)
    # Backdate the subscriptions so the 2026 change days count whenever the test runs.
    with world.db.session() as session:
        session.execute(update(DigestSubscription).values(created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    for channel, zone_name, _local, day in sorted(cases, key=lambda c: c[3]):
        zone = ZoneInfo(zone_name)
        t = datetime.combine(day, time(0), zone).astimezone(UTC) - timedelta(minutes=5)
        end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        while t < end:
            run_digests(world.services, t, world.clock.client)
            t += timedelta(minutes=10)
        [sub] = ledger.subscriptions_in_channel(world.db, TEAM, channel)
        assert ledger.runs_for(world.db, [(sub.id, day)])[(sub.id, day)].status == ledger.STATUS_SENT
        that_day = [m for m in world.channel_posts(channel) if tx.day(day) in section_texts(m)]
        assert len(that_day) == 1, channel


def test_skip_when_clear_posts_nothing_on_a_clear_day_and_others_get_an_all_clear(world):
    world.connect("U0ALICE")
    org = world.tenants[0]["tenant_id"]
    world.add_channel("C01", "quiet")
    world.add_channel("C02", "loud")
    quiet = subscribe(world, "U0ALICE", "C01", org, quiet=True)
    world.connect("U0BOB")
    loud = subscribe(world, "U0BOB", "C02", org)
    for txn_id in world.xero.transaction_ids(org):
        t = world.xero.get_transaction(org, txn_id)
        if t["Status"] == "AUTHORISED" and not t["IsReconciled"]:
            world.xero.modify_transaction(org, txn_id, IsReconciled=True)
    report = world.clock.tick(at(world.tomorrow(AKL), 9, 0, AKL))
    assert report.outcomes == {quiet.id: ledger.STATUS_SKIPPED, loud.id: ledger.STATUS_SENT}
    assert world.channel_posts("C01") == []
    [clear] = world.channel_posts("C02")
    assert "Nothing waiting" in clear.blocks[0]["text"]["text"]


def test_bot_not_in_channel_dms_the_owner_once_and_keeps_the_subscription(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "private-books", bot_member=False)
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    world.clock.tick(at(day, 9, 0, AKL))
    world.clock.tick(at(day + timedelta(days=1), 9, 0, AKL))
    dms = world.slack.dms("U0ALICE")
    assert len(dms) == 1
    assert "/invite @Recon" in shown(dms[0])
    assert ledger.get_subscription(world.db, sub.id) is not None
    world.slack.invite_bot("C01")
    world.clock.tick(at(day + timedelta(days=2), 9, 0, AKL))
    assert len(world.channel_posts("C01")) == 1


def test_dead_grant_tells_the_channel_once_and_the_owner_gets_one_reconnect_dm(world):
    result = world.connect("U0ALICE")
    world.add_channel("C01", "books")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    world.xero.revoke_user(world.people["U0ALICE"])
    world.xero.clock.advance(31 * 60)  # the access token expires; the refresh meets invalid_grant
    first = world.tomorrow(AKL)
    for day in (first, first + timedelta(days=1)):
        report = world.clock.tick(at(day, 9, 0, AKL))
        assert report.outcomes == {sub.id: ledger.STATUS_SKIPPED}
    notes = world.channel_posts("C01")
    assert len(notes) == 1 and "couldn't be prepared" in notes[0].text
    dms = world.slack.dms("U0ALICE")
    assert len(dms) == 1
    [button] = buttons(dms[0], "recon_link_connect")
    assert button["url"].startswith(world.settings.connect_start_url)
    assert grants.get_grant(world.db, result.grant.id).status == "needs_reconnect"
    # Reconnecting makes the digest come back, and a later incident would be reported afresh.
    world.connect("U0ALICE")
    world.clock.tick(at(first + timedelta(days=2), 9, 0, AKL))
    assert len(world.channel_posts("C01")) == 2
    assert ledger.get_subscription(world.db, sub.id).dead_grant_notified_at is None


def test_xero_down_is_retried_later_the_same_day(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    world.services.xero.sleep = lambda _s: None  # no real back-off waits in the test
    world.xero.faults.fail_next(20, status=503)
    day = world.tomorrow(AKL)
    first = world.clock.tick(at(day, 9, 0, AKL))
    assert first.outcomes == {sub.id: "retry"}
    world.xero.faults.clear()
    assert world.clock.tick(at(day, 9, 5, AKL)).claimed == 0  # backing off
    world.clock.tick(at(day, 9, 0, AKL) + ledger.RETRY_BACKOFF)
    assert len(world.channel_posts("C01")) == 1


def test_subscription_made_after_its_time_waits_for_tomorrow(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    # Subscribed for 00:00 and 09:00 after both have passed today (sandbox time).
    made = world.xero.clock.now().astimezone(AKL)
    early = f"{(made - timedelta(minutes=1)):%H:%M}"
    subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"], local_time=early)
    world.clock.tick(made.astimezone(UTC) + timedelta(minutes=1))
    world.clock.tick(made.astimezone(UTC) + timedelta(hours=1))
    assert world.channel_posts("C01") == []
    world.clock.tick(at(made.date() + timedelta(days=1), made.hour, made.minute, AKL))
    assert len(world.channel_posts("C01")) == 1


def test_a_claim_left_by_a_crashed_clock_is_sent_once_after_the_lease(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    crashed_at = at(day, 9, 0, AKL)
    assert ledger.claim_run(world.db, sub.id, day, now=lambda: crashed_at) is not None  # then it died
    assert world.clock.tick(crashed_at + timedelta(minutes=5)).claimed == 0
    assert world.channel_posts("C01") == []
    report = world.clock.tick(crashed_at + ledger.CLAIM_LEASE)
    assert report.outcomes == {sub.id: ledger.STATUS_SENT}
    world.clock.tick(crashed_at + 2 * ledger.CLAIM_LEASE)
    assert len(world.channel_posts("C01")) == 1


def test_a_clock_that_died_while_posting_is_never_retried(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    crashed_at = at(day, 9, 0, AKL)
    claim = ledger.claim_run(world.db, sub.id, day, now=lambda: crashed_at)
    assert ledger.start_posting(world.db, claim, now=lambda: crashed_at)  # and then nothing
    for hours in (1, 5, 12):
        assert world.clock.tick(crashed_at + timedelta(hours=hours)).claimed == 0
    assert world.channel_posts("C01") == []  # maybe it reached Slack: a gap beats a double


def test_slack_rate_limit_is_retried_later_the_same_day(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "limited")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    world.slack.faults.ratelimit_next("chat.postMessage", n=3, retry_after=0)  # beats the client's 2 retries
    assert world.clock.tick(at(day, 9, 0, AKL)).outcomes == {sub.id: "retry"}
    assert world.channel_posts("C01") == []
    world.clock.tick(at(day, 9, 0, AKL) + ledger.RETRY_BACKOFF)
    assert len(world.channel_posts("C01")) == 1


def test_a_post_slack_may_have_taken_is_not_retried(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "flaky")
    sub = subscribe(world, "U0ALICE", "C01", world.tenants[0]["tenant_id"])
    day = world.tomorrow(AKL)
    world.slack.faults.fail_next("chat.postMessage", "internal_error")
    assert world.clock.tick(at(day, 9, 0, AKL)).outcomes == {sub.id: ledger.STATUS_UNKNOWN}
    assert world.clock.tick(at(day, 12, 0, AKL)).claimed == 0
    assert world.channel_posts("C01") == []
    world.clock.tick(at(day + timedelta(days=1), 9, 0, AKL))
    assert len(world.channel_posts("C01")) == 1
