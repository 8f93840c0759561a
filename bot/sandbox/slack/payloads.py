"""Pure builders for the payloads Slack sends to an app, in Slack's real shapes.

Kept apart from HTTP so a test can compare shapes without a server, and so the shapes are
written down in one place (slash command form fields, interactivity `payload=` JSON, Events
API JSON).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.slack.models import Channel, Message, User, View


@dataclass(frozen=True)
class Team:
    """Identity fields repeated in every payload."""

    team_id: str
    team_domain: str
    app_id: str
    verification_token: str
    bot_user_id: str
    bot_id: str


def slash_command_form(
    team: Team, user: User, channel: Channel, command: str, text: str, response_url: str, trigger_id: str
) -> dict[str, str]:
    """Form fields of a slash command POST (application/x-www-form-urlencoded)."""
    return {
        "token": team.verification_token,
        "team_id": team.team_id,
        "team_domain": team.team_domain,
        "channel_id": channel.id,
        "channel_name": "directmessage" if channel.is_im else channel.name,
        "user_id": user.id,
        "user_name": user.name,
        "command": command,
        "text": text,
        "api_app_id": team.app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def user_block(team: Team, user: User) -> dict[str, str]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": team.team_id}


def action_item(
    block: dict[str, Any], element: dict[str, Any], action_ts: str, state: dict[str, Any] | None
) -> dict[str, Any]:
    """One entry of `actions` for the element the user clicked/changed."""
    item: dict[str, Any] = {
        "type": element.get("type"),
        "action_id": element.get("action_id"),
        "block_id": block.get("block_id"),
        "action_ts": action_ts,
    }
    if element.get("type") == "button":
        item["text"] = element.get("text")
        if "value" in element:
            item["value"] = element["value"]
        if element.get("style"):
            item["style"] = element["style"]
    elif element.get("type") == "overflow" and state is not None:
        item["selected_option"] = state.get("selected_option")
    elif state is not None:
        item.update({k: v for k, v in state.items() if k != "type"})
    return item


def block_actions_from_message(
    team: Team,
    user: User,
    channel: Channel,
    message: Message,
    action: dict[str, Any],
    trigger_id: str,
    response_url: str,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message.ts,
        "channel_id": channel.id,
        "is_ephemeral": message.is_ephemeral,
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": user_block(team, user),
        "api_app_id": team.app_id,
        "token": team.verification_token,
        "container": container,
        "trigger_id": trigger_id,
        "team": {"id": team.team_id, "domain": team.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [action],
    }
    # Slack omits `message` for clicks on ephemeral messages (only container.message_ts remains).
    if not message.is_ephemeral:
        payload["message"] = message.payload()
    return payload


def block_actions_from_view(
    team: Team, user: User, view: View, action: dict[str, Any], trigger_id: str
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": user_block(team, user),
        "api_app_id": team.app_id,
        "token": team.verification_token,
        "container": {"type": "view", "view_id": view.id},
        "trigger_id": trigger_id,
        "team": {"id": team.team_id, "domain": team.team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view.payload(team.app_id, team.bot_id),
        "actions": [action],
    }


def view_submission(team: Team, user: User, view: View, trigger_id: str) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": team.team_id, "domain": team.team_domain},
        "user": user_block(team, user),
        "api_app_id": team.app_id,
        "token": team.verification_token,
        "trigger_id": trigger_id,
        "view": view.payload(team.app_id, team.bot_id),
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def view_closed(team: Team, user: User, view: View, *, is_cleared: bool) -> dict[str, Any]:
    return {
        "type": "view_closed",
        "team": {"id": team.team_id, "domain": team.team_domain},
        "user": user_block(team, user),
        "api_app_id": team.app_id,
        "token": team.verification_token,
        "view": view.payload(team.app_id, team.bot_id),
        "is_cleared": is_cleared,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def app_home_opened(
    team: Team, user: User, dm_channel: str, home: View | None, event_time: float, tab: str = "home"
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": dm_channel,
        "tab": tab,
        "event_ts": f"{event_time:.6f}",
    }
    if home is not None and tab == "home":
        event["view"] = home.payload(team.app_id, team.bot_id)
    return {
        "token": team.verification_token,
        "team_id": team.team_id,
        "api_app_id": team.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(event_time),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team.team_id,
                "user_id": team.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_hex(12),
    }


def form_body(fields: dict[str, str]) -> str:
    return urlencode(fields)


def interactivity_body(payload: dict[str, Any]) -> str:
    """Interactivity payloads travel as one form field, `payload=<JSON>`."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def json_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"))
