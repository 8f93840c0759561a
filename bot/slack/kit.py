"""Tiny Block Kit constructors returning plain dicts (what Slack receives, what tests inspect).

Kept separate from :mod:`bot.slack.blocks` so the product's messages read as content, not as JSON
plumbing. ``str`` arguments are mrkdwn and must already be safe (see :mod:`bot.slack.text`);
text objects made with :func:`plain` carry Xero's or a user's text as it is. The helpers only
enforce Slack's length limits, by cutting, so an unexpected long value degrades a message
instead of getting it rejected with ``invalid_blocks``.
"""

from __future__ import annotations

from typing import Any

from bot.slack.text import truncate

Block = dict[str, Any]
Message = dict[str, Any]  # {"text": fallback, "blocks": [...]}: kwargs for respond / chat.postMessage

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
CONTEXT_LIMIT = 2000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
VIEW_TITLE_LIMIT = 24


def mrkdwn(text: str, *, verbatim: bool = True, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """``verbatim`` keeps Slack from auto-linking URLs and #names inside already-escaped text."""
    obj: dict[str, Any] = {"type": "mrkdwn", "text": truncate(text, limit) or " "}
    if verbatim:
        obj["verbatim"] = True
    return obj


def plain(text: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A ``plain_text`` object, shown literally. ``emoji`` is off so a name containing
    ``:tada:`` is not turned into a picture."""
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": False}


TextPart = str | dict[str, Any]  # mrkdwn (already safe) or a ready text object


def _text_object(part: TextPart, limit: int) -> dict[str, Any]:
    if isinstance(part, dict):
        return {**part, "text": truncate(str(part.get("text") or ""), limit) or " "}
    return mrkdwn(part, limit=limit)


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_LIMIT)}


def section(
    text: TextPart | None,
    *,
    accessory: dict[str, Any] | None = None,
    block_id: str | None = None,
    fields: list[TextPart] | None = None,
) -> Block:
    """A section: ``text`` as mrkdwn (a ``str``) or a ready text object (e.g. :func:`plain`)."""
    block: Block = {"type": "section"}
    if text is not None:
        block["text"] = _text_object(text, SECTION_LIMIT)
    if fields:
        block["fields"] = [_text_object(f, FIELD_LIMIT) for f in fields[:10]]
    if accessory is not None:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def context(*parts: TextPart) -> Block:
    """Small grey text: each part mrkdwn (a ``str``) or a ready text object (e.g. :func:`plain`)."""
    return {"type": "context", "elements": [_text_object(p, CONTEXT_LIMIT) for p in parts[:10]]}


def divider() -> Block:
    return {"type": "divider"}


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:25])}
    if block_id:
        block["block_id"] = block_id
    return block


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_LIMIT),
        "action_id": action_id,
    }
    if value is not None:
        element["value"] = value
    if url is not None:
        element["url"] = url
    if style is not None:
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: TextPart, yes: str, no: str = "Cancel") -> dict[str, Any]:
    return {
        "title": plain(title, 100),
        "text": _text_object(text, 300),
        "confirm": plain(yes, 30),
        "deny": plain(no, 30),
        "style": "danger",
    }


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    placeholder: str | None = None,
    hint: str | None = None,
    multiline: bool = False,
    max_length: int = 3000,
    optional: bool = True,
) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block_id,
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        # Raw, unescaped: this is the value that goes back to Xero if the user saves unchanged.
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = plain(placeholder, 150)
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def message(fallback: str, blocks: list[Block]) -> Message:
    """A message payload; the fallback text is what notifications and screen readers show."""
    return {"text": truncate(fallback, 3000), "blocks": blocks[:MESSAGE_BLOCKS]}


def modal(
    title: str,
    blocks: list[Block],
    *,
    callback_id: str,
    private_metadata: str = "",
    submit: str | None = None,
    close: str = "Close",
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, VIEW_TITLE_LIMIT),
        "close": plain(close, VIEW_TITLE_LIMIT),
        "blocks": blocks[:VIEW_BLOCKS],
    }
    if submit:
        view["submit"] = plain(submit, VIEW_TITLE_LIMIT)
    if private_metadata:
        view["private_metadata"] = private_metadata
    return view
