"""Block Kit validation as strict as Slack's, including the limits slack_sdk does not check.

slack_sdk only validates model objects when they are serialised, never plain dicts, and skips
several limits (50 blocks per message, field length, checkbox count, input max_length). Slack
rejects such payloads in production with `invalid_blocks`, so the stand-in does too. Each
problem is a string `"<json-pointer>: <what is wrong>"`, close to Slack's own error lines.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
TEXT_LIMITS = {
    "section_text": 3000,
    "field": 2000,
    "fields": 10,
    "header": 150,
    "button_text": 75,
    "button_value": 2000,
    "url": 3000,
    "id": 255,
    "private_metadata": 3000,
    "view_text": 24,
    "context_elements": 10,
    "actions_elements": 25,
    "label": 2000,
    "hint": 2000,
    "input_length": 3000,
    "choice_options": 10,
    "image_alt": 2000,
    "message_text": 40000,
}
PLAIN_ONLY = "must be a plain_text text object"

# slack_sdk logs a warning for every unknown key/block; the problems list reports those instead.
logging.getLogger("slack_sdk.models").setLevel(logging.ERROR)


def problems(payload: Any, surface: str = "message") -> list[str]:
    """Everything Slack would reject in `payload` (a block list, a view dict, or a message dict).

    Pure: no I/O, no state. An empty list means "Slack would accept this".
    """
    if surface not in MAX_BLOCKS:
        raise ValueError(f"unknown surface {surface!r}")
    if isinstance(payload, dict) and payload.get("type") in {"modal", "home"}:
        return _view_problems(payload, surface)
    if isinstance(payload, dict):
        return _message_problems(payload)
    if isinstance(payload, list):
        return _blocks_problems(payload, surface, "/blocks")
    return [f"/: expected a list of blocks or a view, got {type(payload).__name__}"]


def _message_problems(message: dict[str, Any]) -> list[str]:
    found: list[str] = []
    blocks = message.get("blocks")
    text = message.get("text")
    if not blocks and not text:
        found.append("/text: text is required when there are no blocks")
    if isinstance(text, str) and len(text) > TEXT_LIMITS["message_text"]:
        found.append(f"/text: must be at most {TEXT_LIMITS['message_text']} characters")
    if blocks is not None:
        if not isinstance(blocks, list):
            found.append("/blocks: must be an array")
        else:
            found.extend(_blocks_problems(blocks, "message", "/blocks"))
    return found


def _view_problems(view: dict[str, Any], surface: str) -> list[str]:
    found: list[str] = []
    if view.get("type") != surface:
        found.append(f"/type: expected {surface!r} view, got {view.get('type')!r}")
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as error:
        found.append(f"/view: {error}")
    for name in ("title", "submit", "close"):
        obj = view.get(name)
        if obj is None:
            continue
        if surface == "home":
            found.append(f"/{name}: not allowed in a home view")
            continue
        found.extend(_plain_text(obj, f"/{name}", TEXT_LIMITS["view_text"]))
    if surface == "modal" and not view.get("title"):
        found.append("/title: required for a modal")
    for name in ("private_metadata",):
        value = view.get(name)
        if isinstance(value, str) and len(value) > TEXT_LIMITS["private_metadata"]:
            found.append(f"/{name}: must be at most {TEXT_LIMITS['private_metadata']} characters")
    for name in ("callback_id", "external_id"):
        value = view.get(name)
        if isinstance(value, str) and len(value) > TEXT_LIMITS["id"]:
            found.append(f"/{name}: must be at most {TEXT_LIMITS['id']} characters")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        found.append("/blocks: required array")
        return found
    found.extend(_blocks_problems(blocks, surface, "/blocks", sdk=False))
    has_inputs = any(b.get("type") == "input" for b in blocks if isinstance(b, dict))
    if surface == "modal" and has_inputs and not view.get("submit"):
        found.append("/submit: required when the view has input blocks")
    return _dedupe(found)


def _blocks_problems(blocks: list[Any], surface: str, where: str, *, sdk: bool = True) -> list[str]:
    found: list[str] = []
    limit = MAX_BLOCKS[surface]
    if len(blocks) > limit:
        found.append(f"{where}: must be at most {limit} blocks for a {surface} (got {len(blocks)})")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"{where}/{index}"
        if not isinstance(block, dict):
            found.append(f"{pointer}: must be an object")
            continue
        if sdk:
            found.extend(_sdk_problems(block, pointer))
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > TEXT_LIMITS["id"]:
                found.append(f"{pointer}/block_id: must be a string of at most 255 characters")
            elif block_id in seen_ids:
                found.append(f"{pointer}/block_id: duplicate block_id {block_id!r}")
            else:
                seen_ids.add(block_id)
        found.extend(_block_problems(block, pointer))
    if not sdk:
        # For views the View model already ran slack_sdk over the blocks; parse anyway to
        # point at the offending block, which View's message does not do.
        for index, block in enumerate(blocks):
            if isinstance(block, dict):
                found.extend(_sdk_problems(block, f"{where}/{index}"))
    return _dedupe(found)


def _sdk_problems(block: dict[str, Any], pointer: str) -> list[str]:
    try:
        parsed = Block.parse(block)
        if parsed is None:
            return [f"{pointer}: unknown block type {block.get('type')!r}"]
        parsed.to_dict()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError) as error:
        return [f"{pointer}: {error}"]
    return []


def _block_problems(block: dict[str, Any], pointer: str) -> list[str]:
    kind = block.get("type")
    found: list[str] = []
    if kind == "section":
        text = block.get("text")
        if isinstance(text, dict):
            found.extend(_text(text, f"{pointer}/text", TEXT_LIMITS["section_text"]))
        fields = block.get("fields") or []
        if len(fields) > TEXT_LIMITS["fields"]:
            found.append(f"{pointer}/fields: must be at most 10 items (got {len(fields)})")
        for number, item in enumerate(fields):
            found.extend(_text(item, f"{pointer}/fields/{number}", TEXT_LIMITS["field"]))
        if isinstance(block.get("accessory"), dict):
            found.extend(_element_problems(block["accessory"], f"{pointer}/accessory"))
    elif kind == "header":
        found.extend(_plain_text(block.get("text"), f"{pointer}/text", TEXT_LIMITS["header"]))
    elif kind == "context":
        elements = block.get("elements") or []
        if len(elements) > TEXT_LIMITS["context_elements"]:
            found.append(f"{pointer}/elements: must be at most 10 items (got {len(elements)})")
        for number, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in {"mrkdwn", "plain_text"}:
                found.extend(_text(element, f"{pointer}/elements/{number}", TEXT_LIMITS["section_text"]))
    elif kind == "actions":
        elements = block.get("elements") or []
        if len(elements) > TEXT_LIMITS["actions_elements"]:
            found.append(f"{pointer}/elements: must be at most 25 items (got {len(elements)})")
        found.extend(_unique_action_ids(elements, f"{pointer}/elements"))
        for number, element in enumerate(elements):
            found.extend(_element_problems(element, f"{pointer}/elements/{number}"))
    elif kind == "input":
        found.extend(_plain_text(block.get("label"), f"{pointer}/label", TEXT_LIMITS["label"]))
        if block.get("hint") is not None:
            found.extend(_plain_text(block.get("hint"), f"{pointer}/hint", TEXT_LIMITS["hint"]))
        if isinstance(block.get("element"), dict):
            found.extend(_element_problems(block["element"], f"{pointer}/element"))
        else:
            found.append(f"{pointer}/element: required")
    elif kind == "image":
        alt = block.get("alt_text")
        if not isinstance(alt, str) or not alt:
            found.append(f"{pointer}/alt_text: required")
        found.extend(_url(block.get("image_url"), f"{pointer}/image_url"))
    return found


def _element_problems(element: Any, pointer: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{pointer}: must be an object"]
    found: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > TEXT_LIMITS["id"]):
        found.append(f"{pointer}/action_id: must be a string of at most 255 characters")
    kind = element.get("type")
    if kind == "button":
        found.extend(_plain_text(element.get("text"), f"{pointer}/text", TEXT_LIMITS["button_text"]))
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > TEXT_LIMITS["button_value"]):
            found.append(f"{pointer}/value: must be a string of at most 2000 characters")
        if element.get("url") is not None:
            found.extend(_url(element.get("url"), f"{pointer}/url"))
    elif kind == "plain_text_input":
        for name in ("max_length", "min_length"):
            value = element.get(name)
            in_range = isinstance(value, int) and 0 <= value <= TEXT_LIMITS["input_length"]
            if value is not None and not in_range:
                found.append(f"{pointer}/{name}: must be an integer between 0 and 3000")
        initial = element.get("initial_value")
        max_length = element.get("max_length")
        if isinstance(initial, str) and isinstance(max_length, int) and len(initial) > max_length:
            found.append(f"{pointer}/initial_value: longer than max_length {max_length}")
    elif kind in {"checkboxes", "radio_buttons"}:
        options = element.get("options") or []
        if len(options) > TEXT_LIMITS["choice_options"]:
            found.append(f"{pointer}/options: must be at most 10 items (got {len(options)})")
    return found


def _unique_action_ids(elements: list[Any], pointer: str) -> list[str]:
    seen: set[str] = set()
    found: list[str] = []
    for number, element in enumerate(elements):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if not action_id:
            continue
        if action_id in seen:
            found.append(f"{pointer}/{number}/action_id: duplicate action_id {action_id!r}")
        seen.add(action_id)
    return found


def _text(obj: Any, pointer: str, limit: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        return [f"{pointer}: must be a text object"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{pointer}/text: must be a non-empty string"]
    if len(text) > limit:
        return [f"{pointer}/text: must be at most {limit} characters (got {len(text)})"]
    return []


def _plain_text(obj: Any, pointer: str, limit: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") != "plain_text":
        return [f"{pointer}: {PLAIN_ONLY}"]
    return _text(obj, pointer, limit)


def _url(value: Any, pointer: str) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{pointer}: required"]
    if len(value) > TEXT_LIMITS["url"]:
        return [f"{pointer}: must be at most 3000 characters"]
    return []


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
