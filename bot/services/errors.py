"""Errors the use cases raise for the Slack layer to turn into a clear message.

Xero's own errors (``bot.xero.errors``: RateLimited, XeroUnavailable, XeroValidationError, …)
pass through unchanged; their ``str()`` is already a user-safe sentence. ``XeroError`` and
``RateLimited`` are named here too, so the Slack layer recognises them without importing the Xero
client's package.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.xero.errors import RateLimited as RateLimited  # re-exported for the Slack layer
from bot.xero.errors import XeroError as XeroError
from storage.grants import TenantView


class ServiceError(Exception):
    """A user-facing failure; ``str()`` says what happened and what to do next."""


class NotConnected(ServiceError):
    """The user has no usable Xero connection: show ``consent_url`` as a Connect button.

    ``reconnect`` is True when there was a connection that Xero stopped accepting.
    """

    def __init__(self, consent_url: str, *, reconnect: bool = False) -> None:
        self.consent_url = consent_url
        self.reconnect = reconnect
        super().__init__(
            "Your Xero connection has expired or was revoked — reconnect to keep going."
            if reconnect
            else "You haven't connected Recon to Xero yet."
        )


ReconnectRequired = NotConnected  # the name the design uses for the invalid_grant case


class OrgNotFound(ServiceError):
    def __init__(self, name: str, available: Sequence[TenantView]) -> None:
        self.name = name
        self.available = tuple(available)
        names = ", ".join(t.tenant_name for t in available) or "none"
        super().__init__(f"No connected organisation matches “{name}”. Connected: {names}.")


class OrgAmbiguous(ServiceError):
    def __init__(self, name: str, matches: Sequence[TenantView]) -> None:
        self.name = name
        self.matches = tuple(matches)
        super().__init__(
            f"“{name}” matches {len(matches)} organisations: "
            + ", ".join(t.tenant_name for t in matches)
            + ". Type more of the name."
        )


class NotEditable(ServiceError):
    """Xero does not allow this transaction's reference to be edited (type or status)."""


class ConsentFailed(ServiceError):
    """The browser came back from Slack or Xero without a usable consent.

    ``reason``: ``cancelled`` (user pressed Deny at Xero), ``expired``, ``used``, ``invalid``
    (unknown or tampered state), ``xero_error`` (code exchange failed); from Sign in with Slack:
    ``other_user`` (the link was made for someone else), ``other_browser`` (a URL from the
    middle of the flow opened in another browser), ``slack_cancelled``, ``slack_error``.
    """

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
