"""The modelled Web API methods: one pure-ish function per method, over the workspace.

Each takes the parsed arguments and returns Slack's JSON answer or raises `SlackError`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.sandbox.slack.models import Channel, Message, SlackError, User

if TYPE_CHECKING:
    from bot.sandbox.slack.webapi import WebApi

Handler = Callable[["WebApi", dict[str, Any]], dict[str, Any]]


def auth_test(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    return {
        "ok": True,
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": ws.team_domain,
        "user": api.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def _message_content(args: dict[str, Any]) -> tuple[str, list[dict[str, Any]] | None]:
    text = args.get("text") or ""
    blocks = args.get("blocks")
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    return text, blocks


def chat_post_message(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    channel = ws.resolve_channel(str(args.get("channel") or ""))
    if not channel.bot_member:
        raise SlackError("not_in_channel")
    text, blocks = _message_content(args)
    ws.check("chat.postMessage", "message", {"text": text or "-", "blocks": blocks})
    if blocks and not text:
        ws.warnings.append("chat.postMessage: blocks without top-level text (no notification text)")
    message = ws.post(
        channel, text=text, blocks=blocks, user=ws.bot_user_id, bot=True, thread_ts=args.get("thread_ts")
    )
    return {"ok": True, "channel": channel.id, "ts": message.ts, "message": api.message_json(message)}


def chat_post_ephemeral(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    channel = ws.resolve_channel(str(args.get("channel") or ""))
    user = ws.user(str(args.get("user") or ""))
    if not channel.bot_member:
        raise SlackError("not_in_channel")
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = _message_content(args)
    ws.check("chat.postEphemeral", "message", {"text": text or "-", "blocks": blocks})
    message = ws.post(
        channel,
        text=text,
        blocks=blocks,
        user=ws.bot_user_id,
        bot=True,
        ephemeral_to=user.id,
        thread_ts=args.get("thread_ts"),
        via="chat.postEphemeral",
    )
    return {"ok": True, "message_ts": message.ts}


def _own_message(api: WebApi, args: dict[str, Any]) -> tuple[Channel, Message]:
    ws = api.ws
    channel = ws.resolve_channel(str(args.get("channel") or ""))
    message = ws.find_message(channel.id, str(args.get("ts") or ""))
    return channel, message


def chat_update(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    channel, message = _own_message(api, args)
    if message.bot_id != ws.bot_id:
        raise SlackError("cant_update_message")
    text, blocks = _message_content(args)
    ws.check("chat.update", "message", {"text": text or "-", "blocks": blocks})
    ws.replace(message, text=text, blocks=blocks)
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": api.message_json(message),
    }


def chat_delete(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    channel, message = _own_message(api, args)
    if message.bot_id != ws.bot_id:
        raise SlackError("cant_delete_message")
    ws.delete(message)
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def _view_arg(args: dict[str, Any]) -> dict[str, Any]:
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", ["view: required JSON object"])
    return view


def views_open(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    view = _view_arg(args)
    ws.check("views.open", "modal", view)
    trigger = ws.redeem_trigger(str(args.get("trigger_id") or ""))
    opened = ws.open_modal(trigger.user_id, view)
    return {"ok": True, "view": api.view_json(opened)}


def views_push(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    view = _view_arg(args)
    ws.check("views.push", "modal", view)
    trigger = ws.redeem_trigger(str(args.get("trigger_id") or ""))
    pushed = ws.push_modal(trigger.user_id, view)
    return {"ok": True, "view": api.view_json(pushed)}


def views_update(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    spec = _view_arg(args)
    if not args.get("view_id") and not args.get("external_id"):
        raise SlackError("invalid_arguments", ["view_id or external_id is required"])
    current = ws.find_view(view_id=args.get("view_id"), external_id=args.get("external_id"))
    ws.check("views.update", current.type, spec)
    updated = ws.update_view(current, spec, expected_hash=args.get("hash"))
    return {"ok": True, "view": api.view_json(updated)}


def views_publish(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    ws = api.ws
    spec = _view_arg(args)
    ws.check("views.publish", "home", spec)
    home = ws.publish_home(str(args.get("user_id") or ""), spec, expected_hash=args.get("hash"))
    return {"ok": True, "view": api.view_json(home)}


def user_json(user: User, now: float) -> dict[str, Any]:
    offset = datetime.fromtimestamp(now, ZoneInfo(user.tz)).utcoffset() or timedelta(0)
    return {
        "id": user.id,
        "team_id": user.team_id,
        "name": user.name,
        "deleted": False,
        "real_name": user.real_name,
        "tz": user.tz,
        "tz_label": user.tz,
        "tz_offset": int(offset.total_seconds()),
        "is_bot": user.is_bot,
        "is_admin": False,
        "profile": {
            "real_name": user.real_name,
            "display_name": user.name,
            "email": user.email,
            "team": user.team_id,
        },
    }


def users_info(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "user": user_json(api.ws.user(str(args.get("user") or "")), api.ws.clock())}


def channel_json(api: WebApi, channel: Channel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": channel.id,
        "created": 1_600_000_000,
        "is_archived": False,
    }
    if channel.is_im:
        out.update(is_im=True, user=channel.im_user, is_open=True)
    else:
        out.update(
            name=channel.name,
            is_channel=not channel.is_private,
            is_group=channel.is_private,
            is_im=False,
            is_private=channel.is_private,
            is_member=channel.bot_member,
        )
    return out


def conversations_info(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    channel_id = str(args.get("channel") or "")
    with api.ws.lock:
        channel = api.ws.channels.get(channel_id)
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private and not channel.bot_member:
        raise SlackError("channel_not_found")
    return {"ok": True, "channel": channel_json(api, channel)}


def conversations_open(api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if args.get("channel"):
        channel = api.ws.resolve_channel(str(args["channel"]))
        return {"ok": True, "channel": {"id": channel.id}}
    if len(users) != 1:
        raise SlackError("not_implemented", ["the stand-in opens 1:1 DMs only"])
    channel = api.ws.dm_channel(users[0])
    return {"ok": True, "channel": {"id": channel.id}}


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "users.info": users_info,
    "conversations.info": conversations_info,
    "conversations.open": conversations_open,
}
