"""response_url: visibility, replace/delete original, the 5-use and 30-minute budget."""

from __future__ import annotations

from slack_sdk.webhook import WebhookClient

from bot.sandbox.slack import ManualClock, SlackSandbox

from .conftest import FakeBot

ROW = [
    {"type": "section", "block_id": "row", "text": {"type": "mrkdwn", "text": "ZP-4471"}},
    {
        "type": "actions",
        "block_id": "acts",
        "elements": [{"type": "button", "action_id": "edit", "text": {"type": "plain_text", "text": "Edit"}}],
    },
]


def command_url(ss: SlackSandbox, bot: FakeBot, text: str = "search acme") -> str:
    return ss.user("U0ALICE").command("/recon", text, channel="C0BOOKS").response_url or ""


def test_default_is_ephemeral_to_the_invoking_user(ss: SlackSandbox, bot: FakeBot) -> None:
    response = WebhookClient(command_url(ss, bot)).send(text="3 found", blocks=ROW)
    assert response.status_code == 200
    [seen] = ss.ephemerals("U0ALICE", channel="C0BOOKS")
    assert seen.text == "3 found" and seen.via == "response_url"
    assert ss.messages("C0BOOKS") == [] and ss.ephemerals("U0BOB") == []


def test_in_channel_posts_publicly_even_without_membership(ss: SlackSandbox, bot: FakeBot) -> None:
    url = ss.user("U0ALICE").command("/recon", "digest now", channel="C0RANDOM").response_url
    WebhookClient(url).send(text="Digest", response_type="in_channel")
    assert [m.text for m in ss.messages("C0RANDOM")] == ["Digest"]


def test_replace_original_after_a_command_replaces_the_ack(ss: SlackSandbox, bot: FakeBot) -> None:
    bot.handler = lambda r: (200, "Searching Harbour Coffee Roasters…", "text/plain")
    url = command_url(ss, bot)
    WebhookClient(url).send(text="3 found", blocks=ROW, replace_original=True)
    [seen] = ss.ephemerals("U0ALICE")
    assert seen.text == "3 found" and seen.edited


def test_button_on_ephemeral_can_replace_it(ss: SlackSandbox, bot: FakeBot) -> None:
    WebhookClient(command_url(ss, bot)).send(text="page 1", blocks=ROW)
    page = ss.ephemerals("U0ALICE")[-1]
    url = ss.user("U0ALICE").press("edit", on=page).response_url
    WebhookClient(url).send(text="page 2", blocks=ROW, replace_original=True)
    [seen] = ss.ephemerals("U0ALICE")
    assert (seen.ts, seen.text) == (page.ts, "page 2")


def test_button_on_channel_message_can_replace_or_delete_it(ss: SlackSandbox, bot: FakeBot, client) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="digest", blocks=ROW)
    original = ss.messages("C0BOOKS")[-1]
    url = ss.user("U0BOB").press("edit", on=original).response_url
    WebhookClient(url).send(text="digest (updated)", replace_original=True)
    assert [m.text for m in ss.messages("C0BOOKS")] == ["digest (updated)"]
    WebhookClient(url).send(delete_original=True)
    assert ss.messages("C0BOOKS") == []


def test_without_replace_a_button_response_is_a_new_ephemeral(ss: SlackSandbox, bot: FakeBot, client) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="digest", blocks=ROW)
    url = ss.user("U0BOB").press("edit", on=ss.messages("C0BOOKS")[-1]).response_url
    WebhookClient(url).send(text="Connect Xero first")
    assert [m.text for m in ss.ephemerals("U0BOB")] == ["Connect Xero first"]
    assert [m.text for m in ss.messages("C0BOOKS")] == ["digest"]


def test_five_uses_then_refused(ss: SlackSandbox, bot: FakeBot) -> None:
    hook = WebhookClient(command_url(ss, bot))
    statuses = [hook.send(text=f"update {n}").status_code for n in range(6)]
    assert statuses == [200] * 5 + [404]
    assert ss.response_url_posts[-1].response["error"] == "used_url"
    assert len(ss.ephemerals("U0ALICE")) == 5


def test_expires_after_thirty_minutes(ss: SlackSandbox, bot: FakeBot, clock: ManualClock) -> None:
    hook = WebhookClient(command_url(ss, bot))
    clock.advance(30 * 60 + 1)
    response = hook.send(text="too late")
    assert response.status_code == 404
    assert ss.response_url_posts[-1].response["error"] == "expired_url"


def test_invalid_blocks_are_refused_and_recorded(ss: SlackSandbox, bot: FakeBot) -> None:
    too_many = [{"type": "divider"}] * 51
    response = WebhookClient(command_url(ss, bot)).send(text="x", blocks=too_many)
    assert response.status_code == 400
    assert ss.invalid_payloads[-1].source == "response_url"
    assert ss.ephemerals("U0ALICE") == []


def test_unknown_response_url(ss: SlackSandbox) -> None:
    assert WebhookClient(f"{ss.url}/response/nope").send(text="x").status_code == 404


def test_respond_before_ack_is_not_blocked(ss: SlackSandbox, bot: FakeBot) -> None:
    """Apps with process_before_response post to response_url inside the request, then ack."""

    def respond_first(received):
        WebhookClient(received.payload["response_url"]).send(text="done already")
        return 200, "", "text/plain"

    bot.handler = respond_first
    delivery = ss.user("U0ALICE").command("/recon", "help")
    assert delivery.ok
    assert [m.text for m in ss.ephemerals("U0ALICE")] == ["done already"]
