"""The digest as the team's worklist, and the rough edges of a first week — end to end.

One stack: the Xero sandbox, the Slack stand-in and the bot's real WSGI app on real sockets,
with signed requests; the clock is driven tick by tick in this process against the same
database. What is asserted is what a user would notice: what Slack shows (through the
stand-in's own rendering), what Xero holds, what is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from bot.demo.stack import Stack
from bot.jobs import Clock, slack_client
from bot.sandbox.slack.render import render_message, render_view
from bot.slack import text as tx
from bot.slack.digest_blocks import ACTION_SHOW_ALL
from bot.slack.refs import ACTION_EDIT, EditRef
from storage import digests as ledger
from tests.e2e.helpers import (
    buttons,
    edit_form,
    ephemeral_with,
    message_text,
    mirror_read,
    text_of,
    top_view_with,
    xero_changed,
)

pytestmark = pytest.mark.slow

TEAM = "T0RECON"
AKL = ZoneInfo("Pacific/Auckland")
INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Its own seed: the process-wide Xero throttle is keyed by tenant id.
    with Stack(xero_options={"transactions": 250, "organisations": 2, "seed": 41}) as running:
        yield running


@pytest.fixture
def clock(stack: Stack) -> Clock:
    return Clock(stack.services, slack_client(stack.settings))


_n = iter(range(1, 10_000))


def people(stack: Stack, *names: str) -> list:
    n = next(_n)
    return [stack.slack.add_user(f"U{n:03d}{name.upper()[:5]}", f"{name}{n}") for name in names]


def channel(stack: Stack, *members) -> str:
    channel_id = f"C0W{next(_n):05d}"
    stack.slack.add_channel(channel_id, channel_id.lower(), members=[m.id for m in members])
    return channel_id


def harbour(stack: Stack) -> dict:
    return next(t for t in stack.xero.tenants if t["name"].startswith("Harbour"))


def kestrel(stack: Stack) -> dict:
    return next(t for t in stack.xero.tenants if t["name"].startswith("Kestrel"))


def names(stack: Stack, *users) -> dict[str, str]:
    return {u.id: u.name for u in users}


def bot_posts(stack: Stack, channel_id: str) -> list:
    return [m for m in stack.slack.messages(channel_id) if m.bot_id]


def post_digest(stack: Stack, clock: Clock, owner, channel_id: str, args: str = "") -> object:
    """``/recon digest on 07:00 Pacific/Auckland`` in the channel, then the clock at that time."""
    owner.command("/recon", f"digest on 07:00 Pacific/Auckland {args}".strip(), channel=channel_id)
    ephemeral_with(stack, owner, "gets a daily digest")
    tomorrow = stack.xero.clock.now().astimezone(AKL).date() + timedelta(days=1)
    report = clock.tick(datetime.combine(tomorrow, time(7, 0), AKL).astimezone(UTC) + timedelta(seconds=1))
    assert report.sent >= 1, report
    [digest] = bot_posts(stack, channel_id)
    return digest


def row_button(message, index: int) -> tuple[dict, dict]:
    """(the row's section block, its Edit button) for the ``index``-th row with Edit."""
    rows = [b for b in message.blocks if (b.get("accessory") or {}).get("action_id") == ACTION_EDIT]
    return rows[index], rows[index]["accessory"]


def press_edit(user, message, index: int) -> None:
    block, _button = row_button(message, index)
    user.press(ACTION_EDIT, on=message, block_id=block["block_id"])


# ------------------------------------------------------------------ progress shows where the team looks
def test_a_fix_made_from_the_channels_digest_updates_that_message_in_place(stack: Stack, clock: Clock):
    alice, bob = people(stack, "alice", "bob")
    books = channel(stack, alice, bob)
    stack.connect(alice)
    stack.connect(bob)
    digest = post_digest(stack, clock, alice, books)
    posts_before = len(stack.slack.calls_to("chat.postMessage"))

    # Bob fixes the oldest row from Alice's digest, with his own connection.
    _block, button = row_button(digest, 0)
    txn_id = EditRef.decode(button["value"]).txn_id
    press_edit(bob, digest, 0)
    form = edit_form(stack, bob)
    bob.submit(form, {"reference": {"reference": "BOB-FIX-1"}})
    top_view_with(stack, bob, "Saved")

    updated = stack.slack.wait_for(
        lambda: next((m for m in bot_posts(stack, books) if "BOB-FIX-1" in message_text(m)), None)
    )
    assert updated.ts == digest.ts  # the same message, redrawn
    assert len(bot_posts(stack, books)) == 1
    assert stack.slack.calls_to("chat.update")
    assert len(stack.slack.calls_to("chat.postMessage")) == posts_before  # no new post anywhere
    # What the channel sees: the new reference and who fixed it when, on the organisation's clock.
    [post] = [p for p in ledger.posts_showing(stack.services.db, TEAM, harbour(stack)["tenant_id"], txn_id,
                                              since=datetime(2000, 1, 1, tzinfo=UTC))]  # fmt: skip
    _post, fixes = ledger.post_state(stack.services.db, post.id)
    [fix] = fixes
    shown = render_message(updated, width=160, names=names(stack, alice, bob)).text
    assert f"✓ by @{bob.name} {tx.clock_time(fix.fixed_at, harbour(stack)['iana_timezone'])}" in shown
    assert "BOB-FIX-1" in shown and "✓ 1 of these fixed since this was posted" in shown
    assert stack.xero.get_transaction(harbour(stack)["tenant_id"], txn_id)["Reference"] == "BOB-FIX-1"

    # A fix made anywhere else (here `/recon edit <id>` by Alice) shows in the same message too.
    _block, second = row_button(updated, 1)
    second_id = EditRef.decode(second["value"]).txn_id
    alice.command("/recon", f"edit {second_id}", channel=books)
    form = edit_form(stack, alice)
    alice.submit(form, {"reference": {"reference": "ALICE-FIX-2"}})
    top_view_with(stack, alice, "Saved")
    again = stack.slack.wait_for(
        lambda: next((m for m in bot_posts(stack, books) if "ALICE-FIX-2" in message_text(m)), None)
    )
    shown = render_message(again, width=160, names=names(stack, alice, bob)).text
    assert again.ts == digest.ts and "BOB-FIX-1" in shown and f"✓ by @{alice.name}" in shown
    assert "✓ 2 of these fixed since this was posted" in shown
    assert len(bot_posts(stack, books)) == 1


# ------------------------------------------------------------------ a failed digest tells its owner
def test_a_failed_digest_dms_its_owner_once_and_status_says_the_same(stack: Stack, clock: Clock):
    (carol,) = people(stack, "carol")
    books = channel(stack, carol)
    stack.connect(carol)
    carol.command("/recon", "digest on 07:00 Pacific/Auckland", channel=books)
    ephemeral_with(stack, carol, "gets a daily digest")
    stack.services.xero.sleep = lambda _s: None  # no real back-off waits
    day = stack.xero.clock.now().astimezone(AKL).date() + timedelta(days=1)
    start = datetime.combine(day, time(7, 0), AKL).astimezone(UTC) + timedelta(seconds=1)
    dms_before = len(stack.slack.dms(carol.id))
    stack.xero.faults.fail_next(500, status=503)
    try:
        for attempt in range(ledger.MAX_ATTEMPTS + 2):
            clock.tick(start + attempt * (ledger.RETRY_BACKOFF + timedelta(seconds=1)))
    finally:
        stack.xero.faults.clear()
    dms = stack.slack.dms(carol.id)[dms_before:]
    assert len(dms) == 1  # one DM for the failure, not one per attempt
    dm = render_message(dms[0], width=200).text
    assert "didn't go out" in dm and "Xero wasn't responding" in dm
    assert "stopped trying for that day" in dm and "/recon digest now" in dm
    assert "xero:" not in dm and "try again in" not in dm
    carol.command("/recon", "digest status", channel=books)
    status = render_message(ephemeral_with(stack, carol, "Your daily digests"), width=400).text
    words = " ".join(dm.split("didn't go out.", 1)[1].split())
    status = " ".join(status.split())
    # The same words (the next run is worked out when asked: this test's clock jumps ahead).
    cause, _, next_step = words.partition(" The next digest goes out ")
    assert cause in status and "The next digest goes out " in status
    assert next_step.split(";", 1)[1] in status
    assert bot_posts(stack, books) == []


# ------------------------------------------------------------------ disconnect warns before it deletes
def test_the_disconnect_dialog_names_the_digests_and_channels_it_removes(stack: Stack, clock: Clock):
    hank_xero = stack.xero.add_user("hank@example.com", "Hank", "Hill")
    stack.xero.login_as(hank_xero["xero_user_id"])
    try:
        (hank,) = people(stack, "hank")
        stack.connect(hank)
    finally:
        stack.xero.login_as(stack.xero.users[0]["xero_user_id"])
    books = channel(stack, hank)
    hank.command("/recon", "digest on 08:30", channel=books)
    ephemeral_with(stack, hank, "gets a daily digest")
    org = stack.services.connect.default_org(TEAM, hank.id).tenant_name
    hank.command("/recon", f"disconnect {org.split()[0]}", channel=books)
    confirm = ephemeral_with(stack, hank, "Disconnect")
    [danger] = [b for b in buttons(confirm, "recon_disconnect") if b["action_id"] == "recon_disconnect"]
    dialog = danger["confirm"]["text"]["text"]
    assert f"Daily digest stops: {tx.safe(org)} in <#{books}>." in dialog
    assert f"This daily digest stops and is removed: {org} in #{books}." in render_message(confirm).text
    assert ledger.subscriptions_of_user(stack.services.db, TEAM, hank.id)  # nothing removed yet
    hank.press("recon_disconnect", on=confirm)
    ephemeral_with(stack, hank, "Disconnected")
    assert ledger.subscriptions_of_user(stack.services.db, TEAM, hank.id) == []


# ------------------------------------------------------------------ organisations by name
def test_org_names_on_digest_on_off_and_edit(stack: Stack):
    (dora,) = people(stack, "dora")
    books = channel(stack, dora)
    stack.connect(dora)
    default = stack.services.connect.default_org(TEAM, dora.id)
    other = kestrel(stack) if default.tenant_name.startswith("Harbour") else harbour(stack)
    dora.command("/recon", f'digest on org:"{other["name"]}"', channel=books)
    ephemeral_with(stack, dora, f"daily digest of {tx.safe(other['name'])}")
    dora.command("/recon", "digest on", channel=books)
    ephemeral_with(stack, dora, f"daily digest of {tx.safe(default.tenant_name)}")
    subs = ledger.subscriptions_in_channel(stack.services.db, TEAM, books)
    assert {s.tenant_id for s in subs} == {other["tenant_id"], default.tenant_id}

    dora.command("/recon", "digest off", channel=books)  # two here: which one?
    choice = ephemeral_with(stack, dora, "so I didn't stop any")
    assert "org:" in message_text(choice)
    assert len(ledger.subscriptions_in_channel(stack.services.db, TEAM, books)) == 2
    dora.command("/recon", f"digest off org:{other['name'].split()[0].lower()}", channel=books)
    ephemeral_with(stack, dora, "Stopped the daily digest")
    [left] = ledger.subscriptions_in_channel(stack.services.db, TEAM, books)
    assert left.tenant_id == default.tenant_id

    # `/recon edit <id>` of a transaction in the other organisation: found without naming it…
    txn_id = next(
        i
        for i in stack.xero.transaction_ids(other["tenant_id"])
        if stack.xero.get_transaction(other["tenant_id"], i)["Type"] in ("SPEND", "RECEIVE")
        and stack.xero.get_transaction(other["tenant_id"], i)["Status"] == "AUTHORISED"
    )
    dora.command("/recon", f"edit {txn_id}", channel=books)
    form = edit_form(stack, dora)
    assert other["name"] in text_of(form.blocks)
    dora.close_view(form.id)
    # …and with org: naming the wrong one, Xero's answer says it isn't there.
    dora.command("/recon", f'edit {txn_id} org:"{default.tenant_name}"', channel=books)
    refusal = top_view_with(stack, dora, "couldn't find")
    assert "Reference" not in [b.get("label", {}).get("text") for b in refusal.blocks]


# ------------------------------------------------------------------ "Open in Xero", in the right organisation
def test_open_in_xero_carries_the_organisations_shortcode_read_once(stack: Stack):
    (erin,) = people(stack, "erin")
    stack.connect(erin)
    org = next(
        t
        for t in stack.xero.tenants
        if t["tenant_id"] == stack.services.connect.default_org(TEAM, erin.id).tenant_id
    )
    erin.command("/recon", "search from:365d")
    results = ephemeral_with(stack, erin, "Search results")
    erin.command("/recon", "search from:200d")
    ephemeral_with(stack, erin, "from:200d")
    links = [
        e["text"]
        for b in results.blocks
        if b["type"] == "context"
        for e in b["elements"]
        if "Open in Xero" in e.get("text", "")
    ]
    assert len(links) == 10
    for link in links:
        url = link[1 : link.index("|")].replace("&amp;", "&")
        query = parse_qs(urlsplit(url).query)
        assert url.startswith("https://go.xero.com/organisationlogin/default.aspx?")
        assert query["shortcode"] == [org["short_code"]]
        assert query["redirecturl"][0].startswith("/Bank/ViewTransaction.aspx?bankTransactionID=")
    organisation_calls = [
        r
        for r in stack.xero.requests
        if r.get("path", "").endswith("/Organisation") and r.get("tenant_id") == org["tenant_id"]
    ]
    assert len(organisation_calls) <= 1  # kept after the first read: not one call per row or search


# ------------------------------------------------------------------ Xero's text shown as it is
HOSTILE_REFERENCE = "_x_ ~y~ `rm -rf` &amp; <!channel> *PAY*"


def test_hostile_names_render_exactly_as_xero_has_them(stack: Stack):
    (finn,) = people(stack, "finn")
    stack.connect(finn)
    org = harbour(stack)
    stack.services.connect.set_default(TEAM, finn.id, org["tenant_id"])
    star = next(
        i
        for i in stack.xero.transaction_ids(org["tenant_id"])
        if (stack.xero.get_transaction(org["tenant_id"], i).get("Contact") or {}).get("Name")
        == "*Star* Print Shop"
        and stack.xero.get_transaction(org["tenant_id"], i)["Status"] == "AUTHORISED"
        and stack.xero.get_transaction(org["tenant_id"], i)["Type"] in ("SPEND", "RECEIVE")
    )
    stack.xero.modify_transaction(org["tenant_id"], star, Reference=HOSTILE_REFERENCE)
    xero_changed(stack, org["tenant_id"])
    finn.command("/recon", 'search contact:"Print Shop" status:any from:2000-01-01')
    results = ephemeral_with(stack, finn, "Search results")
    shown = render_message(results, width=200).text
    assert "*Star* Print Shop" in shown  # the asterisks are Xero's: kept, not turned into bold
    assert HOSTILE_REFERENCE in shown  # markers literal, entity text literal, no mention
    assert "@channel" not in shown
    assert not any(ch in shown for ch in INVISIBLE)
    # The same transaction in the edit modal.
    rows = [b for b in results.blocks if (b.get("accessory") or {}).get("action_id") == ACTION_EDIT]
    block = next(b for b in rows if EditRef.decode(b["accessory"]["value"]).txn_id == star)
    finn.press(ACTION_EDIT, on=results, block_id=block["block_id"])
    form = edit_form(stack, finn)
    modal = render_view(form, width=200).text
    assert "*Star* Print Shop" in modal and HOSTILE_REFERENCE in modal and "@channel" not in modal
    # Other names the sandbox holds, as the stand-in renders them wherever they appear.
    finn.command("/recon", 'search contact:"channel" status:any from:2000-01-01')
    events = render_message(ephemeral_with(stack, finn, 'contact:"channel"'), width=200).text
    assert "<!channel> Events Ltd" in events and "@channel" not in events


# ------------------------------------------------------------------ a modal waiting for a connection
def test_a_modal_that_asked_to_connect_shows_the_edit_form_once_connected(stack: Stack, clock: Clock):
    gina, hugo = people(stack, "gina", "hugo")
    books = channel(stack, gina, hugo)
    stack.connect(gina)
    digest = post_digest(stack, clock, gina, books)
    _block, button = row_button(digest, 0)
    txn_id = EditRef.decode(button["value"]).txn_id

    press_edit(hugo, digest, 0)  # Hugo has no Xero connection yet
    waiting = top_view_with(stack, hugo, "You haven't connected Recon to Xero yet")
    stack.connect(hugo)  # /recon connect, the consent in the browser, the callback
    form = edit_form(stack, hugo)
    assert form.id == waiting.id  # the same modal, now with the form
    assert txn_id in text_of(form.blocks)
    assert "You haven't connected" not in text_of(form.blocks)


# ------------------------------------------------------------------ counts that agree
_TXN_ID = re.compile(r"bankTransactionID(?:=|%3D)([0-9a-f-]{36})")


def _row_ids(message) -> list[str]:
    """The transactions a message lists, in order, from their "Open in Xero" links."""
    ids: list[str] = []
    for found in _TXN_ID.findall(json.dumps(message.blocks)):
        if found not in ids:
            ids.append(found)
    return ids


def test_the_digests_count_is_exactly_what_show_all_lists_in_the_digests_order(stack: Stack, clock: Clock):
    (ivy,) = people(stack, "ivy")
    books = channel(stack, ivy)
    stack.connect(ivy)
    org = harbour(stack)["tenant_id"]
    ivy.command("/recon", f'use "{harbour(stack)["name"]}"', channel=books)
    ephemeral_with(stack, ivy, "is now your default")
    mirror_read(stack, org)
    held = [stack.xero.get_transaction(org, i) for i in stack.xero.transaction_ids(org)]
    # An overpayment un-reconciled in Xero, undated as Xero may leave it: only the digest's sweep
    # can see it, so the digest must count it and Show all must list it.
    overpayment = next(t for t in held if t["Type"].endswith("-OVERPAYMENT") and t["Status"] == "AUTHORISED")
    stack.xero.unreconcile_transaction(org, overpayment["BankTransactionID"])
    # What Xero itself holds as unreconciled: every live type, transfers and overpayments among them.
    held = [stack.xero.get_transaction(org, i) for i in stack.xero.transaction_ids(org)]
    unreconciled = [t for t in held if t["Status"] == "AUTHORISED" and not t["IsReconciled"]]
    kinds = {t["Type"] for t in unreconciled}
    assert {"SPEND-TRANSFER", "RECEIVE-TRANSFER"} <= kinds and kinds & {
        "SPEND-OVERPAYMENT",
        "RECEIVE-OVERPAYMENT",
    }
    in_order = sorted(unreconciled, key=lambda t: (t["DateString"][:10], t["BankTransactionID"]))
    expected = [t["BankTransactionID"] for t in in_order]

    digest = post_digest(stack, clock, ivy, books)
    shown = render_message(digest, width=200).text
    assert f"{len(expected):,} items" in shown
    assert "transfers" in shown and "overpayment" in shown  # counted by kind…
    assert "transfers, overpayments and prepayments" in shown  # …and named in the footer
    whole = f"Show all {len(expected):,}"
    [block] = [b for b in digest.blocks if (b.get("accessory") or {}).get("text", {}).get("text") == whole]
    ivy.press(ACTION_SHOW_ALL, on=digest, block_id=block["block_id"])
    page = ephemeral_with(stack, ivy, f"1–10 of {len(expected):,}", timeout=15)
    listed = _row_ids(page)
    assert listed[:10] == _row_ids(digest)[:10]  # the item the digest highlights is first here too
    n = 1
    while buttons(page, "recon_page_next"):
        n += 1
        first = (n - 1) * 10 + 1
        ivy.press("recon_page_next", on=page)
        page = ephemeral_with(stack, ivy, f"{first}–{min(first + 9, len(expected))} of {len(expected):,}")
        listed.extend(_row_ids(page))
    assert listed == expected  # exactly that set, in the digest's own order
