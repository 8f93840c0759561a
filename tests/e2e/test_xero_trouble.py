"""Xero misbehaving, seen from Slack: a clear message, and nothing lost or half-changed."""

from __future__ import annotations

import time

import pytest

from bot.demo.stack import Stack
from tests.e2e.helpers import (
    edit_form,
    ephemeral_with,
    message_text,
    metadata,
    text_of,
    top_view_with,
    without_copy,
)


@pytest.fixture
def alice(stack: Stack, person):
    user = person("alice")
    stack.connect(user)
    yield user
    stack.xero.faults.clear()


def test_xero_down_during_a_search_says_so(stack: Stack, alice):
    tenant = stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_id
    without_copy(stack, tenant)  # a live search (with a copy, it answers from that: its own test)
    stack.xero.faults.fail_next(40, status=503)  # outlasts the client's retries
    alice.command("/recon", "search from:365d")
    message = ephemeral_with(stack, alice, "isn't responding", timeout=15)
    assert "Search results" not in message_text(message)
    stack.xero.faults.clear()
    alice.command("/recon", "search from:365d")
    ephemeral_with(stack, alice, "Search results")  # and it recovers once Xero does


def test_xero_rate_limiting_tells_the_user_how_long_to_wait(stack: Stack, alice):
    tenant = stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_id
    without_copy(stack, tenant)  # with a copy, search would answer from it instead
    stack.xero.faults.fail_next(6, status=429)  # Retry-After: 1, problem: minute
    alice.command("/recon", "search from:365d")
    message = ephemeral_with(stack, alice, "try again in", timeout=15)
    assert "slow down" in message_text(message)
    time.sleep(1.2)  # let the organisation's Retry-After pass for the tests that follow


def test_xero_down_while_saving_an_edit_changes_nothing(stack: Stack, alice):
    alice.command("/recon", "search from:365d")
    results = ephemeral_with(stack, alice, "Search results")
    row = next(b for b in results.blocks if (b.get("accessory") or {}).get("action_id") == "recon_edit")
    alice.press("recon_edit", on=results, block_id=row["block_id"])
    view = edit_form(stack, alice)
    meta = metadata(view)
    before = stack.xero.get_transaction(meta["t"], meta["x"])
    stack.xero.faults.fail_next(40, status=503)
    alice.submit(view, {"reference": {"reference": "NEVER-SAVED"}})
    done = top_view_with(stack, alice, "Nothing was changed", timeout=15)
    assert "Saved" not in text_of(done.blocks)
    stack.xero.faults.clear()
    after = stack.xero.get_transaction(meta["t"], meta["x"])
    assert after.get("Reference") == before.get("Reference")
    assert after["UpdatedDateUTC"] == before["UpdatedDateUTC"]
