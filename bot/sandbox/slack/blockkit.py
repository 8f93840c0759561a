"""Pure helpers over Block Kit dicts: interactive elements, their state, Slack's invented ids."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

TEXT_INPUT_TYPES = frozenset({"plain_text_input", "url_text_input", "email_text_input", "number_input"})
CHOICE_TYPES = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "datepicker",
        "timepicker",
        "datetimepicker",
        "checkboxes",
        "radio_buttons",
    }
)
STATEFUL_TYPES = TEXT_INPUT_TYPES | CHOICE_TYPES  # elements whose value lands in view.state


def block_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Interactive elements of a block, in display order."""
    kind = block.get("type")
    if kind == "actions":
        return list(block.get("elements") or [])
    if kind == "section" and isinstance(block.get("accessory"), dict):
        return [block["accessory"]]
    if kind == "input" and isinstance(block.get("element"), dict):
        return [block["element"]]
    return []


def stateful_elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in block_elements(block) if e.get("type") in STATEFUL_TYPES]


def initial_state(element: dict[str, Any]) -> dict[str, Any]:
    """The state Slack reports for an element the user has not touched."""
    kind = element.get("type", "")
    state: dict[str, Any] = {"type": kind}
    if kind in {"plain_text_input", "url_text_input", "email_text_input", "number_input"}:
        state["value"] = element.get("initial_value")
    elif kind in {"static_select", "external_select", "radio_buttons"}:
        state["selected_option"] = element.get("initial_option")
    elif kind in {"multi_static_select", "multi_external_select", "checkboxes"}:
        state["selected_options"] = element.get("initial_options") or []
    elif kind == "users_select":
        state["selected_user"] = element.get("initial_user")
    elif kind == "conversations_select":
        state["selected_conversation"] = element.get("initial_conversation")
    elif kind == "channels_select":
        state["selected_channel"] = element.get("initial_channel")
    elif kind == "datepicker":
        state["selected_date"] = element.get("initial_date")
    elif kind == "timepicker":
        state["selected_time"] = element.get("initial_time")
    elif kind == "datetimepicker":
        state["selected_date_time"] = element.get("initial_date_time")
    return state


def all_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def entered_state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """Turn what a test "types" (a plain string, list or dict) into Slack's state fragment."""
    kind = element.get("type", "")
    if isinstance(value, dict):
        return {"type": kind, **value}
    state: dict[str, Any] = {"type": kind}
    if kind in {"static_select", "external_select", "radio_buttons"}:
        state["selected_option"] = _find_option(element, value)
    elif kind in {"multi_static_select", "multi_external_select", "checkboxes"}:
        state["selected_options"] = [_find_option(element, v) for v in value or []]
    elif kind == "users_select":
        state["selected_user"] = value
    elif kind == "conversations_select":
        state["selected_conversation"] = value
    elif kind == "channels_select":
        state["selected_channel"] = value
    elif kind == "datepicker":
        state["selected_date"] = value
    elif kind == "timepicker":
        state["selected_time"] = value
    elif kind == "datetimepicker":
        state["selected_date_time"] = value
    else:
        state["value"] = value
    return state


def _find_option(element: dict[str, Any], value: Any) -> dict[str, Any]:
    for option in all_options(element):
        if option.get("value") == value:
            return copy.deepcopy(option)
    if element.get("type", "").endswith("external_select"):
        return {"text": {"type": "plain_text", "text": str(value)}, "value": value}
    raise ValueError(f"no option with value {value!r} in {element.get('action_id')!r}")


def fill_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give blocks and elements the ids Slack would invent when the app left them out.

    Slack assigns random ids; here they are derived from the content so the same payload
    gets the same ids (stable tests).
    """
    out = copy.deepcopy(blocks)
    for index, block in enumerate(out):
        if not block.get("block_id"):
            digest = hashlib.sha1(repr((index, block)).encode(), usedforsecurity=False).hexdigest()
            block["block_id"] = digest[:5]
        for number, element in enumerate(block_elements(block)):
            if not element.get("action_id"):
                digest = hashlib.sha1(
                    repr((block["block_id"], number, element)).encode(), usedforsecurity=False
                ).hexdigest()
                element["action_id"] = digest[:5]
    return out
