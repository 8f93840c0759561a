"""Block Kit limits, including the ones slack_sdk lets through."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import SlackSandbox
from bot.sandbox.slack.validate import problems


def text(t: str, kind: str = "mrkdwn") -> dict[str, str]:
    return {"type": kind, "text": t}


def plain(t: str) -> dict[str, str]:
    return text(t, "plain_text")


def section(t: str = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": text(t), **extra}


def button(label: str = "Edit", **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": plain(label), "action_id": extra.pop("action_id", "b"), **extra}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def modal(blocks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": plain("Edit"), "submit": plain("Save"), "blocks": blocks, **extra}


def text_input(**element: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "ref",
        "label": plain("Reference"),
        "element": {"type": "plain_text_input", "action_id": "v", **element},
    }


GOOD_MESSAGE = [
    {"type": "header", "text": plain("Search results")},
    section("*12 Nov* · Zephyr", fields=[text("a"), text("b")]),
    {"type": "context", "elements": [text("small")]},
    {"type": "divider"},
    actions(
        button("Edit", value="tx-1"), button("Open in Xero", action_id="open", url="https://go.xero.com/x")
    ),
]


def test_good_payloads_have_no_problems() -> None:
    assert problems(GOOD_MESSAGE) == []
    assert problems(modal([text_input(max_length=255)]), surface="modal") == []
    assert problems({"type": "home", "blocks": GOOD_MESSAGE}, surface="home") == []
    assert problems({"text": "plain message"}) == []


@pytest.mark.parametrize(
    ("payload", "surface", "fragment"),
    [
        ([section()] * 51, "message", "at most 50 blocks"),
        (modal([section()] * 101), "modal", "at most 100 blocks"),
        ([section("x" * 3001)], "message", "3000"),
        ([{"type": "section", "fields": [text("x" * 2001)]}], "message", "at most 2000"),
        ([{"type": "section", "fields": [text("x")] * 11}], "message", "10"),
        ([{"type": "header", "text": plain("x" * 151)}], "message", "150"),
        ([{"type": "header", "text": text("*bold*")}], "message", "plain_text"),
        ([actions(button("x" * 76))], "message", "75"),
        ([actions(button(value="v" * 2001))], "message", "2000"),
        ([actions(button(url="https://x/" + "a" * 3000))], "message", "3000"),
        ([actions(button(action_id="a" * 256))], "message", "255"),
        ([section(block_id="b" * 256)], "message", "255"),
        ([section(block_id="same"), section(block_id="same")], "message", "duplicate block_id"),
        ([actions(button(), button())], "message", "duplicate action_id"),
        ([{"type": "context", "elements": [text("x")] * 11}], "message", "10"),
        ([actions(*[button(action_id=f"b{n}") for n in range(26)])], "message", "25"),
        ([{"type": "image", "image_url": "https://x/y.png"}], "message", "alt_text"),
        ([{"type": "mystery"}], "message", "unknown block type"),
        (modal([text_input()], private_metadata="m" * 3001), "modal", "private_metadata"),
        (modal([section()], title=plain("x" * 25)), "modal", "title"),
        (modal([section()], submit=plain("x" * 25)), "modal", "submit"),
        (modal([section()], close=plain("x" * 25)), "modal", "close"),
        (modal([text_input()], submit=None), "modal", "submit"),
        (modal([{**text_input(), "label": plain("x" * 2001)}]), "modal", "label"),
        (modal([text_input(max_length=5000)]), "modal", "max_length"),
        (modal([text_input(initial_value="toolong", max_length=3)]), "modal", "max_length"),
        (
            modal(
                [
                    {
                        "type": "input",
                        "label": plain("Pick"),
                        "element": {
                            "type": "checkboxes",
                            "action_id": "c",
                            "options": [{"text": plain(str(n)), "value": str(n)} for n in range(11)],
                        },
                    }
                ]
            ),
            "modal",
            "10",
        ),
        ({"type": "home", "close": plain("x"), "blocks": [section()]}, "home", "close"),
        ({}, "message", "text is required"),
    ],
)
def test_each_limit_is_reported(payload: Any, surface: str, fragment: str) -> None:
    found = problems(payload, surface=surface)
    assert found, "expected a problem"
    assert any(fragment in p for p in found), found


def test_problems_point_at_the_block() -> None:
    found = problems([section(), section("x" * 3001)])
    assert any(p.startswith("/blocks/1") for p in found), found


def test_post_message_with_invalid_blocks_is_refused_and_recorded(
    ss: SlackSandbox, client: WebClient
) -> None:
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0BOOKS", text="t", blocks=[section()] * 51)
    assert caught.value.response["error"] == "invalid_blocks"
    assert any("at most 50" in e for e in caught.value.response["errors"])
    [bad] = ss.invalid_payloads
    assert (bad.source, bad.surface) == ("chat.postMessage", "message")
    assert ss.messages("C0BOOKS") == []


def test_a_clean_run_has_no_invalid_payloads(ss: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="C0BOOKS", text="t", blocks=GOOD_MESSAGE)
    assert ss.invalid_payloads == []
