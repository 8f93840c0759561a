"""The Web API as the bot's slack_sdk WebClient sees it, over real HTTP."""

from __future__ import annotations

import json

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import SlackSandbox

from .conftest import TOKEN

SECTION = [{"type": "section", "text": {"type": "mrkdwn", "text": "*3 unreconciled*"}}]


def error_of(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response["error"]


def test_auth_test_names_the_bot(client: WebClient) -> None:
    reply = client.auth_test()
    assert (reply["user_id"], reply["bot_id"], reply["team_id"]) == ("U0RECONBOT", "B0RECON", "T0RECON")


def test_wrong_or_missing_token_is_refused(ss: SlackSandbox) -> None:
    assert error_of(lambda: WebClient(token="xoxb-wrong", base_url=ss.api_url).auth_test()) == "invalid_auth"
    reply = requests.post(f"{ss.api_url}auth.test", timeout=5).json()
    assert reply == {"ok": False, "error": "not_authed"}


def test_token_may_come_in_the_form_body(ss: SlackSandbox) -> None:
    reply = requests.post(f"{ss.api_url}auth.test", data={"token": TOKEN}, timeout=5).json()
    assert reply["ok"] is True


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.scheduleTeleport")) == "unknown_method"


def test_post_message_to_a_channel_is_visible_there(ss: SlackSandbox, client: WebClient) -> None:
    reply = client.chat_postMessage(channel="C0BOOKS", text="3 unreconciled", blocks=SECTION)
    assert reply["channel"] == "C0BOOKS"
    [shown] = ss.messages("C0BOOKS")
    assert shown.ts == reply["ts"]
    assert shown.text == "3 unreconciled"
    assert shown.blocks[0]["text"]["text"] == "*3 unreconciled*"
    assert shown.bot_id == "B0RECON"


def test_post_message_by_channel_name(ss: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="#books", text="hello")
    assert [m.text for m in ss.messages("C0BOOKS")] == ["hello"]


def test_bot_must_be_in_the_channel(ss: SlackSandbox, client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="C0RANDOM", text="hi")) == "not_in_channel"
    ss.invite_bot("C0RANDOM")
    client.chat_postMessage(channel="C0RANDOM", text="hi")
    assert [m.text for m in ss.messages("C0RANDOM")] == ["hi"]


def test_unknown_channel(client: WebClient) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="C0NOPE", text="hi")) == "channel_not_found"


def test_message_needs_text_or_blocks(client: WebClient) -> None:
    with pytest.warns(UserWarning):
        assert error_of(lambda: client.chat_postMessage(channel="C0BOOKS")) == "no_text"


def test_blocks_without_text_post_but_are_flagged(ss: SlackSandbox, client: WebClient) -> None:
    with pytest.warns(UserWarning):  # slack_sdk itself warns about the missing text
        client.chat_postMessage(channel="C0BOOKS", blocks=SECTION)
    assert any("without top-level text" in w for w in ss.warnings)


def test_dm_by_user_id_lands_in_the_app_home_messages_tab(ss: SlackSandbox, client: WebClient) -> None:
    reply = client.chat_postMessage(channel="U0ALICE", text="Connected to Harbour Coffee")
    assert reply["channel"].startswith("D")
    assert [m.text for m in ss.dms("U0ALICE")] == ["Connected to Harbour Coffee"]
    assert ss.dms("U0BOB") == []


def test_dm_by_user_id_needs_the_messages_tab(ss: SlackSandbox, client: WebClient) -> None:
    ss.messages_tab_enabled = False
    assert error_of(lambda: client.chat_postMessage(channel="U0ALICE", text="hi")) == "messages_tab_disabled"


def test_conversations_open_returns_the_same_dm(ss: SlackSandbox, client: WebClient) -> None:
    dm = client.conversations_open(users="U0ALICE")["channel"]["id"]
    client.chat_postMessage(channel=dm, text="via D id")
    assert [m.text for m in ss.dms("U0ALICE")] == ["via D id"]


def test_ephemeral_is_seen_only_by_its_user(ss: SlackSandbox, client: WebClient) -> None:
    reply = client.chat_postEphemeral(channel="C0BOOKS", user="U0ALICE", text="only you")
    assert [m.text for m in ss.ephemerals("U0ALICE")] == ["only you"]
    assert ss.ephemerals("U0ALICE")[0].ts == reply["message_ts"]
    assert ss.ephemerals("U0BOB") == []
    assert ss.messages("C0BOOKS") == []


def test_ephemeral_to_someone_outside_the_channel(ss: SlackSandbox, client: WebClient) -> None:
    ss.invite_bot("C0RANDOM")
    error = error_of(lambda: client.chat_postEphemeral(channel="C0RANDOM", user="U0BOB", text="x"))
    assert error == "user_not_in_channel"


def test_update_and_delete_own_message(ss: SlackSandbox, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C0BOOKS", text="Searching…")["ts"]
    client.chat_update(channel="C0BOOKS", ts=ts, text="3 found", blocks=SECTION)
    [shown] = ss.messages("C0BOOKS")
    assert (shown.text, shown.edited) == ("3 found", True)
    client.chat_delete(channel="C0BOOKS", ts=ts)
    assert ss.messages("C0BOOKS") == []
    assert error_of(lambda: client.chat_update(channel="C0BOOKS", ts=ts, text="x")) == "message_not_found"


def test_users_info_gives_time_zone(client: WebClient) -> None:
    user = client.users_info(user="U0ALICE")["user"]
    assert user["tz"] == "Pacific/Auckland"
    assert user["tz_offset"] in {12 * 3600, 13 * 3600}
    assert user["real_name"] == "Alice Ngata"
    assert error_of(lambda: client.users_info(user="U0NOBODY")) == "user_not_found"


def test_conversations_info_reports_membership(client: WebClient) -> None:
    assert client.conversations_info(channel="C0BOOKS")["channel"]["is_member"] is True
    assert client.conversations_info(channel="C0RANDOM")["channel"]["is_member"] is False
    assert error_of(lambda: client.conversations_info(channel="C0NOPE")) == "channel_not_found"


def test_rate_limit_fault_gives_429_with_retry_after(ss: SlackSandbox, client: WebClient) -> None:
    ss.faults.ratelimit_next("chat.postMessage", n=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel="C0BOOKS", text="digest")
        assert caught.value.response.status_code == 429
        assert caught.value.response.headers["Retry-After"] == "7"
        assert caught.value.response["error"] == "ratelimited"
    client.chat_postMessage(channel="C0BOOKS", text="digest")
    assert [m.text for m in ss.messages("C0BOOKS")] == ["digest"]


def test_fail_next_fault(ss: SlackSandbox, client: WebClient) -> None:
    ss.faults.fail_next("views.publish", error="internal_error")
    home = {"type": "home", "blocks": SECTION}
    assert error_of(lambda: client.views_publish(user_id="U0ALICE", view=home)) == "internal_error"
    client.views_publish(user_id="U0ALICE", view=home)


def test_form_encoded_blocks_are_accepted(ss: SlackSandbox) -> None:
    reply = requests.post(
        f"{ss.api_url}chat.postMessage",
        data={"channel": "C0BOOKS", "text": "form", "blocks": json.dumps(SECTION)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    assert reply["ok"] is True
    assert ss.messages("C0BOOKS")[0].blocks[0]["type"] == "section"


def test_every_call_is_recorded(ss: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="one")
    error_of(lambda: client.chat_postMessage(channel="C0RANDOM", text="two"))
    recorded = ss.calls_to("chat.postMessage")
    assert [(c.params["text"], c.ok) for c in recorded] == [("one", True), ("two", False)]
    assert recorded[1].response["error"] == "not_in_channel"


def test_visible_changes_are_fed_in_order(ss: SlackSandbox, client: WebClient) -> None:
    seen: list[str] = []
    ss.subscribe(lambda item: seen.append(item.kind))
    ts = client.chat_postMessage(channel="C0BOOKS", text="a")["ts"]
    client.chat_update(channel="C0BOOKS", ts=ts, text="b")
    client.chat_delete(channel="C0BOOKS", ts=ts)
    assert seen == ["message", "updated", "deleted"]
    assert [e.kind for e in ss.events][-3:] == seen


def test_the_bot_is_a_user_too(client: WebClient) -> None:
    assert client.users_info(user="U0RECONBOT")["user"]["is_bot"] is True
