"""Plain stand-ins for the Xero token set and connection shapes storage accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(minutes=30))
    scope: tuple[str, ...] = ("offline_access", "accounting.banktransactions")


@dataclass
class Conn:
    id: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str | None = "evt-1"
