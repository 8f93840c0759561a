"""Exceptions raised by the Xero layer.

Every ``str()`` is a sentence that can be shown to a Slack user as-is: it names what happened
and never contains a token, an authorisation code, a client secret or a raw response body.
Callers branch on the class, not on the message.
"""

from __future__ import annotations


class XeroError(Exception):
    """Base of everything the Xero layer raises on purpose."""

    default_message = "Xero could not complete the request."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)


class RateLimited(XeroError):
    """Xero (or our own throttle, before Xero has to) says: wait ``retry_after`` seconds.

    ``problem`` names the limit: ``minute``, ``day``, ``concurrent``, ``appminute`` or whatever
    Xero put in ``X-Rate-Limit-Problem`` (lower-cased).
    """

    def __init__(self, retry_after: int, problem: str = "minute", message: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        self.problem = (problem or "minute").strip().lower()
        super().__init__(message or self._describe())

    def _describe(self) -> str:
        if self.problem.startswith("day"):
            what = "Xero's daily request limit for this organisation has been reached"
        elif self.problem.startswith("concurrent"):
            what = "Too many requests to this organisation are already in progress"
        elif self.problem.startswith("app"):
            what = "Xero is limiting requests from this app right now"
        else:
            what = "Xero asked us to slow down"
        return f"{what} — try again in {_human_seconds(self.retry_after)}."


class XeroUnavailable(XeroError):
    """5xx, timeouts or connection failures that persisted through the retries.

    ``maybe_applied`` is true for a write whose request may have reached Xero (a read timeout,
    a reset connection, a 5xx): the caller should re-read before saying "nothing changed".
    """

    default_message = "Xero isn't responding right now — please try again in a minute."

    def __init__(self, message: str | None = None, *, maybe_applied: bool = False) -> None:
        self.maybe_applied = maybe_applied
        super().__init__(message)


class XeroValidationError(XeroError):
    """Xero refused the data (HTTP 400); ``messages`` are Xero's own explanations."""

    def __init__(self, messages: list[str] | None = None, message: str | None = None) -> None:
        self.messages = [m for m in (messages or []) if m]
        if message is None:
            message = (
                "Xero rejected the change: " + "; ".join(self.messages)
                if self.messages
                else "Xero rejected the request as invalid."
            )
        super().__init__(message)


class XeroNotFound(XeroError):
    default_message = "Xero couldn't find that — it may have been deleted or belong to another organisation."


class XeroUnauthorized(XeroError):
    default_message = "Xero didn't accept our sign-in for this organisation — please reconnect to Xero."


class XeroForbidden(XeroError):
    default_message = (
        "This Xero organisation isn't connected to your login any more — reconnect it to keep using it."
    )


class InvalidGrant(XeroError):
    default_message = "Your Xero connection has expired or was revoked — please reconnect to Xero."


class OAuthError(XeroError):
    """Any other error from Xero's token endpoint (``invalid_client``, ``invalid_scope`` …)."""

    def __init__(self, error: str, message: str | None = None) -> None:
        self.error = error or "unknown_error"
        super().__init__(message or f"Xero's sign-in service refused the request ({self.error}).")


def _human_seconds(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    minutes = (seconds + 59) // 60
    if minutes < 90:
        return f"{minutes} min"
    hours = (minutes + 59) // 60
    return f"about {hours} h"
