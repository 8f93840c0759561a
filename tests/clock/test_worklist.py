"""The digest as a worklist: posted messages are kept with their run, and a fix is drawn into
every message that shows the transaction — over real HTTP, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from bot.services.digest import Fix, from_snapshot, to_snapshot
from bot.slack.digest_commands import SlackPoster
from bot.slack.refs import ACTION_EDIT, EditRef
from storage import digests as ledger
from tests.clock.world import TEAM

AKL = ZoneInfo("Pacific/Auckland")
EVER = datetime(2000, 1, 1, tzinfo=UTC)


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), AKL).astimezone(UTC)


def edit_ids(message) -> list[str]:
    return [
        EditRef.decode(b["accessory"]["value"]).txn_id
        for b in message.blocks
        if (b.get("accessory") or {}).get("action_id") == ACTION_EDIT
    ]


def setup(world, channels=("C01",)):
    world.connect("U0ALICE")
    tenant = world.tenants[0]["tenant_id"]
    world.use("U0ALICE", tenant)
    for channel in channels:
        world.add_channel(channel, channel.lower())
        world.digests.subscribe(
            TEAM, "U0ALICE", channel, local_time="09:00", timezone="Pacific/Auckland", skip_when_clear=False
        )
    day = world.tomorrow(AKL)
    report = world.clock.tick(at(day, 9, 0))
    assert report.sent == len(channels)
    return tenant, day


def test_each_posted_digest_is_kept_with_its_run_channel_ts_and_rows(world):
    tenant, day = setup(world)
    [message] = world.channel_posts("C01")
    ids = edit_ids(message)
    posts = ledger.posts_showing(world.db, TEAM, tenant, ids[0], since=EVER)
    assert [(p.channel_id, p.message_ts) for p in posts] == [("C01", message.ts)]
    [sub] = ledger.subscriptions_in_channel(world.db, TEAM, "C01")
    run = ledger.last_run(world.db, sub.id)
    assert posts[0].run_id == run.id and run.status == ledger.STATUS_SENT
    content = from_snapshot(posts[0].snapshot)
    # Every row shown is kept; the editable ones are those with an Edit button.
    assert [t.bank_transaction_id for t in content.oldest if t.is_editable] == ids
    assert content.short_code == world.tenants[0]["short_code"] and content.zone == "Pacific/Auckland"
    # Removing the subscription removes what was kept of its messages too.
    ledger.delete_subscriptions(world.db, [sub.id])
    assert ledger.posts_showing(world.db, TEAM, tenant, ids[0], since=EVER) == []


def test_a_fix_is_drawn_into_every_message_that_shows_the_row_without_a_new_post(world):
    tenant, day = setup(world, channels=("C01", "C02"))
    messages = {c: world.channel_posts(c)[0] for c in ("C01", "C02")}
    txn_id = edit_ids(messages["C01"])[3]
    calls = len(world.slack.calls)
    shown = world.digests.show_fix(
        TEAM, tenant, txn_id, reference="FIXED-77", fixed_by="U0BOB", poster=SlackPoster(world.clock.client)
    )
    assert (shown.updated, shown.failed) == (2, ())
    new_calls = [c.method for c in world.slack.calls[calls:]]
    assert new_calls == ["chat.update", "chat.update"]  # redrawn in place, nothing posted
    for channel, before in messages.items():
        [after] = world.channel_posts(channel)
        assert after.ts == before.ts
        text = " ".join(e.get("text", "") for b in after.blocks for e in b.get("elements") or [])
        assert "FIXED-77" in text and "✓ by <@U0BOB>" in text
        assert edit_ids(after) == edit_ids(before)  # the row keeps its place and its Edit button
    # A second fix adds to the first.
    other = edit_ids(messages["C01"])[0]
    world.digests.show_fix(
        TEAM, tenant, other, reference="FIXED-1", fixed_by="U0ALICE", poster=SlackPoster(world.clock.client)
    )
    [after] = world.channel_posts("C01")
    text = str(after.blocks)
    assert "FIXED-77" in text and "FIXED-1" in text and "2 of these fixed since this was posted" in text


def test_a_transaction_no_digest_shows_costs_no_slack_call(world):
    tenant, _day = setup(world)
    calls = len(world.slack.calls)
    shown = world.digests.show_fix(
        TEAM, tenant, "00000000-0000-4000-8000-000000000009", reference="X", fixed_by="U0BOB",
        poster=SlackPoster(world.clock.client),
    )  # fmt: skip
    assert shown.updated == 0 and len(world.slack.calls) == calls


def test_a_redraw_racing_another_fix_draws_again_until_it_shows_both(world):
    tenant, _day = setup(world)
    [message] = world.channel_posts("C01")
    first, second = edit_ids(message)[:2]

    class Racing(SlackPoster):
        raced = False

        def update(self, channel_id, ts, content):
            super().update(channel_id, ts, content)
            if not Racing.raced:  # another process stores its fix right after our redraw read the state
                Racing.raced = True
                [post] = ledger.posts_showing(world.db, TEAM, tenant, second, since=EVER)
                ledger.mark_fixed(world.db, [post.id], tenant, second, fixed_by="U0BOB", reference="OTHER")

    world.digests.show_fix(
        TEAM, tenant, first, reference="MINE", fixed_by="U0ALICE", poster=Racing(world.clock.client)
    )
    [after] = world.channel_posts("C01")
    assert "MINE" in str(after.blocks) and "OTHER" in str(after.blocks)


def test_digest_now_posts_are_kept_too_and_the_snapshot_round_trips(world):
    world.connect("U0ALICE")
    world.add_channel("C01", "books")
    content = world.digests.build_now(TEAM, "U0ALICE")
    ts = SlackPoster(world.clock.client).digest("C01", content)
    world.digests.posted(TEAM, "C01", ts, content)
    [post] = ledger.posts_showing(
        world.db, TEAM, content.tenant_id, content.oldest[0].bank_transaction_id, since=EVER
    )
    assert post.run_id is None and post.message_ts == ts
    again = from_snapshot(to_snapshot(content))
    assert again.count == content.count and again.accounts == content.accounts
    assert [t.bank_transaction_id for t in again.oldest] == [t.bank_transaction_id for t in content.oldest]
    assert [t.signed_total for t in again.oldest] == [t.signed_total for t in content.oldest]
    fixed = again.with_fixes({again.oldest[0].bank_transaction_id: Fix("R", "U1", datetime.now(UTC))})
    assert fixed.fixes and not again.fixes
    assert ledger.post_version(world.db, post.id) == 0
