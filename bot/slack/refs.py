"""Identifiers and small payloads the bot round-trips through Slack (button values, modal metadata).

Everything here comes back inside a signed request, but a button's value is still visible to
everyone who can see the message and anyone can build a message with our action ids. So the
decoders validate shape and size, and the handlers still check every tenant id against the
presser's own grants (``services.connect.require_tenant``). Nothing secret is ever encoded here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

# ---------------------------------------------------------------- action ids and callback ids
COMMAND = "/recon"

# Link buttons (URL buttons) still send block_actions; every id with this prefix is acked and ignored.
LINK_PREFIX = "recon_link_"
ACTION_CONNECT_LINK = LINK_PREFIX + "connect"
ACTION_SLACK_HOME_LINK = LINK_PREFIX + "home"

# Several buttons of one kind can share an actions block, where Slack wants distinct action ids:
# those ids carry a suffix and are matched by prefix (see the *_RE patterns).
ACTION_PAGE = "recon_page"  # + "_prev" / "_next"; value: a search cursor
ACTION_EDIT = "recon_edit"  # value: EditRef.encode()
ACTION_MAKE_DEFAULT = "recon_make_default"  # + "_<n>"; value: tenant id
ACTION_DISCONNECT = "recon_disconnect"  # value: DisconnectRef.encode()
ACTION_DISCONNECT_CANCEL = "recon_disconnect_cancel"
ACTION_EDIT_RELOAD = "recon_edit_reload"  # inside the modal; the view's metadata says what to load

ACTION_PAGE_RE = re.compile(r"^recon_page(_\w+)?$")
ACTION_MAKE_DEFAULT_RE = re.compile(r"^recon_make_default(_\w+)?$")

VIEW_EDIT = "recon_edit_view"
BLOCK_DM_DEFAULTS = "recon_dm_defaults"  # the "Make default" row of the consent DM
BLOCK_MIRROR_PROGRESS = "recon_mirror_progress_"  # + "<n>": the connect DM's reading lines

BUTTON_VALUE_LIMIT = 2000
METADATA_LIMIT = 3000
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[0-9A-Za-z-]{1,64}$")


class RefError(ValueError):
    """A value or metadata blob that is not one of ours (stale, tampered, truncated)."""


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text.strip()))


def _load(raw: str, limit: int) -> dict[str, Any]:
    if not isinstance(raw, str) or not raw or len(raw) > limit:
        raise RefError("empty or oversized value")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RefError("not JSON") from exc
    if not isinstance(data, dict):
        raise RefError("not an object")
    return data


def _dump(data: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in data.items() if v is not None}, separators=(",", ":"))


def _text(data: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RefError(f"missing {key}")
    if pattern is not None and not pattern.match(value):
        raise RefError(f"malformed {key}")
    return value


def _optional_text(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise RefError(f"malformed {key}")
    return value or None


@dataclass(frozen=True)
class EditRef:
    """What an Edit button carries: which transaction, in which organisation, and the page to refresh.

    The digest's Edit buttons use the same action id and value, so whoever presses Edit in a
    channel lands in the same flow with their own grant.
    """

    tenant_id: str
    txn_id: str
    cursor: str | None = None

    def encode(self) -> str:
        """≤ 2,000 characters: the cursor is dropped (no refresh after saving) if it would not fit."""
        full = _dump({"t": self.tenant_id, "x": self.txn_id, "c": self.cursor})
        if len(full) <= BUTTON_VALUE_LIMIT:
            return full
        return _dump({"t": self.tenant_id, "x": self.txn_id})

    @classmethod
    def decode(cls, raw: str) -> EditRef:
        data = _load(raw, BUTTON_VALUE_LIMIT)
        return cls(
            tenant_id=_text(data, "t", _TENANT),
            txn_id=_text(data, "x", _GUID),
            cursor=_optional_text(data, "c", BUTTON_VALUE_LIMIT),
        )


@dataclass(frozen=True)
class DisconnectRef:
    """``org`` None means every organisation (revoke the whole Xero connection)."""

    org: str | None

    def encode(self) -> str:
        return _dump({"o": self.org, "all": self.org is None})

    @classmethod
    def decode(cls, raw: str) -> DisconnectRef:
        data = _load(raw, BUTTON_VALUE_LIMIT)
        org = _optional_text(data, "o", 500)
        if org is None and data.get("all") is not True:
            raise RefError("no organisation")
        return cls(org=org)


_TYPED_KEYS = {"reference": "r", "url": "u", "note": "n"}


@dataclass(frozen=True)
class EditMeta:
    """The edit modal's ``private_metadata``: what the user is editing, as they saw it, and where from.

    ``updated`` is Xero's UpdatedDateUTC when the form was filled — the save refuses to overwrite
    a newer version. ``response_url`` + ``cursor`` let the bot refresh the search message the
    Edit button was on. Both are optional: ``/recon edit`` and digest buttons have no page.
    ``typed`` is what the user had typed when their save met a conflict, carried to the reopened
    form so it can be shown beside Xero's current values.
    """

    tenant_id: str
    txn_id: str
    updated: datetime | None = None
    response_url: str | None = None
    cursor: str | None = None
    typed: dict[str, str | None] | None = None

    def encode(self) -> str:
        data: dict[str, Any] = {
            "t": self.tenant_id,
            "x": self.txn_id,
            "u": self.updated.isoformat() if self.updated else None,
            "r": self.response_url,
            "c": self.cursor,
            "y": _typed_out(self.typed),
        }
        raw = _dump(data)
        if len(raw) > METADATA_LIMIT:  # give up the page refresh rather than the edit
            data = {**data, "r": None, "c": None}
            raw = _dump(data)
        if len(raw) > METADATA_LIMIT and data["y"]:  # then shorten what was typed, longest first
            typed = dict(data["y"])
            while len(raw) > METADATA_LIMIT:
                key = max(typed, key=lambda k: len(typed[k]))
                typed[key] = typed[key][: max(0, len(typed[key]) - (len(raw) - METADATA_LIMIT) - 1)] + "…"
                raw = _dump({**data, "y": typed})
        return raw

    @classmethod
    def decode(cls, raw: str) -> EditMeta:
        data = _load(raw, METADATA_LIMIT)
        updated_raw = _optional_text(data, "u", 64)
        try:
            updated = datetime.fromisoformat(updated_raw) if updated_raw else None
        except ValueError as exc:
            raise RefError("malformed u") from exc
        return cls(
            tenant_id=_text(data, "t", _TENANT),
            txn_id=_text(data, "x", _GUID),
            updated=updated,
            response_url=_optional_text(data, "r", 1000),
            cursor=_optional_text(data, "c", BUTTON_VALUE_LIMIT),
            typed=_typed_in(data.get("y")),
        )

    def with_updated(self, updated: datetime | None) -> EditMeta:
        return replace(self, updated=updated)

    def with_typed(self, typed: dict[str, str | None] | None) -> EditMeta:
        return replace(self, typed=dict(typed) if typed else None)


def _typed_out(typed: dict[str, str | None] | None) -> dict[str, str] | None:
    if not typed:
        return None
    out = {short: str(typed.get(name) or "") for name, short in _TYPED_KEYS.items()}
    return out if any(out.values()) else None


def _typed_in(value: Any) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise RefError("malformed y")
    return {name: value.get(short) or "" for name, short in _TYPED_KEYS.items()}


def is_slack_response_url(url: str | None, slack_api_url: str) -> bool:
    """Only post to response URLs on Slack's hooks host (or the configured Slack API host).

    The URL arrives in a signed payload, so this is defence in depth: a bug elsewhere must not
    turn the bot into a proxy that POSTs wherever a value points.
    """
    if not url:
        return False
    parsed = urlparse(url)
    allowed = {"hooks.slack.com", urlparse(slack_api_url).netloc}
    if parsed.netloc not in allowed:
        return False
    return parsed.scheme == "https" or parsed.hostname in {"127.0.0.1", "localhost"}
