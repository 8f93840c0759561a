"""Xero's identity service: consent, codes, token rotation, revocation, connections.

Modelled on Xero's documented rules (its OAuth 2.0 docs): codes are single-use and live 5 minutes;
access tokens live 30 minutes; every refresh returns a new refresh token; a superseded refresh
token keeps working for 30 minutes after its first use (and then returns a fresh pair each
time); a refresh token unused for 60 days dies; revoking removes every connection of that user
to the app. Connections belong to (user, app) pairs, as at Xero, so any live access token of the
user reaches every tenant the user connected.

Guesses where Xero is silent: a superseded token retried within the grace period does not
invalidate the pair issued the first time (both chains stay alive); access tokens already
issued stay valid after a revoke (they are self-contained JWTs at Xero) but lose their tenants
because the connections are gone; ``state`` is required (the sandbox shows an error page
without it, rather than redirecting).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import uuid
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from .clock import SandboxClock
from .model import User

CODE_LIFETIME = timedelta(minutes=5)
ACCESS_LIFETIME = timedelta(minutes=30)
GRACE_PERIOD = timedelta(minutes=30)
REFRESH_IDLE_LIFETIME = timedelta(days=60)
ID_TOKEN_LIFETIME = timedelta(minutes=5)

KNOWN_SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "offline_access",
        *(
            f"accounting.{s}{suffix}"
            for s in (
                "transactions",
                "banktransactions",
                "invoices",
                "payments",
                "manualjournals",
                "settings",
                "contacts",
                "attachments",
            )
            for suffix in ("", ".read")
        ),
        "accounting.reports.read",
        "accounting.journals.read",
        "accounting.budgets.read",
    }
)


class OAuthError(Exception):
    """An OAuth error answered as ``{"error": code}`` (token/revocation) or a redirect (authorize)."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class AuthorizeError(Exception):
    """A problem with the authorize request that must NOT redirect (unknown client, bad redirect)."""


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Recon"


@dataclass
class AuthRequest:
    """A validated authorize request waiting for the user's consent."""

    request_id: str
    client: Client
    redirect_uri: str
    scopes: list[str]
    state: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None


@dataclass
class AuthCode:
    code: str
    grant_id: str
    redirect_uri: str
    expires_at: datetime
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    used: bool = False


@dataclass
class Grant:
    grant_id: str
    user: User
    client: Client
    scopes: list[str]
    auth_event_id: str
    auth_time: datetime
    session_id: str
    revoked: bool = False


@dataclass
class RefreshRecord:
    token: str
    grant_id: str
    issued_at: datetime
    first_used_at: datetime | None = None


@dataclass
class AccessRecord:
    token: str
    grant_id: str
    user: User
    client: Client
    scopes: list[str]
    expires_at: datetime


@dataclass
class Connection:
    id: str
    user_id: str
    client_id: str
    tenant_id: str
    tenant_name: str
    auth_event_id: str
    created: datetime
    updated: datetime


@dataclass
class TokenSet:
    body: dict[str, object]
    grant_id: str


class Identity:
    """All identity state, guarded by one lock (the web server is threaded)."""

    def __init__(
        self,
        clock: SandboxClock,
        client: Client,
        users: list[User],
        tenant_names: dict[str, str],
        signing_key: str,
    ) -> None:
        self.clock = clock
        self.clients: dict[str, Client] = {client.client_id: client}
        self.users: dict[str, User] = {u.xero_user_id: u for u in users}
        self.tenant_names = dict(tenant_names)
        self.signing_key = signing_key
        self.pending: dict[str, AuthRequest] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, RefreshRecord] = {}
        self.access_tokens: dict[str, AccessRecord] = {}
        self.connections: dict[str, Connection] = {}
        self._lock = threading.RLock()

    # --- authorize ------------------------------------------------------------------

    def check_authorize(self, params: dict[str, str]) -> AuthRequest:
        """Validate an authorize request; raises AuthorizeError (error page) or OAuthError (redirect)."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise AuthorizeError("Unknown client or client not enabled (unauthorized_client).")
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise AuthorizeError("Invalid redirect_uri: it must exactly match one registered for the app.")
        state = params.get("state", "")
        if not state:
            raise AuthorizeError("The state parameter is required.")
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "response_type must be 'code'")
        scopes = params.get("scope", "").split()
        if not scopes:
            raise OAuthError("invalid_scope", "No scopes requested")
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown:
            raise OAuthError("invalid_scope", f"Unknown scope: {' '.join(unknown)}")
        method = params.get("code_challenge_method")
        if params.get("code_challenge") and method not in (None, "S256", "plain"):
            raise OAuthError("invalid_request", "code_challenge_method must be S256")
        request = AuthRequest(
            request_id=secrets.token_urlsafe(16),
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            nonce=params.get("nonce"),
            code_challenge=params.get("code_challenge"),
            code_challenge_method=method or ("plain" if params.get("code_challenge") else None),
        )
        with self._lock:
            self.pending[request.request_id] = request
        return request

    def take_pending(self, request_id: str) -> AuthRequest | None:
        with self._lock:
            return self.pending.pop(request_id, None)

    def consent(self, request: AuthRequest, user: User, tenant_ids: list[str]) -> str:
        """The user allowed access to ``tenant_ids``: record a grant and connections, return a code."""
        now = self.clock.now()
        allowed = [t for t in tenant_ids if t in user.tenant_ids]
        with self._lock:
            grant = Grant(
                grant_id=str(uuid.uuid4()),
                user=user,
                client=request.client,
                scopes=request.scopes,
                auth_event_id=str(uuid.uuid4()),
                auth_time=now,
                session_id=uuid.uuid4().hex,
            )
            self.grants[grant.grant_id] = grant
            for tenant_id in allowed:
                existing = self._connection_for(user.xero_user_id, request.client.client_id, tenant_id)
                if existing is not None:
                    existing.auth_event_id = grant.auth_event_id
                    existing.updated = now
                else:
                    conn = Connection(
                        id=str(uuid.uuid4()),
                        user_id=user.xero_user_id,
                        client_id=request.client.client_id,
                        tenant_id=tenant_id,
                        tenant_name=self.tenant_names.get(tenant_id, ""),
                        auth_event_id=grant.auth_event_id,
                        created=now,
                        updated=now,
                    )
                    self.connections[conn.id] = conn
            code = AuthCode(
                code=secrets.token_urlsafe(32),
                grant_id=grant.grant_id,
                redirect_uri=request.redirect_uri,
                expires_at=now + CODE_LIFETIME,
                code_challenge=request.code_challenge,
                code_challenge_method=request.code_challenge_method,
                nonce=request.nonce,
            )
            self.codes[code.code] = code
            return code.code

    # --- token endpoint ----------------------------------------------------------------

    def authenticate_client(self, client_id: str | None, client_secret: str | None) -> Client:
        client = self.clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.client_secret, client_secret or ""):
            raise OAuthError("invalid_client")
        return client

    def exchange_code(
        self, client: Client, code: str, redirect_uri: str, code_verifier: str | None, issuer: str
    ) -> TokenSet:
        now = self.clock.now()
        with self._lock:
            record = self.codes.get(code)
            if record is None or record.used:
                raise OAuthError("invalid_grant")
            grant = self.grants[record.grant_id]
            if grant.client.client_id != client.client_id or record.expires_at <= now:
                raise OAuthError("invalid_grant")
            if record.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the authorize request")
            if record.code_challenge and not _pkce_ok(record, code_verifier):
                raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
            record.used = True
            if grant.revoked:
                raise OAuthError("invalid_grant")
            return self._issue(grant, now, issuer, record.nonce)

    def refresh(self, client: Client, refresh_token: str, issuer: str) -> TokenSet:
        now = self.clock.now()
        with self._lock:
            record = self.refresh_tokens.get(refresh_token)
            if record is None:
                raise OAuthError("invalid_grant")
            grant = self.grants[record.grant_id]
            if grant.client.client_id != client.client_id or grant.revoked:
                raise OAuthError("invalid_grant")
            if record.first_used_at is None:
                if now - record.issued_at >= REFRESH_IDLE_LIFETIME:
                    raise OAuthError("invalid_grant")
                record.first_used_at = now
            elif now - record.first_used_at >= GRACE_PERIOD:
                raise OAuthError("invalid_grant")
            return self._issue(grant, now, issuer, None)

    def revoke(self, client: Client, token: str) -> None:
        """Revoke the grant behind a refresh token and drop every connection of that user to the app.

        Unknown tokens are accepted silently (RFC 7009 §2.2).
        """
        with self._lock:
            record = self.refresh_tokens.get(token)
            if record is None:
                return
            grant = self.grants[record.grant_id]
            if grant.client.client_id != client.client_id:
                raise OAuthError("invalid_client")
            grant.revoked = True
            self._drop_connections(grant.user.xero_user_id, client.client_id)

    def revoke_user(self, xero_user_id: str) -> int:
        """Xero-side revocation of everything a user granted; returns connections removed."""
        with self._lock:
            for grant in self.grants.values():
                if grant.user.xero_user_id == xero_user_id:
                    grant.revoked = True
            return self._drop_connections(xero_user_id, None)

    def _drop_connections(self, user_id: str, client_id: str | None) -> int:
        doomed = [
            c.id
            for c in self.connections.values()
            if c.user_id == user_id and (client_id is None or c.client_id == client_id)
        ]
        for cid in doomed:
            del self.connections[cid]
        return len(doomed)

    def _issue(self, grant: Grant, now: datetime, issuer: str, nonce: str | None) -> TokenSet:
        expires = now + ACCESS_LIFETIME
        access = jwt.encode(
            {
                "nbf": int(now.timestamp()),
                "exp": int(expires.timestamp()),
                "iss": issuer,
                "aud": f"{issuer}/resources",
                "client_id": grant.client.client_id,
                "sub": grant.user.sub,
                "auth_time": int(grant.auth_time.timestamp()),
                "xero_userid": grant.user.xero_user_id,
                "global_session_id": grant.session_id,
                "sid": grant.session_id,
                "jti": uuid.uuid4().hex,
                "authentication_event_id": grant.auth_event_id,
                "scope": grant.scopes,
            },
            self.signing_key,
            algorithm="HS256",
        )
        self.access_tokens[access] = AccessRecord(
            access, grant.grant_id, grant.user, grant.client, grant.scopes, expires
        )
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": int(ACCESS_LIFETIME.total_seconds()),
            "token_type": "Bearer",
            "scope": " ".join(grant.scopes),
        }
        if "offline_access" in grant.scopes:
            refresh = secrets.token_hex(32)
            self.refresh_tokens[refresh] = RefreshRecord(refresh, grant.grant_id, now)
            body["refresh_token"] = refresh
        if "openid" in grant.scopes:
            body["id_token"] = self._id_token(grant, now, issuer, nonce)
        return TokenSet(body, grant.grant_id)

    def _id_token(self, grant: Grant, now: datetime, issuer: str, nonce: str | None) -> str:
        user = grant.user
        claims: dict[str, object] = {
            "nbf": int(now.timestamp()),
            "exp": int((now + ID_TOKEN_LIFETIME).timestamp()),
            "iss": issuer,
            "aud": grant.client.client_id,
            "iat": int(now.timestamp()),
            "auth_time": int(grant.auth_time.timestamp()),
            "sub": user.sub,
            "xero_userid": user.xero_user_id,
            "global_session_id": grant.session_id,
            "sid": grant.session_id,
        }
        if "email" in grant.scopes:
            claims.update(email=user.email, preferred_username=user.email)
        if "profile" in grant.scopes:
            claims.update(given_name=user.given_name, family_name=user.family_name)
        if nonce:
            claims["nonce"] = nonce
        with warnings.catch_warnings():
            # Client secrets shorter than 32 bytes draw PyJWT's key-length warning; Xero's are long
            # enough, sandbox test secrets need not be.
            warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
            return jwt.encode(claims, grant.client.client_secret, algorithm="HS256")

    # --- resource side ---------------------------------------------------------------------

    def access(self, token: str) -> AccessRecord | None:
        with self._lock:
            return self.access_tokens.get(token)

    def has_tenant(self, access: AccessRecord, tenant_id: str) -> bool:
        with self._lock:
            return (
                self._connection_for(access.user.xero_user_id, access.client.client_id, tenant_id) is not None
            )

    def list_connections(self, access: AccessRecord, auth_event_id: str | None = None) -> list[Connection]:
        with self._lock:
            found = [
                c
                for c in self.connections.values()
                if c.user_id == access.user.xero_user_id and c.client_id == access.client.client_id
            ]
        if auth_event_id:
            found = [c for c in found if c.auth_event_id.lower() == auth_event_id.lower()]
        # Connections made by one consent share a timestamp; the user's organisation order breaks
        # the tie, so the same consent always lists them the same way.
        order = {tenant_id: i for i, tenant_id in enumerate(access.user.tenant_ids)}
        return sorted(found, key=lambda c: (c.created, order.get(c.tenant_id, len(order)), c.id))

    def delete_connection(self, access: AccessRecord, connection_id: str) -> bool:
        with self._lock:
            conn = self.connections.get(connection_id.lower())
            if (
                conn is None
                or conn.user_id != access.user.xero_user_id
                or conn.client_id != access.client.client_id
            ):
                return False
            del self.connections[conn.id]
            return True

    def _connection_for(self, user_id: str, client_id: str, tenant_id: str) -> Connection | None:
        tenant_id = tenant_id.lower()
        return next(
            (
                c
                for c in self.connections.values()
                if c.user_id == user_id and c.client_id == client_id and c.tenant_id == tenant_id
            ),
            None,
        )


def _pkce_ok(record: AuthCode, verifier: str | None) -> bool:
    if not verifier:
        return False
    if record.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return secrets.compare_digest(expected, record.code_challenge or "")
