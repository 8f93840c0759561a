"""Fixtures: a running sandbox on a frozen clock, and a tiny HTTP client for it.

The helper client here is deliberately naive (plain ``requests``): these tests check the
sandbox's behaviour on the wire, not the bot's Xero client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from bot.sandbox.xero import SandboxClock, XeroSandbox

REDIRECT = "http://127.0.0.1:3000/xero/callback"
SCOPES = "openid profile email offline_access accounting.transactions accounting.settings.read"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def frozen_clock() -> SandboxClock:
    return SandboxClock(start=START, ticking=False)


@pytest.fixture
def sb() -> Iterator[XeroSandbox]:
    sandbox = XeroSandbox(seed=7, transactions=300, organisations=2, clock=frozen_clock()).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def authorize(sb: XeroSandbox, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": sb.client_id,
        "redirect_uri": REDIRECT,
        "scope": SCOPES,
        "state": "state-123",
    }
    params.update(overrides)
    params = {k: v for k, v in params.items() if v is not None}
    return requests.get(
        f"{sb.url}/identity/connect/authorize", params=params, allow_redirects=False, timeout=5
    )


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query))


def get_code(sb: XeroSandbox, **overrides: str) -> str:
    response = authorize(sb, **overrides)
    assert response.status_code == 302, response.text
    return query_of(response.headers["Location"])["code"]


def token_request(sb: XeroSandbox, data: dict[str, str], basic: bool = True) -> requests.Response:
    if basic:
        return requests.post(
            f"{sb.url}/connect/token", data=data, auth=(sb.client_id, sb.client_secret), timeout=5
        )
    body = dict(data, client_id=sb.client_id, client_secret=sb.client_secret)
    return requests.post(f"{sb.url}/connect/token", data=body, timeout=5)


def exchange(sb: XeroSandbox, code: str, redirect_uri: str = REDIRECT) -> requests.Response:
    return token_request(sb, {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})


def refresh(sb: XeroSandbox, refresh_token: str) -> requests.Response:
    return token_request(sb, {"grant_type": "refresh_token", "refresh_token": refresh_token})


def connect(sb: XeroSandbox, scope: str = SCOPES) -> dict[str, Any]:
    response = exchange(sb, get_code(sb, scope=scope))
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Api:
    """Accounting calls with a bearer token and a tenant, JSON by default."""

    sb: XeroSandbox
    token: str
    tenant_id: str
    headers: dict[str, str] = field(default_factory=dict)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "xero-tenant-id": self.tenant_id,
            "Accept": "application/json",
        }
        headers.update(self.headers)
        headers.update(extra or {})
        return headers

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        return requests.get(
            f"{self.sb.url}/api.xro/2.0/{path}",
            params=params,
            headers=self._headers(headers),
            timeout=timeout,
        )

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.post(
            f"{self.sb.url}/api.xro/2.0/{path}", json=body, headers=self._headers(headers), timeout=10
        )

    def put(self, path: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.put(
            f"{self.sb.url}/api.xro/2.0/{path}", json=body, headers=self._headers(headers), timeout=10
        )


@pytest.fixture
def tokens(sb: XeroSandbox) -> dict[str, Any]:
    return connect(sb)


@pytest.fixture
def api(sb: XeroSandbox, tokens: dict[str, Any]) -> Api:
    return Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"])


def all_transactions(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Every row matching ``params`` (no paging: the summarised list)."""
    response = api.get("BankTransactions", params=params)
    assert response.status_code == 200, response.text
    return response.json()["BankTransactions"]
