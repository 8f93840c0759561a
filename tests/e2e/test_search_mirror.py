"""Search from Slack once Recon holds a copy of the organisation: what the user sees, what Xero sees.

Connecting starts the first sync at once; the tests wait for it, then set the sync state to
what each case needs (a copy gone stale, one still filling).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.demo.stack import Stack
from storage.organisations import get_organisation
from tests.e2e.helpers import all_read, ephemeral_with, message_text
from tests.mirrorfill import mark_synced


@pytest.fixture
def alice(stack: Stack, person):
    user = person("alice")
    stack.connect(user)
    yield user
    stack.xero.faults.clear()


def tenant_of(stack: Stack, user) -> str:
    return stack.services.connect.default_org(stack.slack.team.team_id, user.id).tenant_id


def synced(stack: Stack, tenant: str) -> None:
    """Wait for the first syncs that connecting started (every organisation's, so another one's
    read is not counted as this search's call)."""
    all_read(stack)
    assert stack.services.sync.freshness(tenant).complete


def api_calls(stack: Stack) -> int:
    return sum(1 for r in stack.xero.requests if "/api.xro/" in r["path"])


def test_a_fresh_copy_answers_with_no_xero_call_and_counts_every_match(stack: Stack, alice):
    tenant = tenant_of(stack, alice)
    synced(stack, tenant)
    alice.command("/recon", "search type:spend")  # reads the organisation's ShortCode and zone, once ever
    ephemeral_with(stack, alice, "Search results", timeout=10)
    stack.xero.clear_requests()
    alice.command("/recon", "search from:540d")
    message = ephemeral_with(stack, alice, "Search results — ", timeout=10)
    while "type:spend" in message_text(message):
        message = ephemeral_with(stack, alice, "from:540d", timeout=10)
    assert api_calls(stack) == 0, [r["path"] for r in stack.xero.requests]
    text = message_text(message)
    assert "1–10 of " in text and "as of" not in text and "still filling" not in text


def test_with_xero_down_a_stale_copy_still_answers_and_says_how_old(stack: Stack, alice):
    tenant = tenant_of(stack, alice)
    synced(stack, tenant)
    old = stack.xero.clock.now() - timedelta(minutes=9)
    mark_synced(stack.services.db, tenant, at=old, rows=1)
    stack.xero.faults.fail_next(40, status=503)
    stack.xero.clear_requests()
    alice.command("/recon", "search from:540d")
    message = ephemeral_with(stack, alice, "Search results", timeout=15)
    text = message_text(message)
    zone = get_organisation(stack.services.db, tenant).timezone  # what the message's times follow
    local = old.astimezone(ZoneInfo(zone))
    assert f"as of {local:%H:%M}" in text, text
    assert "isn't responding" not in text


def test_while_the_copy_fills_search_is_live_and_says_so(stack: Stack, alice):
    tenant = tenant_of(stack, alice)
    synced(stack, tenant)
    mark_synced(stack.services.db, tenant, at=None, complete=False, rows=120, expected=300)
    stack.xero.clear_requests()
    alice.command("/recon", "search from:540d")
    message = ephemeral_with(stack, alice, "Search results", timeout=10)
    assert api_calls(stack) >= 1
    assert "still filling (120 of about 300 read)" in message_text(message)
