"""Signed HTTP delivery of payloads to the bot, as Slack does it, with forging hooks.

Slack signs `v0:<timestamp>:<raw body>` with the app's signing secret (HMAC-SHA256) and gives
the app 3 seconds to answer. Tests need to prove the bot rejects forged and replayed
requests, so every part of the request (signature, timestamp, body, headers) can be
overridden per delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests

ACK_TIMEOUT_S = 3.0


def sign(signing_secret: str, timestamp: str, body: str) -> str:
    """`X-Slack-Signature` for a body: `v0=` + hex HMAC-SHA256 of `v0:{ts}:{body}`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Forge:
    """Ways to tamper with one delivery (all optional)."""

    signature: str | None = None
    timestamp: int | str | None = None
    body: str | None = None
    headers: dict[str, str] | None = None


@dataclass
class Delivery:
    """What happened when the stand-in delivered one payload to the bot.

    `failed` is the error a user would see (`operation_timeout`, `dispatch_failed`, …) or None.
    """

    kind: str
    payload: dict[str, Any]
    status: int | None = None
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    failed: str | None = None
    user_sees: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None
    outcome: list[str] = field(default_factory=list)
    envelope_id: str | None = None  # set when it went over Socket Mode instead of HTTP

    @property
    def ack_json(self) -> Any:
        """The ack body parsed as JSON, or None when it is empty or plain text."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.failed is None


def post(
    url: str,
    *,
    signing_secret: str,
    body: str,
    content_type: str,
    now: float,
    forge: Forge | None = None,
    timeout: float = ACK_TIMEOUT_S,
) -> tuple[int | None, str, dict[str, str], float, str | None]:
    """POST one signed request; returns (status, body, headers, elapsed, transport_error)."""
    forge = forge or Forge()
    wire_body = forge.body if forge.body is not None else body
    timestamp = str(forge.timestamp if forge.timestamp is not None else int(now))
    signature = forge.signature or sign(signing_secret, timestamp, wire_body)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    headers.update(forge.headers or {})
    started = time.monotonic()
    try:
        response = requests.post(url, data=wire_body.encode(), headers=headers, timeout=(timeout, timeout))
    except requests.Timeout:
        return None, "", {}, time.monotonic() - started, "operation_timeout"
    except requests.ConnectionError:
        return None, "", {}, time.monotonic() - started, "dispatch_failed"
    elapsed = time.monotonic() - started
    # Slack reads the ack as UTF-8 whatever the Content-Type says (Bolt sends text/plain).
    text = response.content.decode("utf-8", errors="replace")
    if elapsed > timeout:
        return response.status_code, text, dict(response.headers), elapsed, "operation_timeout"
    return response.status_code, text, dict(response.headers), elapsed, None
