"""Connecting reads the organisations into the mirror at once; the connect DM shows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.stack import Stack
from tests.e2e.helpers import buttons, ephemeral_with, message_text, mirror_read


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(xero_options={"transactions": 1500, "organisations": 2}) as running:
        yield running


def test_the_connect_dm_ends_with_how_many_transactions_were_read(stack: Stack, person):
    alice = person("alice")
    alice.command("/recon", "connect")
    message = ephemeral_with(stack, alice, "Connect to Xero")
    (connect_button,) = buttons(message, "recon_link_connect")
    stack.follow_consent(connect_button["url"], alice)

    def finished():
        dms = stack.slack.dms(alice.id)
        text = message_text(dms[-1]) if dms else ""
        return dms if text.count("✅ Read") == 2 else None

    dms = stack.slack.wait_for(finished, timeout=60)
    assert len(dms) == 1  # one DM, edited in place
    text = message_text(dms[-1])
    for tenant in stack.xero.tenants:
        live = [t for t in stack.xero.transactions(tenant["tenant_id"]) if t["Status"] == "AUTHORISED"]
        assert f"✅ Read {len(live):,} transactions from {tenant['name']}" in text
    assert "Recon is connected to Xero" in text  # the DM's own content stays above the progress


def test_make_default_pressed_while_reading_keeps_both_the_new_default_and_the_reading_lines(
    stack: Stack, person
):
    """The DM is redrawn by two hands: the read's progress and the "Make default" button. Neither
    may undo the other, whichever comes last."""
    for tenant in stack.xero.tenants:  # read anew at bob's consent, as for a first user
        mirror_read(stack, tenant["tenant_id"])
        stack.services.sync.forget(tenant["tenant_id"])
    bob = person("bob")
    stack.connect(bob)
    dm = stack.slack.wait_for(lambda: stack.slack.dms(bob.id))[-1]
    (make_default,) = buttons(dm, "recon_make_default")
    other = next(t["name"] for t in stack.xero.tenants if t["tenant_id"] == make_default["value"])
    bob.press(make_default["action_id"], on=dm)

    def settled():
        text = message_text(stack.slack.dms(bob.id)[-1])
        return text if f"default organisation is {other}" in text and text.count("✅ Read") == 2 else None

    text = stack.slack.wait_for(settled, timeout=60)
    assert stack.services.connect.default_org(stack.slack.team.team_id, bob.id).tenant_name == other
    assert "Recon is connected to Xero" in text
