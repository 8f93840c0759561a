"""Turning an exception into what the user sees: a consent button, a fixable message, or an honest apology.

One place decides this so every surface (slash command, button, modal, Home) answers the same
failure the same way. The log gets the detail (class, ids, traceback for the unexpected) and
never a token: the Xero and service layers guarantee their ``str()`` is token-free, and nothing
here logs request bodies.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from bot.services.errors import NotConnected, RateLimited, ServiceError, XeroError
from bot.services.query import QueryError
from bot.slack import blocks
from bot.slack import text as tx
from bot.slack.kit import Message
from bot.slack.refs import RefError

log = logging.getLogger(__name__)

NOTHING_CHANGED = "Nothing was changed."
STALE_BUTTON = "That button is out of date or damaged — run the command again."


@dataclass(frozen=True)
class Failure:
    """What to tell the user. ``consent_url`` set → show the Connect/Reconnect button instead of text."""

    text: str  # mrkdwn, already safe
    consent_url: str | None = None
    reconnect: bool = False
    query_error: bool = False


def _with_outcome(sentence: str, changed_nothing: bool) -> str:
    if not changed_nothing or NOTHING_CHANGED.lower() in sentence.lower() or "nothing" in sentence.lower():
        return sentence
    return f"{sentence} {NOTHING_CHANGED}"


def describe(exc: BaseException, *, changed_nothing: bool = True, where: str = "") -> Failure:
    """Classify ``exc``; unexpected ones are logged with a reference the user can quote."""
    if isinstance(exc, NotConnected):
        return Failure(tx.escape(str(exc)), consent_url=exc.consent_url, reconnect=exc.reconnect)
    if isinstance(exc, QueryError):
        return Failure(exc.message, query_error=True)  # already escaped by the parser
    if isinstance(exc, RateLimited):
        return Failure(_with_outcome(tx.escape(str(exc)), changed_nothing))
    if isinstance(exc, ServiceError | XeroError):
        # Service messages may quote Xero names (accounts, organisations): escape, keep their `code`.
        return Failure(_with_outcome(tx.escape(str(exc)), changed_nothing))
    if isinstance(exc, RefError):
        return Failure(_with_outcome(STALE_BUTTON, changed_nothing))
    ref = secrets.token_hex(4)
    log.error("unexpected failure %s in %s: %s", ref, where or "handler", type(exc).__name__, exc_info=exc)
    return Failure(
        _with_outcome(f"Something went wrong on Recon's side (reference `{ref}`).", changed_nothing)
        + " Please try again; if it keeps happening, send the reference to your admin."
    )


def failure_message(failure: Failure) -> Message:
    if failure.consent_url:
        return blocks.consent_message(failure.consent_url, reconnect=failure.reconnect)
    if failure.query_error:
        return blocks.query_error_message(failure.text)
    return blocks.error_message(failure.text)


def error_message(exc: BaseException, **kwargs: Any) -> Message:
    return failure_message(describe(exc, **kwargs))


def failure_view(failure: Failure, meta: Any = None) -> dict[str, Any]:
    """The same failure inside the edit modal (not Slack's generic error dialog)."""
    if failure.consent_url:
        return blocks.consent_view(failure.consent_url, reconnect=failure.reconnect)
    return blocks.message_view(failure.text, meta)
