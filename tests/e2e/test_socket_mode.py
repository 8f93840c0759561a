"""`recon-bot serve --socket-mode` in a child process: Slack over a WebSocket, Xero's callback over HTTP.

No signing secret is configured: in Socket Mode nothing reaches the bot over HTTP from Slack.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from bot.demo.stack import Stack
from bot.sandbox.slack import SlackSandbox
from tests.e2e.helpers import buttons, message_text

pytest.importorskip("websockets")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bot() -> Iterator[Stack]:
    stack = Stack(
        xero_options={"transactions": 300, "organisations": 2},
        slack=SlackSandbox(socket_mode=True),
        in_process=False,
        server="socket-mode",
    )
    with stack:
        stack.slack.wait_for(lambda: stack.slack.socket_connections > 0, timeout=5)
        yield stack


def _ephemeral_with(bot: Stack, user_id: str, needle: str) -> object:
    def find() -> object:
        for message in reversed(bot.slack.ephemerals(user_id)):
            if needle in message_text(message):
                return message
        return None

    return bot.slack.wait_for(find, timeout=10)


def test_a_bookkeeper_uses_recon_over_socket_mode_and_it_stops_cleanly(bot: Stack) -> None:
    alice = bot.slack.add_user("U0ALICE", "alice")

    help_ack = alice.command("/recon", "help")
    assert help_ack.ok and help_ack.envelope_id  # over the socket, not HTTP
    _ephemeral_with(bot, alice.id, "/recon search")

    alice.command("/recon", "connect")
    (connect,) = buttons(_ephemeral_with(bot, alice.id, "Connect to Xero"), "recon_link_connect")
    page = bot.follow_consent(connect["url"], alice)  # Sign in with Slack, then Xero
    assert page.status_code == 200 and page.url.startswith(f"{bot.bot_url}/xero/callback")
    assert "You can close this tab and return to Slack" in page.text
    dm = bot.slack.wait_for(lambda: bot.slack.dms(alice.id), timeout=10)[-1]
    assert all(t["name"] in message_text(dm) for t in bot.xero.tenants)

    searching = alice.command("/recon", "search from:365d")
    assert searching.ok and "Searching" in searching.body
    first = _ephemeral_with(bot, alice.id, "Search results")
    assert any(p.token in searching.response_url for p in bot.slack.response_url_posts)
    (next_button,) = buttons(first, "recon_page_next")
    assert alice.press(next_button["action_id"], on=first).ok
    second = _ephemeral_with(bot, alice.id, "page 2")
    assert second.ts == first.ts  # replaced in place

    assert bot.slack.invalid_payloads == [] and bot.slack.warnings == []
    bot.child.send_signal(signal.SIGTERM)  # what platforms send to stop a process
    assert bot.child.wait(timeout=10) == 0, bot.log_path.read_text()[-2000:]
    assert "recon: stopping" in bot.log_path.read_text()
    bot.slack.wait_for(lambda: bot.slack.socket_connections == 0)
