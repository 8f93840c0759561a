"""The digest through the real Slack app: command, post, Edit and Show all by someone else, Home.

One stack (Xero sandbox + Slack stand-in + the bot's WSGI app on real sockets); the clock is
driven tick by tick in this process against the same database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.demo.stack import Stack
from bot.jobs import Clock, slack_client
from bot.slack.digest_blocks import ACTION_REMOVE, ACTION_SHOW_ALL
from bot.slack.refs import ACTION_EDIT
from storage import digests as ledger
from tests.e2e.helpers import buttons, ephemeral_with, message_text, text_of, top_view_with

TEAM = "T0RECON"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Its own seed: other suites' stacks use the default one, and the process-wide Xero throttle
    # is keyed by tenant id, so sharing ids would make the suites spend each other's budget.
    with Stack(xero_options={"transactions": 300, "organisations": 2, "seed": 23}) as running:
        yield running


def test_digest_from_command_to_channel_to_someone_elses_edit_and_home(stack):
    alice = stack.slack.add_user("U0DALICE", "alice")
    bob = stack.slack.add_user("U0DBOB", "bob")
    stranger = stack.slack.add_user("U0DSTRANGE", "stranger")
    stack.slack.add_channel("C0DIGEST1", "bookkeeping", members=[alice.id, bob.id, stranger.id])
    stack.connect(alice)
    bob_login = stack.xero.add_user("bob@example.com", "Bob", "Books")
    stack.xero.login_as(bob_login["xero_user_id"])
    stack.connect(bob)

    alice.command("/recon", "digest on 07:15 Pacific/Auckland", channel="C0DIGEST1")
    ephemeral_with(stack, alice, "gets a daily digest")
    [sub] = ledger.subscriptions_in_channel(stack.services.db, TEAM, "C0DIGEST1")
    assert (sub.local_time, sub.timezone, sub.owner_user_id) == ("07:15", "Pacific/Auckland", alice.id)

    zone = ZoneInfo("Pacific/Auckland")
    tomorrow = stack.xero.clock.now().astimezone(zone).date() + timedelta(days=1)
    clock = Clock(stack.services, slack_client(stack.settings))
    report = clock.tick(datetime.combine(tomorrow, time(7, 15), zone).astimezone(UTC))
    assert report.sent == 1
    [digest] = [m for m in stack.slack.messages("C0DIGEST1") if m.bot_id]
    assert "Unreconciled in" in message_text(digest)

    # Bob edits from Alice's digest: the modal is filled through Bob's own connection.
    bob.press(button=_element(buttons(digest, ACTION_EDIT)[0]), on=digest)
    form = top_view_with(stack, bob, "Reference")
    assert form.callback_id == "recon_edit_view"
    # Someone without Xero is asked to connect their own login instead of borrowing Alice's.
    stranger.press(button=_element(buttons(digest, ACTION_EDIT)[0]), on=digest)
    assert "Connect" in text_of(top_view_with(stack, stranger, "Xero").blocks)

    # Show all runs the matching search for the presser, privately; the digest stays as it was.
    bob.press(button=_element(buttons(digest, ACTION_SHOW_ALL)[-1]), on=digest)
    results = ephemeral_with(stack, bob, "Search results")
    assert "status:unreconciled" in message_text(results)
    assert [m.ts for m in stack.slack.messages("C0DIGEST1") if m.bot_id] == [digest.ts]

    # The App Home lists the subscription; Remove stops it and the Home is published again.
    alice.open_home()
    home = stack.slack.wait_for(lambda: _home_with(stack, alice, "07:15"))
    alice.press(button=_element(buttons(home, ACTION_REMOVE)[0]), on=home)
    stack.slack.wait_for(lambda: _home_with(stack, alice, "None yet"))
    assert ledger.subscriptions_in_channel(stack.services.db, TEAM, "C0DIGEST1") == []


def _home_with(stack, user, needle):
    home = stack.slack.home(user.id)
    return home if home is not None and needle in text_of(home.blocks) else None


class _element:  # noqa: N801 - a tiny adapter: press() wants attributes
    def __init__(self, element: dict) -> None:
        self.action_id = element["action_id"]
        self.block_id = element.get("block_id")
