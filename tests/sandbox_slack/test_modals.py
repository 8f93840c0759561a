"""Modals and the Home tab: triggers, hashes, view_submission acks, closing."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import ManualClock, SlackSandbox

from .conftest import FakeBot, Received, ack_json


def edit_modal(reference: str = "INV-0042", **extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "edit_tx",
        "private_metadata": '{"tx": "tx-1"}',
        "title": {"type": "plain_text", "text": "Edit transaction"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Zephyr Plumbing · −1,234.56 NZD"}]},
            {
                "type": "input",
                "block_id": "reference",
                "label": {"type": "plain_text", "text": "Reference"},
                "element": {"type": "plain_text_input", "action_id": "value", "initial_value": reference},
            },
            {
                "type": "input",
                "block_id": "url",
                "optional": True,
                "label": {"type": "plain_text", "text": "Source link"},
                "element": {"type": "url_text_input", "action_id": "value"},
            },
        ],
        **extra,
    }


def error_of(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def trigger(ss: SlackSandbox, bot: FakeBot, user: str = "U0ALICE") -> str:
    ss.user(user).command("/recon", "edit tx-1", channel="C0BOOKS")
    return bot.last("slash_command").payload["trigger_id"]


def open_modal(ss: SlackSandbox, bot: FakeBot, client: WebClient, **extra: Any) -> str:
    return client.views_open(trigger_id=trigger(ss, bot), view=edit_modal(**extra))["view"]["id"]


def test_views_open_shows_the_modal_to_the_triggering_user(ss: SlackSandbox, bot: FakeBot, client) -> None:
    reply = client.views_open(trigger_id=trigger(ss, bot), view=edit_modal())
    view = reply["view"]
    assert view["id"].startswith("V") and view["hash"]
    assert view["callback_id"] == "edit_tx"
    [shown] = ss.open_views("U0ALICE")
    assert shown.id == view["id"] and shown.title["text"] == "Edit transaction"
    assert ss.open_views("U0BOB") == []


def test_trigger_is_single_use(ss: SlackSandbox, bot: FakeBot, client) -> None:
    trigger_id = trigger(ss, bot)
    client.views_open(trigger_id=trigger_id, view=edit_modal())
    assert (
        error_of(lambda: client.views_open(trigger_id=trigger_id, view=edit_modal())) == "trigger_exchanged"
    )


def test_trigger_expires_after_three_seconds(
    ss: SlackSandbox, bot: FakeBot, client, clock: ManualClock
) -> None:
    trigger_id = trigger(ss, bot)
    clock.advance(3.5)
    assert error_of(lambda: client.views_open(trigger_id=trigger_id, view=edit_modal())) == "trigger_expired"


def test_trigger_just_inside_three_seconds_works(
    ss: SlackSandbox, bot: FakeBot, client, clock: ManualClock
) -> None:
    trigger_id = trigger(ss, bot)
    clock.advance(2.9)
    assert client.views_open(trigger_id=trigger_id, view=edit_modal())["ok"]


def test_made_up_trigger(client) -> None:
    assert (
        error_of(lambda: client.views_open(trigger_id="123.456.abc", view=edit_modal()))
        == "invalid_trigger_id"
    )


def test_invalid_view_is_refused_without_spending_the_trigger(ss: SlackSandbox, bot: FakeBot, client) -> None:
    trigger_id = trigger(ss, bot)
    bad = edit_modal()
    bad["title"]["text"] = "A title longer than twenty-four"
    assert error_of(lambda: client.views_open(trigger_id=trigger_id, view=bad)) == "invalid_arguments"
    assert ss.invalid_payloads[-1].source == "views.open"
    assert client.views_open(trigger_id=trigger_id, view=edit_modal())["ok"]


def test_views_update_needs_the_current_hash(ss: SlackSandbox, bot: FakeBot, client) -> None:
    opened = client.views_open(trigger_id=trigger(ss, bot), view=edit_modal())["view"]
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=edit_modal("INV-9"))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    stale = lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=edit_modal())  # noqa: E731
    assert error_of(stale) == "hash_conflict"
    element = ss.view(opened["id"]).blocks[1]["element"]
    assert element["initial_value"] == "INV-9"


def test_views_update_by_external_id(ss: SlackSandbox, bot: FakeBot, client) -> None:
    view_id = open_modal(ss, bot, client, external_id="edit-tx-1")
    client.views_update(external_id="edit-tx-1", view=edit_modal("INV-7"))
    assert ss.view(view_id).blocks[1]["element"]["initial_value"] == "INV-7"


def test_views_update_of_an_unknown_view(client) -> None:
    assert error_of(lambda: client.views_update(view_id="V0NOPE", view=edit_modal())) == "not_found"


def test_views_update_keeps_what_the_user_typed(ss: SlackSandbox, bot: FakeBot, client) -> None:
    view_id = open_modal(ss, bot, client)
    ss.user("U0ALICE").press("value", block_id="reference", on=view_id, value="typed by alice")
    client.views_update(view_id=view_id, view=edit_modal("from bot"))
    values = ss.view(view_id).state_values()
    assert values["reference"]["value"]["value"] == "typed by alice"


def test_button_in_a_modal_sends_the_view_with_state(ss: SlackSandbox, bot: FakeBot, client) -> None:
    modal = edit_modal()
    modal["blocks"].append(
        {
            "type": "actions",
            "block_id": "more",
            "elements": [
                {"type": "button", "action_id": "reload", "text": {"type": "plain_text", "text": "Reload"}}
            ],
        }
    )
    view_id = client.views_open(trigger_id=trigger(ss, bot), view=modal)["view"]["id"]
    ss.user("U0ALICE").press("reload", on=view_id)
    body = bot.last("block_actions").payload
    assert body["container"] == {"type": "view", "view_id": view_id}
    assert body["view"]["id"] == view_id and body["view"]["hash"]
    assert body["view"]["private_metadata"] == '{"tx": "tx-1"}'
    assert body["view"]["state"]["values"]["reference"]["value"]["value"] == "INV-0042"
    assert "response_url" not in body


def submit_with(ss: SlackSandbox, bot: FakeBot, client, ack) -> tuple[str, Any]:
    view_id = open_modal(ss, bot, client)
    bot.handler = ack
    delivery = ss.user("U0ALICE").submit(view_id, {"reference": {"value": "INV-0043"}})
    return view_id, delivery


def test_submission_payload_shape(ss: SlackSandbox, bot: FakeBot, client) -> None:
    view_id, delivery = submit_with(ss, bot, client, None)
    body = bot.last("view_submission").payload
    assert body["type"] == "view_submission"
    assert body["user"]["id"] == "U0ALICE" and body["team"]["id"] == "T0RECON"
    view = body["view"]
    assert (view["id"], view["type"], view["callback_id"]) == (view_id, "modal", "edit_tx")
    assert view["state"]["values"]["reference"]["value"] == {"type": "plain_text_input", "value": "INV-0043"}
    assert view["state"]["values"]["url"]["value"] == {"type": "url_text_input", "value": None}
    assert body["response_urls"] == [] and "response_url" not in body


def test_empty_ack_closes_the_modal(ss: SlackSandbox, bot: FakeBot, client) -> None:
    _, delivery = submit_with(ss, bot, client, None)
    assert delivery.outcome == ["closed"]
    assert ss.open_views("U0ALICE") == []


def test_errors_ack_keeps_the_modal_open_with_messages(ss: SlackSandbox, bot: FakeBot, client) -> None:
    ack = lambda r: ack_json({"response_action": "errors", "errors": {"url": "Use an http or https link"}})  # noqa: E731
    view_id, delivery = submit_with(ss, bot, client, ack)
    assert delivery.ok
    [shown] = ss.open_views("U0ALICE")
    assert shown.id == view_id and shown.errors == {"url": "Use an http or https link"}


def test_errors_keyed_by_action_id_are_a_failure(ss: SlackSandbox, bot: FakeBot, client) -> None:
    ack = lambda r: ack_json({"response_action": "errors", "errors": {"value": "wrong key"}})  # noqa: E731
    _, delivery = submit_with(ss, bot, client, ack)
    assert delivery.failed == "invalid_arguments"
    assert delivery.user_sees == "We had some trouble connecting. Try again?"


def test_update_ack_replaces_the_view_in_place(ss: SlackSandbox, bot: FakeBot, client) -> None:
    saving = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Saving…"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Saving to Xero…"}}],
    }
    view_id, delivery = submit_with(
        ss, bot, client, lambda r: ack_json({"response_action": "update", "view": saving})
    )
    [shown] = ss.open_views("U0ALICE")
    assert shown.id == view_id and shown.title["text"] == "Saving…"
    # the bot can keep updating the same view id after the ack
    client.views_update(view_id=view_id, view={**saving, "title": {"type": "plain_text", "text": "Saved"}})
    assert ss.open_views("U0ALICE")[0].title["text"] == "Saved"


def test_push_ack_then_clear(ss: SlackSandbox, bot: FakeBot, client) -> None:
    confirm = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Conflict"},
        "submit": {"type": "plain_text", "text": "Overwrite"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Changed in Xero"}}],
    }
    view_id, _ = submit_with(
        ss, bot, client, lambda r: ack_json({"response_action": "push", "view": confirm})
    )
    stack = ss.open_views("U0ALICE")
    assert [v.title["text"] for v in stack] == ["Edit transaction", "Conflict"]
    assert stack[1].previous_view_id == view_id and stack[1].root_view_id == view_id
    bot.handler = lambda r: ack_json({"response_action": "clear"})
    ss.user("U0ALICE").submit(stack[1].id)
    assert ss.open_views("U0ALICE") == []


def test_invalid_view_in_update_ack_is_a_failure(ss: SlackSandbox, bot: FakeBot, client) -> None:
    bad = {"type": "modal", "title": {"type": "plain_text", "text": "x" * 30}, "blocks": []}
    _, delivery = submit_with(ss, bot, client, lambda r: ack_json({"response_action": "update", "view": bad}))
    assert delivery.failed == "invalid_arguments"
    assert len(ss.open_views("U0ALICE")) == 1


def test_slack_refuses_to_send_an_empty_required_field(ss: SlackSandbox, bot: FakeBot, client) -> None:
    view_id = open_modal(ss, bot, client)
    before = len(bot.received)
    delivery = ss.user("U0ALICE").submit(view_id, {"reference": {"value": ""}})
    assert delivery.failed == "client_validation"
    assert len(bot.received) == before
    assert ss.view(view_id).errors == {"reference": "Please fill out this field."}


def test_failed_submission_keeps_the_modal(ss: SlackSandbox, bot: FakeBot, client) -> None:
    _, delivery = submit_with(ss, bot, client, lambda r: (500, "", "text/plain"))
    assert delivery.failed == "dispatch_failed"
    assert len(ss.open_views("U0ALICE")) == 1


def test_close_sends_view_closed_only_when_asked(ss: SlackSandbox, bot: FakeBot, client) -> None:
    quiet = open_modal(ss, bot, client)
    assert ss.user("U0ALICE").close_view(quiet).status is None
    assert ss.open_views("U0ALICE") == []
    loud = open_modal(ss, bot, client, notify_on_close=True)
    delivery = ss.user("U0ALICE").close_view(loud)
    assert delivery.ok
    body = bot.last("view_closed").payload
    assert body["view"]["id"] == loud and body["is_cleared"] is False
    assert ss.open_views("U0ALICE") == []


def test_push_needs_a_fresh_trigger_and_stops_at_three(ss: SlackSandbox, bot: FakeBot, client) -> None:
    open_modal(ss, bot, client)
    for _ in range(2):
        client.views_push(trigger_id=trigger(ss, bot), view=edit_modal())
    assert len(ss.open_views("U0ALICE")) == 3
    assert (
        error_of(lambda: client.views_push(trigger_id=trigger(ss, bot), view=edit_modal()))
        == "push_limit_reached"
    )


def test_home_publish_is_per_user_and_hash_checked(ss: SlackSandbox, client) -> None:
    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Connected"}}]}
    first = client.views_publish(user_id="U0ALICE", view=home)["view"]
    assert ss.home("U0ALICE").blocks[0]["text"]["text"] == "Connected"
    assert ss.home("U0BOB") is None
    second = client.views_publish(user_id="U0ALICE", view=home, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    stale = lambda: client.views_publish(user_id="U0ALICE", view=home, hash=first["hash"])  # noqa: E731
    assert error_of(stale) == "hash_conflict"


def test_home_view_with_a_submit_button_is_invalid(client) -> None:
    home = {
        "type": "home",
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [{"type": "divider"}],
    }
    assert error_of(lambda: client.views_publish(user_id="U0ALICE", view=home)) == "invalid_arguments"


def test_opening_a_modal_inside_the_ack_works(ss: SlackSandbox, bot: FakeBot, client) -> None:
    def open_now(received: Received) -> tuple[int, str, str]:
        client.views_open(trigger_id=received.payload["trigger_id"], view=edit_modal())
        return 200, "", "text/plain"

    bot.handler = open_now
    ss.user("U0ALICE").command("/recon", "edit tx-1")
    assert [v.callback_id for v in ss.open_views("U0ALICE")] == ["edit_tx"]
