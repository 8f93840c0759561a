"""The state of one offline Slack workspace: people, channels, messages, views, triggers.

Everything a user would *see* lives here, so tests and the demo console can ask "what does
Alice see now?" instead of inspecting HTTP traffic. The HTTP layers (`webapi`, `delivery`)
only translate wire formats into calls on `Workspace`; all rules that Slack enforces on
state (membership, single-use triggers, view hashes, the response_url budget) live here so
they are enforced the same way whichever door the request came through.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack import validate
from bot.sandbox.slack.blockkit import fill_ids, stateful_elements
from bot.sandbox.slack.models import (
    Channel,
    Clock,
    InvalidPayload,
    Message,
    ResponseUrl,
    SlackError,
    Trigger,
    User,
    View,
    Visible,
)

TRIGGER_TTL_S = 3.0
RESPONSE_URL_TTL_S = 30 * 60.0
RESPONSE_URL_MAX_USES = 5
# How long a response_url post waits for its interaction's ack to be applied. Short, because an
# app that calls respond() *before* acking (process_before_response) must not be held up for long.
ACK_WAIT_S = 0.5
MAX_VIEW_STACK = 3


class Workspace:
    """All mutable state, guarded by one re-entrant lock (requests arrive on many threads)."""

    def __init__(
        self,
        *,
        team_id: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        app_id: str,
        clock: Clock,
    ) -> None:
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.clock = clock
        self.lock = threading.RLock()
        self.messages_tab_enabled = True
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.channel_messages: dict[str, list[Message]] = {}
        self.ephemeral: dict[str, list[Message]] = {}
        self.views: dict[str, View] = {}
        self.stacks: dict[str, list[str]] = {}
        self.homes: dict[str, str] = {}
        self.triggers: dict[str, Trigger] = {}
        self.response_urls: dict[str, ResponseUrl] = {}
        self.invalid_payloads: list[InvalidPayload] = []
        self.warnings: list[str] = []
        self.events: list[Visible] = []
        self._listeners: list[Callable[[Visible], None]] = []
        self._seq = itertools.count(1)
        self._last_micros = 0
        self._view_seq = itertools.count(1)

    # ----------------------------------------------------------------- people & places
    def add_user(self, user: User) -> User:
        with self.lock:
            self.users[user.id] = user
            return user

    def add_channel(self, channel: Channel) -> Channel:
        with self.lock:
            self.channels[channel.id] = channel
            self.channel_messages.setdefault(channel.id, [])
            return channel

    def user(self, user_id: str) -> User:
        with self.lock:
            if user_id not in self.users:
                raise SlackError("user_not_found")
            return self.users[user_id]

    def dm_channel(self, user_id: str) -> Channel:
        """The app's DM (App Home Messages tab) with a user, created on first use."""
        with self.lock:
            self.user(user_id)
            channel_id = "D" + user_id[1:]
            if channel_id not in self.channels:
                self.add_channel(
                    Channel(channel_id, channel_id, members={user_id}, bot_member=True, im_user=user_id)
                )
            return self.channels[channel_id]

    def resolve_channel(self, ref: str) -> Channel:
        """A channel id, `#name`/name, DM id, or user id (→ the app DM, as chat.postMessage does)."""
        with self.lock:
            if not ref:
                raise SlackError("channel_not_found")
            if ref in self.channels:
                return self.channels[ref]
            if ref in self.users:
                if not self.messages_tab_enabled:
                    raise SlackError("messages_tab_disabled")
                return self.dm_channel(ref)
            if ref.startswith("D") and ("U" + ref[1:]) in self.users:
                return self.dm_channel("U" + ref[1:])
            name = ref.removeprefix("#")
            for channel in self.channels.values():
                if channel.name == name and not channel.is_im:
                    return channel
            raise SlackError("channel_not_found")

    # ------------------------------------------------------------------------- ids
    def next_ts(self) -> str:
        with self.lock:
            micros = int(self.clock() * 1_000_000)
            micros = max(micros, self._last_micros + 1)
            self._last_micros = micros
            return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def new_hash(self) -> str:
        return f"{int(self.clock())}.{secrets.token_hex(4)}"

    # ---------------------------------------------------------------------- feed
    def subscribe(self, listener: Callable[[Visible], None]) -> None:
        with self.lock:
            self._listeners.append(listener)

    def note(
        self,
        kind: str,
        summary: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        ref: str | None = None,
    ) -> None:
        with self.lock:
            item = Visible(next(self._seq), kind, summary, user=user, channel=channel, ref=ref)
            self.events.append(item)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(item)

    # ------------------------------------------------------------------ validation
    def check(self, source: str, surface: str, payload: Any) -> None:
        """Reject Block Kit Slack would reject, and remember it for "never sent junk" asserts."""
        problems = validate.problems(payload, surface=surface)
        if problems:
            with self.lock:
                self.invalid_payloads.append(
                    InvalidPayload(source, surface, problems, copy.deepcopy(payload))
                )
            code = "invalid_blocks" if surface == "message" else "invalid_arguments"
            raise SlackError(code, problems)

    # -------------------------------------------------------------------- messages
    def post(
        self,
        channel: Channel,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None,
        user: str | None,
        bot: bool,
        ephemeral_to: str | None = None,
        thread_ts: str | None = None,
        via: str = "chat.postMessage",
    ) -> Message:
        with self.lock:
            message = Message(
                channel=channel.id,
                ts=self.next_ts(),
                text=text or "",
                blocks=fill_ids(blocks or []),
                user=user,
                bot_id=self.bot_id if bot else None,
                app_id=self.app_id if bot else None,
                ephemeral_to=ephemeral_to,
                thread_ts=thread_ts,
                via=via,
            )
            if ephemeral_to:
                self.ephemeral.setdefault(ephemeral_to, []).append(message)
            else:
                self.channel_messages.setdefault(channel.id, []).append(message)
        where = f"DM {channel.im_user}" if channel.is_im else f"#{channel.name}"
        kind = "ephemeral" if ephemeral_to else "message"
        self.note(
            kind,
            f"{where}: {_summary(message)}",
            user=ephemeral_to or channel.im_user,
            channel=channel.id,
            ref=message.ts,
        )
        return message

    def find_message(self, channel_id: str, ts: str, ephemeral_to: str | None = None) -> Message:
        with self.lock:
            pool = (
                self.ephemeral.get(ephemeral_to, [])
                if ephemeral_to
                else self.channel_messages.get(channel_id, [])
            )
            for message in pool:
                if message.ts == ts and message.channel == channel_id:
                    return message
            raise SlackError("message_not_found")

    def replace(self, message: Message, *, text: str, blocks: list[dict[str, Any]] | None) -> Message:
        with self.lock:
            message.text = text or ""
            message.blocks = fill_ids(blocks or [])
            message.edited = True
        self.note(
            "updated",
            f"updated {message.ts}: {_summary(message)}",
            user=message.ephemeral_to,
            channel=message.channel,
            ref=message.ts,
        )
        return message

    def delete(self, message: Message) -> None:
        with self.lock:
            pool = (
                self.ephemeral.get(message.ephemeral_to, [])
                if message.ephemeral_to
                else (self.channel_messages.get(message.channel, []))
            )
            if message in pool:
                pool.remove(message)
        self.note(
            "deleted",
            f"deleted {message.ts}",
            user=message.ephemeral_to,
            channel=message.channel,
            ref=message.ts,
        )

    # ------------------------------------------------------------------- triggers
    def issue_trigger(self, user_id: str) -> str:
        with self.lock:
            trigger_id = f"{int(self.clock())}.{next(self._seq)}.{secrets.token_hex(16)}"
            self.triggers[trigger_id] = Trigger(trigger_id, user_id, self.clock())
            return trigger_id

    def redeem_trigger(self, trigger_id: str) -> Trigger:
        """Single use, 3 s lifetime — the two rules that break modals in production."""
        with self.lock:
            trigger = self.triggers.get(trigger_id or "")
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if trigger.used:
                raise SlackError("trigger_exchanged")
            if self.clock() - trigger.issued_at > TRIGGER_TTL_S:
                raise SlackError("trigger_expired")
            trigger.used = True
            return trigger

    # ---------------------------------------------------------------- response_url
    def issue_response_url(
        self, user_id: str, channel: str, kind: str, original: tuple[str, str, str | None] | None
    ) -> ResponseUrl:
        with self.lock:
            token = secrets.token_urlsafe(18)
            entry = ResponseUrl(token, user_id, channel, self.clock(), kind, original)
            self.response_urls[token] = entry
            return entry

    def spend_response_url(self, token: str) -> ResponseUrl:
        with self.lock:
            entry = self.response_urls.get(token)
            if entry is None:
                raise SlackError("invalid_url", status=404)
            if self.clock() - entry.issued_at > RESPONSE_URL_TTL_S:
                raise SlackError("expired_url", status=404)
            if entry.uses >= RESPONSE_URL_MAX_USES:
                raise SlackError("used_url", status=404)
            entry.uses += 1
            return entry

    # ----------------------------------------------------------------------- views
    def _new_view_id(self) -> str:
        return f"V{next(self._view_seq):010d}"

    def make_view(self, user_id: str, spec: dict[str, Any], *, view_id: str | None = None) -> View:
        view = View(
            id=view_id or self._new_view_id(),
            team_id=self.team_id,
            user_id=user_id,
            type=spec.get("type", "modal"),
            blocks=fill_ids(spec.get("blocks") or []),
            hash=self.new_hash(),
            title=spec.get("title"),
            submit=spec.get("submit"),
            close=spec.get("close"),
            callback_id=spec.get("callback_id") or "",
            private_metadata=spec.get("private_metadata") or "",
            external_id=spec.get("external_id") or "",
            notify_on_close=bool(spec.get("notify_on_close")),
            clear_on_close=bool(spec.get("clear_on_close")),
        )
        view.root_view_id = view.id
        return view

    def open_modal(self, user_id: str, spec: dict[str, Any]) -> View:
        """Start a new modal stack. A modal already open is replaced (Slack shows one at a time)."""
        with self.lock:
            self._check_external_id(spec)
            for old in self.stacks.get(user_id, []):
                self.views[old].closed = True
            view = self.make_view(user_id, spec)
            self.views[view.id] = view
            self.stacks[user_id] = [view.id]
        self.note("view_opened", f"modal {_title(view)!r} opened", user=user_id, ref=view.id)
        return view

    def push_modal(self, user_id: str, spec: dict[str, Any]) -> View:
        with self.lock:
            stack = self.stacks.get(user_id) or []
            if not stack:
                raise SlackError("not_found")
            if len(stack) >= MAX_VIEW_STACK:
                raise SlackError("push_limit_reached")
            self._check_external_id(spec)
            below = self.views[stack[-1]]
            view = self.make_view(user_id, spec)
            view.root_view_id = below.root_view_id
            view.previous_view_id = below.id
            self.views[view.id] = view
            stack.append(view.id)
        self.note("view_pushed", f"modal {_title(view)!r} pushed", user=user_id, ref=view.id)
        return view

    def _check_external_id(self, spec: dict[str, Any]) -> None:
        external_id = spec.get("external_id")
        if external_id and any(v.external_id == external_id and not v.closed for v in self.views.values()):
            raise SlackError("duplicate_external_id")

    def find_view(self, *, view_id: str | None = None, external_id: str | None = None) -> View:
        with self.lock:
            if view_id:
                view = self.views.get(view_id)
            else:
                view = next(
                    (v for v in self.views.values() if external_id and v.external_id == external_id), None
                )
            if view is None or view.closed:
                raise SlackError("not_found")
            return view

    def update_view(
        self, view: View, spec: dict[str, Any], *, expected_hash: str | None, quiet: bool = False
    ) -> View:
        """Replace a view's content in place (same id, new hash), keeping matching input entries."""
        with self.lock:
            if expected_hash and expected_hash != view.hash:
                raise SlackError("hash_conflict")
            if spec.get("type", view.type) != view.type:
                raise SlackError("invalid_arguments", [f"view type must stay {view.type!r}"])
            fresh = self.make_view(view.user_id, spec, view_id=view.id)
            keep = {(b["block_id"], e["action_id"]) for b in fresh.blocks for e in stateful_elements(b)}
            view.entered = {k: v for k, v in view.entered.items() if k in keep}
            for name in (
                "blocks",
                "title",
                "submit",
                "close",
                "callback_id",
                "private_metadata",
                "notify_on_close",
                "clear_on_close",
            ):
                setattr(view, name, getattr(fresh, name))
            if spec.get("external_id"):
                view.external_id = fresh.external_id
            view.hash = self.new_hash()
            view.errors = {}
        if not quiet:
            self.note("view_updated", f"{view.type} {_title(view)!r} updated", user=view.user_id, ref=view.id)
        return view

    def publish_home(self, user_id: str, spec: dict[str, Any], *, expected_hash: str | None) -> View:
        with self.lock:
            self.user(user_id)
            existing = self.views.get(self.homes.get(user_id, ""))
            if existing is not None:
                if expected_hash and expected_hash != existing.hash:
                    raise SlackError("hash_conflict")
                view = self.update_view(existing, spec, expected_hash=None, quiet=True)
            else:
                view = self.make_view(user_id, spec)
                self.views[view.id] = view
                self.homes[user_id] = view.id
        self.note("home_published", f"Home tab published for {user_id}", user=user_id, ref=view.id)
        return view

    def stack(self, user_id: str) -> list[View]:
        with self.lock:
            return [self.views[v] for v in self.stacks.get(user_id, [])]

    def pop_view(self, user_id: str) -> View | None:
        """Close the top view of the stack; returns it."""
        with self.lock:
            stack = self.stacks.get(user_id) or []
            if not stack:
                return None
            view = self.views[stack.pop()]
            view.closed = True
        self.note("view_closed", f"modal {_title(view)!r} closed", user=user_id, ref=view.id)
        return view

    def clear_views(self, user_id: str) -> list[View]:
        with self.lock:
            closed = [self.views[v] for v in self.stacks.get(user_id, [])]
            for view in closed:
                view.closed = True
            self.stacks[user_id] = []
        if closed:
            self.note(
                "view_closed",
                f"modal {_title(closed[0])!r} closed (all views)",
                user=user_id,
                ref=closed[0].id,
            )
        return closed

    def show_errors(self, view: View, errors: dict[str, str]) -> None:
        with self.lock:
            view.errors = dict(errors)
        shown = "; ".join(f"{k}: {v}" for k, v in errors.items())
        self.note(
            "view_errors", f"modal {_title(view)!r} shows errors — {shown}", user=view.user_id, ref=view.id
        )


def _summary(message: Message, limit: int = 80) -> str:
    text = message.text
    if not text and message.blocks:
        for block in message.blocks:
            inner = block.get("text")
            if isinstance(inner, dict) and inner.get("text"):
                text = inner["text"]
                break
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _title(view: View) -> str:
    return (view.title or {}).get("text", "") if view.type == "modal" else "Home"
