"""Finding what a user sees in the Slack stand-in."""

from __future__ import annotations

import json
from typing import Any

from bot.demo.stack import Stack


def text_of(payload: Any) -> str:
    if isinstance(payload, dict):
        return " ".join(text_of(v) for v in payload.values())
    if isinstance(payload, list):
        return " ".join(text_of(v) for v in payload)
    return payload if isinstance(payload, str) else ""


def message_text(message: Any) -> str:
    return message.text + " " + text_of(message.blocks)


def elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found += [e for e in block.get("elements") or [] if isinstance(e, dict)]
        if isinstance(block.get("accessory"), dict):
            found.append(block["accessory"])
        if isinstance(block.get("element"), dict):
            found.append(block["element"])
    return found


def buttons(message_or_view: Any, prefix: str) -> list[dict[str, Any]]:
    return [e for e in elements(message_or_view.blocks) if e.get("action_id", "").startswith(prefix)]


def ephemeral_with(stack: Stack, user: Any, needle: str, timeout: float = 5.0) -> Any:
    """The newest ephemeral message to ``user`` containing ``needle`` (waits for it)."""

    def find() -> Any:
        for message in reversed(stack.slack.ephemerals(user.id)):
            if needle in message_text(message):
                return message
        return None

    return stack.slack.wait_for(find, timeout)


def top_view_with(stack: Stack, user: Any, needle: str, timeout: float = 5.0) -> Any:
    def find() -> Any:
        views = stack.slack.open_views(user.id)
        if views and needle in text_of(views[-1].blocks):
            return views[-1]
        return None

    return stack.slack.wait_for(find, timeout)


def edit_form(stack: Stack, user: Any, timeout: float = 5.0) -> Any:
    """The edit form once it is filled (the loading and result views have no inputs)."""

    def find() -> Any:
        views = stack.slack.open_views(user.id)
        if views and any(b.get("type") == "input" for b in views[-1].blocks):
            return views[-1]
        return None

    return stack.slack.wait_for(find, timeout)


def metadata(view: Any) -> dict[str, Any]:
    return json.loads(view.private_metadata)


def mirror_read(stack: Stack, tenant_id: str, timeout: float = 30.0) -> None:
    """Wait for the first sync that consent started in the background to finish — the copy whole
    *and* the sync let go of it: the reconciled sweep that follows a first sync's last page still
    calls Xero after the copy is marked complete."""
    import time

    from storage.mirror_state import get_sync_state

    def idle() -> bool:
        state = get_sync_state(stack.services.db, tenant_id)
        return state is not None and state.complete and state.lease_owner is None

    deadline = time.monotonic() + timeout
    while not idle():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the first sync of {tenant_id} did not finish within {timeout} s")
        time.sleep(0.05)


def all_read(stack: Stack) -> None:
    """Wait for every first sync a consent started, not only one organisation's: another one
    still reading would make calls (or take faults) a test counts for its own search."""
    for held in stack.services.sync.held():
        mirror_read(stack, held)


def xero_changed(stack: Stack, tenant_id: str) -> None:
    """A change made in Xero behind the bot's back reaches Recon's copy, as the clock's next
    delta would bring it (a search within RECON_MIRROR_MAX_AGE answers from the copy)."""
    mirror_read(stack, tenant_id)
    stack.services.sync.delta(tenant_id)


def without_copy(stack: Stack, tenant_id: str) -> None:
    """Search this organisation live, as before its copy is read (tests of Xero's own answers)."""
    all_read(stack)
    stack.services.sync.forget(tenant_id)
