"""The things a Slack workspace is made of, as plain dataclasses (no behaviour beyond views).

Split from `workspace` so payload builders and renderers can use the types without the state
machine.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack.blockkit import initial_state, stateful_elements

Clock = Callable[[], float]


class SlackError(Exception):
    """A Slack-style failure: `code` is what the Web API puts in `error`."""

    def __init__(self, code: str, errors: list[str] | None = None, status: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.errors = errors or []
        self.status = status


class ManualClock:
    """A clock tests can move forward, so expiry rules are tested without sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str
    team_id: str
    email: str | None = None
    is_bot: bool = False


@dataclass
class Channel:
    id: str
    name: str
    members: set[str] = field(default_factory=set)
    bot_member: bool = True
    is_private: bool = False
    im_user: str | None = None  # set for the app's DM channel with one user

    @property
    def is_im(self) -> bool:
        return self.im_user is not None


@dataclass
class Message:
    """One message as Slack would display it. `ephemeral_to` marks "only visible to you"."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    user: str | None
    bot_id: str | None = None
    ephemeral_to: str | None = None
    thread_ts: str | None = None
    edited: bool = False
    via: str = "chat.postMessage"
    app_id: str | None = None

    @property
    def is_ephemeral(self) -> bool:
        return self.ephemeral_to is not None

    def payload(self) -> dict[str, Any]:
        """The message as it appears inside an interaction payload (`message` field)."""
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text}
        if self.bot_id:
            out.update(bot_id=self.bot_id, user=self.user, app_id=self.app_id)
        else:
            out["user"] = self.user
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass
class View:
    """A modal in a user's stack, or a user's Home tab."""

    id: str
    team_id: str
    user_id: str
    type: str
    blocks: list[dict[str, Any]]
    hash: str
    title: dict[str, Any] | None = None
    submit: dict[str, Any] | None = None
    close: dict[str, Any] | None = None
    callback_id: str = ""
    private_metadata: str = ""
    external_id: str = ""
    notify_on_close: bool = False
    clear_on_close: bool = False
    root_view_id: str = ""
    previous_view_id: str | None = None
    # What the user typed/selected, keyed (block_id, action_id) → Slack state fragment.
    entered: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    closed: bool = False

    def state_values(self) -> dict[str, dict[str, Any]]:
        """`view.state.values` as Slack sends it: every stateful element, typed or initial."""
        values: dict[str, dict[str, Any]] = {}
        for block in self.blocks:
            for element in stateful_elements(block):
                key = (block["block_id"], element["action_id"])
                state = self.entered.get(key) or initial_state(element)
                values.setdefault(block["block_id"], {})[element["action_id"]] = copy.deepcopy(state)
        return values

    def payload(self, app_id: str, bot_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "team_id": self.team_id,
            "type": self.type,
            "blocks": copy.deepcopy(self.blocks),
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "state": {"values": self.state_values()},
            "hash": self.hash,
            "title": self.title,
            "clear_on_close": self.clear_on_close,
            "notify_on_close": self.notify_on_close,
            "close": self.close,
            "submit": self.submit,
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": app_id,
            "external_id": self.external_id,
            "app_installed_team_id": self.team_id,
            "bot_id": bot_id,
        }
        return out


@dataclass
class Trigger:
    id: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseUrl:
    """A response_url's budget and what its "original message" is.

    `original` is (channel, ts, ephemeral_to) of the message the interaction came from; for a
    slash command it starts empty and follows the latest message produced through this URL or
    the ack (so `replace_original` replaces "Searching…" with the result, as users expect).
    `acked` is set once the interaction's ack has been applied: Bolt may call `respond()` a
    moment before its HTTP ack reaches Slack, and over real networks the ack wins that race,
    so posts to this URL wait for it (at most ACK_WAIT_S) to keep the order users actually see.
    """

    token: str
    user_id: str
    channel: str
    issued_at: float
    kind: str
    original: tuple[str, str, str | None] | None = None
    uses: int = 0
    acked: threading.Event = field(default_factory=threading.Event)


@dataclass
class Visible:
    """One entry of the "something the user can see changed" feed."""

    seq: int
    kind: str
    summary: str
    user: str | None = None
    channel: str | None = None
    ref: str | None = None


@dataclass
class InvalidPayload:
    source: str
    surface: str
    errors: list[str]
    payload: Any
