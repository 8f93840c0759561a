"""Xero OAuth 2.0 over HTTP: consent URL, code exchange, refresh, revoke, connections.

Pure transport — storing tokens, locking and deciding what a failure means for a user is the
token service's job. What this module guarantees:

* a refresh whose response was lost (timeout, reset connection, 5xx) is retried with the SAME
  refresh token: Xero keeps the previous one valid for 30 minutes exactly for this, and a fresh
  token would not exist on our side anyway;
* ``invalid_grant`` from a refresh is ``InvalidGrant`` (the caller re-reads storage before
  declaring the connection dead — another worker may have rotated it);
* no token, code or secret ever appears in an exception message or a log line.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
import requests

from bot.xero.errors import (
    InvalidGrant,
    OAuthError,
    RateLimited,
    XeroError,
    XeroUnauthorized,
    XeroUnavailable,
)
from bot.xero.http import DEFAULT_TIMEOUT, USER_AGENT, backoff_delay, default_session
from bot.xero.models import Connection, TokenSet

log = logging.getLogger(__name__)

_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_IDENTITY_DOWN = "Xero's sign-in service isn't responding — please try again shortly."


def _utcnow() -> datetime:
    return datetime.now(UTC)


class XeroOAuth:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        scopes: tuple[str, ...],
        authorize_url: str = "https://login.xero.com/identity/connect/authorize",
        identity_url: str = "https://identity.xero.com",
        api_url: str = "https://api.xero.com",
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
        backoff: float = 0.5,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scopes = tuple(scopes)
        self.authorize_url = authorize_url
        self.token_url = identity_url.rstrip("/") + "/connect/token"
        self.revocation_url = identity_url.rstrip("/") + "/connect/revocation"
        self.connections_url = api_url.rstrip("/") + "/connections"
        self.session = session or default_session()
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.sleep = sleep
        self.now = now
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"XeroOAuth(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    # ------------------------------------------------------------------ consent

    def authorize_url_for(self, state: str) -> str:
        """The consent link for one ``state`` (the caller generated and stored it)."""
        if not state:
            raise ValueError("state is required")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(self.scopes),
                "state": state,
            },
            quote_via=quote,
        )
        separator = "&" if urlsplit(self.authorize_url).query else "?"
        return f"{self.authorize_url}{separator}{query}"

    # ------------------------------------------------------------------ token endpoint

    def exchange_code(self, code: str) -> TokenSet:
        """Trade the callback's code for tokens. Codes are single-use, so only a request that
        certainly never reached Xero (connect failure) is retried."""
        if not code:
            raise ValueError("code is required")
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        try:
            body = self._token_request(data, retry_lost_responses=False)
        except InvalidGrant:
            raise InvalidGrant(
                "That Xero sign-in has expired or was already used — start again with /recon connect."
            ) from None
        return self._token_set(body)

    def refresh(self, refresh_token: str) -> TokenSet:
        if not refresh_token:
            raise ValueError("refresh_token is required")
        body = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}, retry_lost_responses=True
        )
        return self._token_set(body)

    def revoke(self, refresh_token: str) -> None:
        """Revoke the grant (Xero then drops every connection it had). Already-dead is fine."""
        if not refresh_token:
            raise ValueError("refresh_token is required")
        try:
            self._token_request(
                {"token": refresh_token, "token_type_hint": "refresh_token"},
                retry_lost_responses=True,
                url=self.revocation_url,
            )
        except InvalidGrant:
            log.info("xero revoke: token was already invalid")

    # ------------------------------------------------------------------ connections

    def connections(self, access_token: str, auth_event_id: str | None = None) -> list[Connection]:
        params = {"authEventId": str(uuid.UUID(auth_event_id))} if auth_event_id else None
        resp = self._api_request("GET", self.connections_url, access_token, params=params)
        if resp.status_code != 200:
            raise _api_error(resp)
        try:
            data = resp.json()
        except ValueError as exc:
            raise XeroError("Xero sent a list of connections Recon couldn't read.") from exc
        if not isinstance(data, list):
            raise XeroError("Xero sent a list of connections Recon couldn't read.")
        return [Connection.from_xero(c) for c in data]

    def delete_connection(self, access_token: str, connection_id: str) -> None:
        """Disconnect one organisation; a 404 means it is already gone, which is the goal."""
        url = f"{self.connections_url}/{uuid.UUID(str(connection_id))}"
        resp = self._api_request("DELETE", url, access_token)
        if resp.status_code in (200, 204, 404):
            return
        raise _api_error(resp)

    # ------------------------------------------------------------------ transport

    def _token_request(
        self, data: Mapping[str, str], *, retry_lost_responses: bool, url: str | None = None
    ) -> dict[str, Any]:
        url = url or self.token_url
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                resp = self.session.post(
                    url,
                    data=dict(data),
                    auth=(self.client_id, self._client_secret),
                    headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                _log("POST", url, type(exc).__name__, started)
                never_sent = isinstance(exc, requests.ConnectTimeout)
                if attempt < self.max_retries and (retry_lost_responses or never_sent):
                    self.sleep(backoff_delay(attempt, self.backoff))
                    attempt += 1
                    continue
                raise XeroUnavailable(
                    "Xero's sign-in service isn't responding — please try again shortly."
                ) from None
            _log("POST", url, resp.status_code, started)
            if resp.status_code in _RETRY_STATUSES and retry_lost_responses and attempt < self.max_retries:
                self.sleep(backoff_delay(attempt, self.backoff))
                attempt += 1
                continue
            return _token_body(resp)

    def _api_request(
        self, method: str, url: str, access_token: str, params: Mapping[str, str] | None = None
    ) -> requests.Response:
        """GET/DELETE on /connections: both idempotent, so transient failures are retried."""
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    headers={
                        "Authorization": f"Bearer {access_token}",
                        "Accept": "application/json",
                        "User-Agent": USER_AGENT,
                    },
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                _log(method, url, type(exc).__name__, started)
                resp = None
            else:
                _log(method, url, resp.status_code, started)
                if resp.status_code not in _RETRY_STATUSES:
                    return resp
            if attempt >= self.max_retries:
                raise XeroUnavailable()
            self.sleep(backoff_delay(attempt, self.backoff))
            attempt += 1

    def _token_set(self, body: Mapping[str, Any]) -> TokenSet:
        access = body.get("access_token")
        refresh = body.get("refresh_token")
        if not access:
            raise OAuthError("invalid_response", "Xero's sign-in service sent no access token.")
        if not refresh:
            raise OAuthError(
                "missing_refresh_token",
                "Xero sent no refresh token — the app must ask for the offline_access scope.",
            )
        try:
            expires_in = int(body.get("expires_in") or 1800)
        except (TypeError, ValueError):
            expires_in = 1800
        scope = body.get("scope") or ""
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(str(s) for s in scope)
        return TokenSet(
            access_token=str(access),
            refresh_token=str(refresh),
            expires_at=self.now() + timedelta(seconds=expires_in),
            scope=scopes,
            id_token=body.get("id_token") or None,
        )


# ---------------------------------------------------------------------- helpers


def _log(method: str, url: str, status: int | str, started: float) -> None:
    # The URL never carries a secret (tokens and codes travel in bodies and headers only).
    log.info(
        "xero-identity %s %s status=%s %.0fms",
        method,
        urlsplit(url).path,
        status,
        (time.monotonic() - started) * 1000,
    )


def _error_code(resp: requests.Response) -> str:
    try:
        data = resp.json()
    except ValueError:
        return "unknown_error"
    code = data.get("error") if isinstance(data, dict) else None
    return code if isinstance(code, str) and _ERROR_CODE.match(code) else "unknown_error"


def _token_body(resp: requests.Response) -> dict[str, Any]:
    """Successful JSON, or the matching exception — whose message never echoes the body."""
    if resp.status_code == 200:
        if not resp.content:
            return {}
        try:
            data = resp.json()
        except ValueError as exc:
            raise OAuthError("invalid_response", "Xero's sign-in service sent an unreadable answer.") from exc
        if not isinstance(data, dict):
            raise OAuthError("invalid_response", "Xero's sign-in service sent an unreadable answer.")
        return data
    if resp.status_code == 429:
        retry_after = resp.headers.get("Retry-After", "60")
        raise RateLimited(int(retry_after) if retry_after.isdigit() else 60, "minute")
    if resp.status_code >= 500:
        raise XeroUnavailable(_IDENTITY_DOWN)
    code = _error_code(resp)
    if code == "invalid_grant":
        raise InvalidGrant()
    raise OAuthError(code)


def _api_error(resp: requests.Response) -> XeroError:
    if resp.status_code == 401:
        return XeroUnauthorized()
    if resp.status_code == 403:
        return XeroError("Xero refused to list this login's organisations.")
    if resp.status_code == 429:
        retry_after = resp.headers.get("Retry-After", "60")
        return RateLimited(int(retry_after) if retry_after.isdigit() else 60, "minute")
    return XeroError(f"Xero refused the request (HTTP {resp.status_code}).")


def id_token_claims(
    id_token: str,
    *,
    client_id: str,
    now: datetime | None = None,
    issuer: str | None = None,
    leeway: float = 60.0,
) -> dict[str, Any]:
    """Claims of an ID token we received ourselves from the token endpoint.

    The signature is not checked: OIDC Core §3.1.3.7 allows relying on TLS when the token came
    straight from the token endpoint in the code exchange, which is the only place Recon reads
    one. Audience and expiry are still checked so a token minted for another app, or replayed
    late, is refused. The result includes Xero's ``xero_userid``.
    """
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise OAuthError("invalid_id_token", "Xero sent an ID token Recon couldn't read.") from None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if client_id not in audiences:
        raise OAuthError("invalid_id_token", "Xero's ID token was issued to a different app.")
    exp = claims.get("exp")
    current = (now or _utcnow()).timestamp()
    if not isinstance(exp, int | float) or exp + leeway < current:
        raise OAuthError("invalid_id_token", "Xero's ID token has expired.")
    if issuer is not None and claims.get("iss") != issuer:
        raise OAuthError("invalid_id_token", "Xero's ID token came from an unexpected issuer.")
    return claims
