"""`recon-bot serve --socket-mode` in a child process: Slack over a WebSocket, Xero's callback over HTTP.

No signing secret is configured: in Socket Mode nothing reaches the bot over HTTP from Slack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from bot.sandbox.slack import SlackSandbox
from bot.sandbox.stack import bot_environ
from bot.sandbox.xero import XeroSandbox
from tests.e2e.helpers import buttons, message_text

pytest.importorskip("websockets")
pytestmark = pytest.mark.slow

START_TIMEOUT_S = 30.0


@dataclass
class SocketBot:
    xero: XeroSandbox
    slack: SlackSandbox
    url: str
    child: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(bot: SocketBot) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if bot.child.poll() is not None:
            raise RuntimeError(f"the bot exited at start-up:\n{bot.log.read_text()[-2000:]}")
        try:
            if requests.get(f"{bot.url}/healthz", timeout=1).status_code == 200:
                bot.slack.wait_for(lambda: bot.slack.socket_connections > 0, timeout=5)
                return
        except requests.RequestException:
            pass  # not listening yet
        time.sleep(0.05)
    raise RuntimeError(f"the bot did not come up in {START_TIMEOUT_S:.0f} s:\n{bot.log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def bot() -> Iterator[SocketBot]:
    xero = XeroSandbox(transactions=300, organisations=2).start()
    slack = SlackSandbox(socket_mode=True).start()
    with tempfile.TemporaryDirectory(prefix="recon-socket-") as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        xero.register_redirect_uri(f"{url}/xero/callback")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "XERO_"))}
        env.update(
            bot_environ(
                xero,
                slack=slack,
                database_url=f"sqlite:///{Path(tmp) / 'recon.db'}",
                redirect_uri=f"{url}/xero/callback",
                PORT=str(port),
                SLACK_APP_TOKEN=slack.app_token,
            )
        )
        del env["SLACK_SIGNING_SECRET"]
        log = Path(tmp) / "bot.log"
        with open(log, "wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--socket-mode", "--host", "127.0.0.1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=tmp,  # no stray .env from the caller's directory
            )
        running = SocketBot(xero, slack, url, child, log)
        try:
            _wait_until_up(running)
            yield running
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            slack.stop()
            xero.stop()


def _ephemeral_with(bot: SocketBot, user_id: str, needle: str) -> object:
    def find() -> object:
        for message in reversed(bot.slack.ephemerals(user_id)):
            if needle in message_text(message):
                return message
        return None

    return bot.slack.wait_for(find, timeout=10)


def test_a_bookkeeper_uses_recon_over_socket_mode_and_it_stops_cleanly(bot: SocketBot) -> None:
    alice = bot.slack.add_user("U0ALICE", "alice")

    help_ack = alice.command("/recon", "help")
    assert help_ack.ok and help_ack.envelope_id  # over the socket, not HTTP
    _ephemeral_with(bot, alice.id, "/recon search")

    alice.command("/recon", "connect")
    (connect,) = buttons(_ephemeral_with(bot, alice.id, "Connect to Xero"), "recon_link_connect")
    page = requests.get(connect["url"], timeout=10, allow_redirects=True)
    assert page.status_code == 200 and page.url.startswith(f"{bot.url}/xero/callback")
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
    assert bot.child.wait(timeout=10) == 0, bot.log.read_text()[-2000:]
    assert "recon: stopping" in bot.log.read_text()
    bot.slack.wait_for(lambda: bot.slack.socket_connections == 0)
