"""Acks are never starved: while Xero holds every search, Slack still gets its answers in time.

Not a timing test: the Slack stand-in gives the bot Slack's 3-second ack deadline, and a late ack
is a failed delivery ("operation_timeout"), exactly what a user would see as an error.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.demo.stack import Stack
from tests.e2e.helpers import message_text

pytestmark = pytest.mark.slow

SEARCHES = 40


def test_commands_are_acked_while_xero_holds_every_search(stack: Stack, person):
    alice = person("alice")
    stack.connect(alice)
    gate = stack.xero.faults.hold_calls()
    try:
        with ThreadPoolExecutor(max_workers=SEARCHES) as pool:
            deliveries = list(pool.map(lambda _: alice.command("/recon", "search from:30d"), range(SEARCHES)))
        assert [d.failed for d in deliveries if not d.ok] == []
        assert all("Searching" in d.body for d in deliveries)
        assert gate.wait_for(1)  # the searches really are stuck at Xero
        late = alice.command("/recon", "help")
        assert late.ok and "/recon search" in late.body
    finally:
        gate.release()
        stack.xero.faults.clear()

    def answered() -> bool:
        done = [
            m
            for m in stack.slack.ephemerals(alice.id)
            if "Search results" in message_text(m) or "try again" in message_text(m)
        ]
        return len(done) >= SEARCHES

    stack.slack.wait_for(answered, timeout=20)
