"""A real Bolt app against the stand-in: proves the payload shapes are ones Bolt accepts.

Only slack_bolt is used here (no Recon code), so a failure points at the stand-in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from werkzeug.serving import make_server

from bot.sandbox.slack import SlackSandbox
from bot.sandbox.slack.render import render_message

from .conftest import SECRET, TOKEN

LOADING = {
    "type": "modal",
    "callback_id": "edit",
    "title": {"type": "plain_text", "text": "Edit"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Loading…"}}],
}
EDIT = {
    "type": "modal",
    "callback_id": "edit",
    "title": {"type": "plain_text", "text": "Edit"},
    "submit": {"type": "plain_text", "text": "Save"},
    "private_metadata": "tx-1",
    "blocks": [
        {
            "type": "input",
            "block_id": "reference",
            "label": {"type": "plain_text", "text": "Reference"},
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "INV-1"},
        }
    ],
}
PAGE = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Page 1"}},
    {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "next", "text": {"type": "plain_text", "text": "Next"}}],
    },
]


def build_app(ss: SlackSandbox, saved: list[str]) -> App:
    app = App(signing_secret=SECRET, client=WebClient(token=TOKEN, base_url=ss.api_url))

    @app.command("/recon")
    def recon(ack: Any, command: dict[str, Any], client: WebClient, respond: Any) -> None:
        if command["text"].startswith("edit"):
            ack()
            opened = client.views_open(trigger_id=command["trigger_id"], view=LOADING)["view"]
            client.views_update(view_id=opened["id"], hash=opened["hash"], view=EDIT)
        else:
            ack("Searching…")
            respond(text="Page 1", blocks=PAGE, replace_original=True)

    @app.action("next")
    def next_page(ack: Any, respond: Any) -> None:
        ack()
        respond(text="Page 2", blocks=PAGE, replace_original=True)

    @app.view("edit")
    def submit(ack: Any, view: dict[str, Any]) -> None:
        value = view["state"]["values"]["reference"]["value"]["value"]
        if not value.startswith("INV-"):
            ack(response_action="errors", errors={"reference": "Start with INV-"})
            return
        saved.append(f"{view['private_metadata']}={value}")
        ack()

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        view = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}]}
        client.views_publish(user_id=event["user"], view=view)

    return app


@pytest.fixture
def bolt(ss: SlackSandbox) -> Iterator[list[str]]:
    saved: list[str] = []
    server = make_server("127.0.0.1", 0, SlackRequestHandler(build_app(ss, saved)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    ss.bot_url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    yield saved
    server.shutdown()
    server.server_close()


def test_bolt_app_called_auth_test_on_startup(ss: SlackSandbox, bolt: list[str]) -> None:
    assert ss.calls_to("auth.test")


def test_command_ack_then_respond_replaces_searching(ss: SlackSandbox, bolt: list[str]) -> None:
    alice = ss.user("U0ALICE")
    assert alice.command("/recon", "search acme", channel="C0BOOKS").ok
    page = ss.wait_for(lambda: [m for m in ss.ephemerals("U0ALICE") if m.text == "Page 1"])[0]
    assert len(ss.ephemerals("U0ALICE")) == 1  # "Searching…" was replaced, not added to
    alice.press(button=render_message(page).element(1), on=page)
    ss.wait_for(lambda: ss.ephemerals("U0ALICE")[0].text == "Page 2")


def test_modal_round_trip(ss: SlackSandbox, bolt: list[str]) -> None:
    alice = ss.user("U0ALICE")
    alice.command("/recon", "edit tx-1")
    view = ss.wait_for(lambda: [v for v in ss.open_views("U0ALICE") if v.submit])[0]
    assert alice.submit(view.id, {"reference": {"value": "oops"}}).ok
    assert ss.view(view.id).errors == {"reference": "Start with INV-"}
    assert alice.submit(view.id, {"reference": {"value": "INV-2"}}).outcome == ["closed"]
    assert bolt == ["tx-1=INV-2"]
    assert ss.open_views("U0ALICE") == []


def test_home_opened_event_publishes(ss: SlackSandbox, bolt: list[str]) -> None:
    assert ss.user("U0BOB").open_home().ok
    ss.wait_for(lambda: ss.home("U0BOB"))


def test_bolt_rejects_forged_requests(ss: SlackSandbox, bolt: list[str]) -> None:
    delivery = ss.user("U0ALICE").command("/recon", "search acme", signature="v0=" + "0" * 64)
    assert delivery.status == 401 and delivery.failed == "dispatch_failed"
    assert ss.invalid_payloads == []
