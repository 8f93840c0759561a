"""Socket Mode in the stand-in: `apps.connections.open`, the hello, envelopes and their acks.

The "app" here is a bare WebSocket client, so every envelope and ack shape is visible; the
end-to-end test (tests/e2e/test_socket_mode.py) runs Bolt's own Socket Mode client instead.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import SlackSandbox

from .test_modals import edit_modal

sync_client = pytest.importorskip("websockets.sync.client")

APP_TOKEN = "xapp-1-test"
Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


class SocketApp:
    """Connects like an app, records what arrives and acks envelopes with `answer` (None: no ack)."""

    def __init__(self, url: str, answer: Answer) -> None:
        self._exit = ExitStack()
        self.connection = self._exit.enter_context(sync_client.connect(url))
        self.hello = json.loads(self.connection.recv(timeout=5))
        self.envelopes: list[dict[str, Any]] = []
        self.answer = answer
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in self.connection:
            message = json.loads(raw)
            self.envelopes.append(message)
            reply = self.answer(message)
            if reply is not None:
                self.connection.send(json.dumps(reply))

    def close(self) -> None:
        self._exit.close()
        self._thread.join(timeout=5)


@pytest.fixture
def socket_ss(ss: SlackSandbox) -> SlackSandbox:
    ss.app_token = APP_TOKEN
    ss.socket_mode = True
    return ss


@pytest.fixture
def connect(socket_ss: SlackSandbox) -> Iterator[Callable[[Answer], SocketApp]]:
    apps: list[SocketApp] = []

    def make(answer: Answer) -> SocketApp:
        url = WebClient(base_url=socket_ss.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
        app = SocketApp(url, answer)
        apps.append(app)
        socket_ss.wait_for(lambda: socket_ss.socket_connections == len(apps))
        return app

    yield make
    for app in apps:
        app.close()


def ack(payload: dict[str, Any] | None = None) -> Answer:
    return lambda envelope: {
        "envelope_id": envelope["envelope_id"],
        **({"payload": payload} if payload else {}),
    }


def error_of(token: str | None, ss: SlackSandbox) -> str:
    with pytest.raises(SlackApiError) as caught:
        WebClient(base_url=ss.api_url).api_call(
            "apps.connections.open", params={"token": token} if token else {}
        )
    return caught.value.response["error"]


# ------------------------------------------------------------------ apps.connections.open
def test_connections_open_wants_the_app_level_token(socket_ss: SlackSandbox) -> None:
    assert error_of(None, socket_ss) == "not_authed"
    assert error_of("xapp-1-someone-else", socket_ss) == "invalid_auth"
    assert error_of(socket_ss.bot_token, socket_ss) == "not_allowed_token_type"
    url = WebClient(base_url=socket_ss.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith("ws://127.0.0.1:") and "ticket=" in url


def test_hello_on_connect_and_each_url_is_single_use(socket_ss: SlackSandbox, connect) -> None:
    app = connect(ack())
    assert app.hello["type"] == "hello"
    assert app.hello["connection_info"] == {"app_id": socket_ss.team.app_id}
    used = WebClient(base_url=socket_ss.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]
    with sync_client.connect(used):
        pass
    with pytest.raises(Exception, match="401"), sync_client.connect(used):
        pass


# ------------------------------------------------------------------ envelopes and acks
def test_a_command_arrives_as_an_envelope_and_the_ack_text_is_shown(
    socket_ss: SlackSandbox, bot, connect
) -> None:
    app = connect(ack({"text": "Here is how to use /recon"}))
    delivery = socket_ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS")
    assert delivery.ok and delivery.envelope_id
    (envelope,) = app.envelopes
    assert envelope["type"] == "slash_commands" and envelope["accepts_response_payload"] is True
    assert envelope["envelope_id"] == delivery.envelope_id
    assert envelope["payload"]["command"] == "/recon" and envelope["payload"]["text"] == "help"
    assert envelope["payload"]["response_url"] == delivery.response_url
    assert socket_ss.ephemerals("U0ALICE", "C0BOOKS")[-1].text == "Here is how to use /recon"
    assert bot.received == []  # nothing went over HTTP


def test_an_empty_ack_shows_nothing_and_response_url_still_works(socket_ss: SlackSandbox, connect) -> None:
    connect(ack())
    delivery = socket_ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS")
    assert delivery.ok and socket_ss.ephemerals("U0ALICE") == []
    assert requests.post(delivery.response_url, json={"text": "later"}, timeout=5).status_code == 200
    assert socket_ss.ephemerals("U0ALICE")[-1].text == "later"


def test_view_submission_ack_payload_is_the_response_action(socket_ss: SlackSandbox, connect, client) -> None:
    errors = {"url": "Use an http or https link"}
    app = connect(
        lambda e: (
            {"envelope_id": e["envelope_id"]}
            | (
                {"payload": {"response_action": "errors", "errors": errors}}
                if e["type"] == "interactive"
                else {}
            )
        )
    )
    socket_ss.user("U0ALICE").command("/recon", "edit tx-1", channel="C0BOOKS")
    trigger_id = app.envelopes[-1]["payload"]["trigger_id"]
    view_id = client.views_open(trigger_id=trigger_id, view=edit_modal())["view"]["id"]
    delivery = socket_ss.user("U0ALICE").submit(view_id, {"url": {"value": "ftp://x"}})
    assert app.envelopes[-1]["type"] == "interactive"
    assert app.envelopes[-1]["payload"]["type"] == "view_submission"
    assert app.envelopes[-1]["accepts_response_payload"] is True
    assert delivery.ok and socket_ss.open_views("U0ALICE")[-1].errors == errors


def test_button_and_home_envelopes(socket_ss: SlackSandbox, connect, client) -> None:
    app = connect(ack())
    posted = client.chat_postMessage(
        channel="C0BOOKS",
        text="pick",
        blocks=[
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": "Go"}}
                ],
            }
        ],
    )
    message = next(m for m in socket_ss.messages("C0BOOKS") if m.ts == posted["ts"])
    assert socket_ss.user("U0ALICE").press("go", on=message).ok
    assert socket_ss.user("U0ALICE").open_home().ok
    press, home = app.envelopes[-2:]
    assert (press["type"], press["payload"]["type"], press["accepts_response_payload"]) == (
        "interactive",
        "block_actions",
        False,
    )
    assert home["type"] == "events_api" and home["payload"]["event"]["type"] == "app_home_opened"
    assert (home["retry_attempt"], home["retry_reason"]) == (0, "")


def test_no_ack_in_time_is_an_operation_timeout(socket_ss: SlackSandbox, connect) -> None:
    socket_ss.ack_timeout = 0.2
    connect(lambda envelope: None)
    delivery = socket_ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS")
    assert delivery.failed == "operation_timeout"
    assert socket_ss.ephemerals("U0ALICE")[-1].text == '/recon failed with the error "operation_timeout"'


def test_no_connection_is_a_dispatch_failure(socket_ss: SlackSandbox) -> None:
    delivery = socket_ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS")
    assert delivery.failed == "dispatch_failed"
    assert socket_ss.ephemerals("U0ALICE")[-1].text == '/recon failed with the error "dispatch_failed"'


def test_forging_makes_no_sense_over_a_socket(socket_ss: SlackSandbox, connect) -> None:
    connect(ack())
    with pytest.raises(ValueError, match="not signed"):
        socket_ss.user("U0ALICE").command("/recon", "help", signature="v0=00")


def test_http_stays_the_default(ss: SlackSandbox, bot) -> None:
    assert ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS").envelope_id is None
    assert bot.last("slash_command").payload["text"] == "help"
