"""Signed delivery to the bot: payload shapes, signatures, forgery, acks and failures."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack import SlackSandbox, sign

from .conftest import SECRET, FakeBot, Received, ack_json

SLASH_FIELDS = {
    "token",
    "team_id",
    "team_domain",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "command",
    "text",
    "api_app_id",
    "is_enterprise_install",
    "response_url",
    "trigger_id",
}
BUTTONS = [
    {"type": "section", "block_id": "row-1", "text": {"type": "mrkdwn", "text": "ZP-4471"}},
    {
        "type": "actions",
        "block_id": "row-1-actions",
        "elements": [
            {
                "type": "button",
                "action_id": "edit",
                "value": "tx-1",
                "text": {"type": "plain_text", "text": "Edit"},
            },
            {
                "type": "static_select",
                "action_id": "org",
                "placeholder": {"type": "plain_text", "text": "Org"},
                "options": [
                    {"text": {"type": "plain_text", "text": "Harbour"}, "value": "t-1"},
                    {"text": {"type": "plain_text", "text": "Zephyr"}, "value": "t-2"},
                ],
            },
        ],
    },
]


def test_signature_matches_slack_sdk_verifier() -> None:
    body = "token=x&text=search+acme"
    expected = SignatureVerifier(SECRET).generate_signature(timestamp="1700000000", body=body)
    assert sign(SECRET, "1700000000", body) == expected


def test_slash_command_has_slacks_form_fields(ss: SlackSandbox, bot: FakeBot) -> None:
    delivery = ss.user("U0ALICE").command("/recon", "search acme", channel="C0BOOKS")
    assert delivery.ok and delivery.status == 200
    got = bot.last("slash_command")
    assert got.content_type == "application/x-www-form-urlencoded"
    assert set(got.payload) == SLASH_FIELDS
    assert got.payload["command"] == "/recon"
    assert got.payload["text"] == "search acme"
    assert (got.payload["user_id"], got.payload["user_name"]) == ("U0ALICE", "alice")
    assert (got.payload["channel_id"], got.payload["channel_name"]) == ("C0BOOKS", "books")
    assert got.payload["response_url"].startswith(f"{ss.url}/response/")
    assert got.payload["trigger_id"] == delivery.trigger_id


def test_each_command_gets_its_own_response_url_and_trigger(ss: SlackSandbox, bot: FakeBot) -> None:
    alice = ss.user("U0ALICE")
    first, second = alice.command("/recon", "help"), alice.command("/recon", "help")
    assert first.response_url != second.response_url
    assert first.trigger_id != second.trigger_id


def test_forged_signature_is_rejected_and_the_user_sees_the_failure(ss: SlackSandbox, bot: FakeBot) -> None:
    delivery = ss.user("U0ALICE").command("/recon", "help", channel="C0BOOKS", signature="v0=bad")
    assert delivery.status == 401
    assert delivery.failed == "dispatch_failed"
    assert bot.received == [] and len(bot.rejected) == 1
    [seen] = ss.ephemerals("U0ALICE")
    assert seen.text == '/recon failed with the error "dispatch_failed"'


def test_replayed_old_timestamp_is_rejected(ss: SlackSandbox, bot: FakeBot) -> None:
    delivery = ss.user("U0ALICE").command("/recon", "help", timestamp=int(time.time()) - 6 * 60)
    assert delivery.status == 401
    assert bot.received == []


def test_tampered_body_with_original_signature_is_rejected(ss: SlackSandbox, bot: FakeBot) -> None:
    alice = ss.user("U0ALICE")
    alice.command("/recon", "search acme")
    original = bot.received[-1]
    timestamp = original.headers["X-Slack-Request-Timestamp"]
    signature = original.headers["X-Slack-Signature"]
    tampered = original.raw.replace("acme", "evil")
    delivery = alice.command("/recon", "x", body=tampered, timestamp=timestamp, signature=signature)
    assert delivery.status == 401
    # Replaying the exact original request (same body, signature, timestamp) passes the signature
    # check: that is why bots must also dedupe or keep the 5-minute window tight.
    replay = alice.command("/recon", "x", body=original.raw, timestamp=timestamp, signature=signature)
    assert replay.status == 200


def test_ack_text_is_shown_as_an_ephemeral_message(ss: SlackSandbox, bot: FakeBot) -> None:
    bot.handler = lambda r: (200, "Searching Harbour Coffee Roasters…", "text/plain; charset=utf-8")
    ss.user("U0ALICE").command("/recon", "search acme", channel="C0BOOKS")
    [seen] = ss.ephemerals("U0ALICE", channel="C0BOOKS")
    assert seen.text == "Searching Harbour Coffee Roasters…"
    assert ss.messages("C0BOOKS") == []


def test_empty_ack_shows_nothing(ss: SlackSandbox, bot: FakeBot) -> None:
    ss.user("U0ALICE").command("/recon", "search acme", channel="C0BOOKS")
    assert ss.ephemerals("U0ALICE") == [] and ss.messages("C0BOOKS") == []


def test_in_channel_ack_is_public(ss: SlackSandbox, bot: FakeBot) -> None:
    bot.handler = lambda r: ack_json(
        {"response_type": "in_channel", "text": "Digest is on", "blocks": BUTTONS}
    )
    ss.user("U0ALICE").command("/recon", "digest on", channel="C0BOOKS")
    [seen] = ss.messages("C0BOOKS")
    assert seen.text == "Digest is on"
    assert seen.blocks[1]["elements"][0]["action_id"] == "edit"


def test_invalid_blocks_in_an_ack_fail_the_command(ss: SlackSandbox, bot: FakeBot) -> None:
    too_long = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    bot.handler = lambda r: ack_json({"text": "t", "blocks": too_long})
    delivery = ss.user("U0ALICE").command("/recon", "help")
    assert delivery.failed == "invalid_blocks"
    assert ss.invalid_payloads[-1].source == "slash command ack"


def test_slow_ack_is_an_operation_timeout(ss: SlackSandbox, bot: FakeBot) -> None:
    release = threading.Event()

    def slow(received: Received) -> tuple[int, str, str]:
        release.wait(5)
        return 200, "", "text/plain"

    bot.handler = slow
    ss.ack_timeout = 0.2  # stands in for Slack's 3 s, so the test stays fast
    try:
        delivery = ss.user("U0ALICE").command("/recon", "search acme", channel="C0BOOKS")
    finally:
        release.set()
    assert delivery.failed == "operation_timeout"
    assert ss.ephemerals("U0ALICE")[-1].text == '/recon failed with the error "operation_timeout"'


def test_server_error_is_a_dispatch_failure(ss: SlackSandbox, bot: FakeBot) -> None:
    bot.handler = lambda r: (500, "boom", "text/plain")
    delivery = ss.user("U0ALICE").command("/recon", "help")
    assert (delivery.status, delivery.failed) == (500, "dispatch_failed")


def test_unreachable_bot_is_a_dispatch_failure(ss: SlackSandbox) -> None:
    ss.bot_url = "http://127.0.0.1:9/slack/events"
    assert ss.user("U0ALICE").command("/recon", "help").failed == "dispatch_failed"


def post_buttons(ss: SlackSandbox, client, ephemeral: bool = False):
    if ephemeral:
        client.chat_postEphemeral(channel="C0BOOKS", user="U0ALICE", text="results", blocks=BUTTONS)
        return ss.ephemerals("U0ALICE")[-1]
    client.chat_postMessage(channel="C0BOOKS", text="results", blocks=BUTTONS)
    return ss.messages("C0BOOKS")[-1]


def test_button_on_a_message_sends_block_actions(ss: SlackSandbox, bot: FakeBot, client) -> None:
    message = post_buttons(ss, client)
    delivery = ss.user("U0BOB").press("edit", on=message)
    assert delivery.ok
    got = bot.last("block_actions")
    assert got.content_type == "application/x-www-form-urlencoded"
    assert parse_qs(got.raw).keys() == {"payload"}
    body = got.payload
    assert body["user"] == {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0RECON"}
    assert body["team"] == {"id": "T0RECON", "domain": "recon-demo"}
    assert body["api_app_id"] == "A0RECON"
    assert body["container"] == {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": "C0BOOKS",
        "is_ephemeral": False,
    }
    assert body["channel"] == {"id": "C0BOOKS", "name": "books"}
    assert body["message"]["ts"] == message.ts
    assert body["message"]["blocks"][1]["block_id"] == "row-1-actions"
    [action] = body["actions"]
    assert action["action_id"] == "edit" and action["block_id"] == "row-1-actions"
    assert action["value"] == "tx-1" and action["type"] == "button"
    assert action["text"]["text"] == "Edit"
    assert body["response_url"].startswith(f"{ss.url}/response/")
    assert body["trigger_id"] == delivery.trigger_id


def test_select_sends_the_chosen_option(ss: SlackSandbox, bot: FakeBot, client) -> None:
    message = post_buttons(ss, client)
    ss.user("U0ALICE").press("org", on=message, value="t-2")
    [action] = bot.last("block_actions").payload["actions"]
    assert action["selected_option"]["value"] == "t-2"
    assert action["type"] == "static_select"


def test_button_on_an_ephemeral_message_has_no_message_field(ss: SlackSandbox, bot: FakeBot, client) -> None:
    message = post_buttons(ss, client, ephemeral=True)
    ss.user("U0ALICE").press("edit", on=message)
    body = bot.last("block_actions").payload
    assert body["container"]["is_ephemeral"] is True
    assert "message" not in body


def test_failed_button_is_visible_to_the_user(ss: SlackSandbox, bot: FakeBot, client) -> None:
    message = post_buttons(ss, client)
    bot.handler = lambda r: (404, "", "text/plain")
    delivery = ss.user("U0ALICE").press("edit", on=message)
    assert delivery.failed == "dispatch_failed"
    assert ss.events[-1].kind == "failure"


def test_app_home_opened_event_shape(ss: SlackSandbox, bot: FakeBot, client) -> None:
    client.views_publish(user_id="U0ALICE", view={"type": "home", "blocks": BUTTONS[:1]})
    ss.user("U0ALICE").open_home()
    got = bot.last("event_callback")
    assert got.content_type == "application/json"
    body = got.payload
    assert body["team_id"] == "T0RECON" and body["api_app_id"] == "A0RECON"
    assert body["event_id"].startswith("Ev") and isinstance(body["event_time"], int)
    event = body["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "U0ALICE", "home")
    assert event["channel"].startswith("D")
    assert event["view"]["type"] == "home"
    assert body["authorizations"][0]["user_id"] == "U0RECONBOT"


def test_first_home_open_has_no_view(ss: SlackSandbox, bot: FakeBot) -> None:
    ss.user("U0BOB").open_home()
    assert "view" not in bot.last("event_callback").payload["event"]


def test_moving_slacks_clock_does_not_break_signatures(ss: SlackSandbox, bot: FakeBot, clock) -> None:
    clock.advance(3600)  # e.g. to expire response_urls; the bot still checks against its own clock
    assert ss.user("U0ALICE").command("/recon", "help").status == 200
