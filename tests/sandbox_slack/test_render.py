"""Terminal rendering of messages and modals, and pressing what was rendered."""

from __future__ import annotations

from bot.sandbox.slack import SlackSandbox
from bot.sandbox.slack.render import mrkdwn_to_text, render_message, render_view

from .conftest import FakeBot

RESULTS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Search results"}},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Harbour Coffee Roasters · 2 found"}]},
    {"type": "divider"},
    {
        "type": "section",
        "block_id": "row-1",
        "text": {"type": "mrkdwn", "text": "*12 Nov 2026* · Zephyr Plumbing Ltd\nZP-4471 · _not reconciled_"},
        "accessory": {
            "type": "button",
            "action_id": "edit",
            "value": "tx-1",
            "text": {"type": "plain_text", "text": "Edit"},
        },
    },
    {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Amount*\n−1,234.56 NZD"},
            {"type": "mrkdwn", "text": "*Account*\nBusiness Bank"},
        ],
    },
    {
        "type": "actions",
        "block_id": "nav",
        "elements": [
            {
                "type": "button",
                "action_id": "prev",
                "value": "0",
                "text": {"type": "plain_text", "text": "‹ Prev"},
            },
            {
                "type": "button",
                "action_id": "open",
                "url": "https://go.xero.com/x",
                "text": {"type": "plain_text", "text": "Open in Xero"},
            },
        ],
    },
    {"type": "image", "image_url": "https://example.com/c.png", "alt_text": "spend chart"},
]

MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Edit transaction"},
    "submit": {"type": "plain_text", "text": "Save"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reference",
            "label": {"type": "plain_text", "text": "Reference"},
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "INV-0042"},
        },
        {
            "type": "input",
            "block_id": "url",
            "optional": True,
            "label": {"type": "plain_text", "text": "Source link"},
            "hint": {"type": "plain_text", "text": "Must start with http or https"},
            "element": {
                "type": "url_text_input",
                "action_id": "value",
                "placeholder": {"type": "plain_text", "text": "https://…"},
            },
        },
    ],
}


def test_message_renders_readably_with_numbered_buttons() -> None:
    rendered = render_message(RESULTS, width=80)
    lines = rendered.text.splitlines()
    assert lines[0:2] == ["SEARCH RESULTS", "=============="]
    assert "  Harbour Coffee Roasters · 2 found" in lines
    assert "-" * 80 in lines
    assert lines[4].startswith("12 Nov 2026 · Zephyr Plumbing Ltd")
    assert lines[5].startswith("ZP-4471 · not reconciled") and lines[5].endswith("[1 Edit]")
    assert lines[6].split() == ["Amount", "Account"]
    assert lines[7].split() == ["−1,234.56", "NZD", "Business", "Bank"]
    assert "[2 ‹ Prev] [3 Open in Xero ↗]" in lines
    assert lines[-1] == "[image: spend chart]"
    assert [(e.number, e.kind, e.label, e.action_id) for e in rendered.elements] == [
        (1, "button", "Edit", "edit"),
        (2, "button", "‹ Prev", "prev"),
        (3, "link", "Open in Xero", "open"),
    ]
    assert rendered.element(3).url == "https://go.xero.com/x"
    assert rendered.element(1).value == "tx-1" and rendered.element(1).block_id == "row-1"


def test_mrkdwn_links_mentions_and_escapes() -> None:
    shown = mrkdwn_to_text(
        "See <https://go.xero.com/a|the invoice> by <@U0ALICE> in <#C0BOOKS|books>, <!here>; "
        "contact &lt;!channel&gt; &amp; *co*",
        names={"U0ALICE": "alice"},
    )
    assert (
        shown == "See the invoice (https://go.xero.com/a) by @alice in #books, @here; contact <!channel> & co"
    )


def test_plain_text_message() -> None:
    assert render_message("Nothing to reconcile :tada:").text == "Nothing to reconcile :tada:"
    assert render_message({"text": "fallback only"}).text == "fallback only"


def test_modal_shows_labels_values_hints_errors_and_buttons() -> None:
    rendered = render_view({**MODAL, "errors": {"url": "Use an http or https link"}}, width=60)
    assert rendered.text.splitlines() == [
        "+------------------+",
        "| Edit transaction |",
        "+------------------+",
        "Reference",
        "  [1 INV-0042]",
        "Source link (optional)",
        "  [2 (https://…)]",
        "  Must start with http or https",
        "  ! Use an http or https link",
        "[Cancel] [Save]".rjust(60),
    ]
    first, second = rendered.elements
    assert (first.kind, first.label, first.block_id, first.action_id, first.value) == (
        "input",
        "Reference",
        "reference",
        "value",
        "INV-0042",
    )
    assert (second.label, second.value) == ("Source link", None)


def test_live_view_shows_what_the_user_typed(ss: SlackSandbox, bot: FakeBot, client) -> None:
    ss.user("U0ALICE").command("/recon", "edit tx-1")
    trigger_id = bot.last("slash_command").payload["trigger_id"]
    view_id = client.views_open(trigger_id=trigger_id, view=MODAL)["view"]["id"]
    ss.user("U0ALICE").press("value", block_id="reference", on=view_id, value="INV-0099")
    text = render_view(ss.view(view_id)).text
    assert "[1 INV-0099]" in text and "INV-0042" not in text


def test_console_can_press_a_rendered_number(ss: SlackSandbox, bot: FakeBot, client) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="2 found", blocks=RESULTS)
    message = ss.messages("C0BOOKS")[-1]
    rendered = render_message(message)
    ss.user("U0ALICE").press(button=rendered.element(2), on=message)
    [action] = bot.last("block_actions").payload["actions"]
    assert (action["action_id"], action["value"]) == ("prev", "0")


def test_screen_shows_each_visible_change(ss: SlackSandbox, bot: FakeBot, client) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="2 found", blocks=RESULTS)
    ss.user("U0ALICE").command("/recon", "edit tx-1")
    client.views_open(trigger_id=bot.last("slash_command").payload["trigger_id"], view=MODAL)
    screens = [ss.screen(item) for item in ss.events]
    assert [item.kind for item in ss.events] == ["message", "view_opened"]
    assert screens[0] is not None and screens[0].text.startswith("SEARCH RESULTS")
    assert screens[1] is not None and "| Edit transaction |" in screens[1].text


HOSTILE_NAMES = [
    "*Star* Print Shop",
    "<!channel> Events",
    "_x_",
    "~y~",
    "`rm -rf`",
    "&amp;",
    "Smith & Jones <A>",
]


def test_plain_text_is_shown_exactly_as_sent_as_slack_does() -> None:
    for name in HOSTILE_NAMES:
        block = {"type": "section", "text": {"type": "plain_text", "text": name}}
        assert render_message([block]).text == name
    context = {"type": "context", "elements": [{"type": "plain_text", "text": "<!here> *bold*"}]}
    assert render_message([context]).text == "  <!here> *bold*"  # no ping, no formatting
    header = {"type": "header", "text": {"type": "plain_text", "text": "A &amp; B"}}
    assert render_message([header]).text.splitlines()[0] == "A &AMP; B"  # headers are upper-cased


def test_mrkdwn_formats_pings_and_decodes_entities_as_slack_does() -> None:
    assert mrkdwn_to_text("*Star* Print Shop") == "Star Print Shop"  # bold: the markers go
    assert mrkdwn_to_text("_x_ and ~y~") == "x and y"
    assert mrkdwn_to_text("INV_0042 and A*B") == "INV_0042 and A*B"  # not at a word boundary
    assert mrkdwn_to_text("<!channel> Events") == "@channel Events"  # a real ping
    assert mrkdwn_to_text("&lt;!channel&gt; Events") == "<!channel> Events"  # escaped: just text
    assert mrkdwn_to_text("&amp;amp; &amp;lt;") == "&amp; &lt;"  # decoded once, not twice
    assert mrkdwn_to_text("run `*not bold*` now") == "run *not bold* now"  # code takes no formatting


def test_fields_and_contexts_mix_both_kinds() -> None:
    block = {
        "type": "section",
        "text": {"type": "plain_text", "text": "*Star* Print Shop"},
        "fields": [{"type": "mrkdwn", "text": "*bold*"}, {"type": "plain_text", "text": "*literal*"}],
    }
    lines = render_message([block], width=60).text.splitlines()
    assert lines[0] == "*Star* Print Shop"
    assert lines[1].split() == ["bold", "*literal*"]
