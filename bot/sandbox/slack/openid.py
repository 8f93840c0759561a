"""Sign in with Slack (OpenID Connect) as Slack runs it, for the stand-in's browsers.

* ``GET /openid/connect/authorize`` — Slack's authorize page. The browser must be signed in to
  the workspace (the ``d`` cookie, as Slack's own session cookie is called, set by
  ``POST /sandbox/signin``); otherwise it gets a sign-in page. Then, with ``consent = "auto"``,
  straight back to the app's redirect URL with ``code`` and ``state`` (as Slack does when the
  user has signed in to this app before and ``team`` is given); with ``"prompt"``, a page with
  Allow and Cancel, and Cancel comes back with ``error=access_denied``.
* ``openid.connect.token`` on the Web API — client authentication by HTTP Basic (what slack_sdk
  sends) or form fields; single-use codes that expire after 10 minutes; the ``redirect_uri``
  must be the one sent to authorize; the answer carries an HS256 ID token (keyed with the client
  secret) with Slack's claim names: ``https://slack.com/user_id``, ``…/team_id``, and with the
  ``profile`` scope the person's and the workspace's names.

Request rules follow Slack's: ``client_id`` must be the app's, ``redirect_uri`` an exact match or
a subdirectory of a registered Redirect URL, ``scope`` only ``openid``, ``profile``, ``email``
and always ``openid``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from werkzeug.wrappers import Request, Response

from bot.sandbox.slack.models import SlackError, User
from bot.sandbox.slack.workspace import Workspace

ISSUER = "https://slack.com"
SESSION_COOKIE = "d"
CODE_TTL_S = 600.0
ID_TOKEN_TTL_S = 300
KNOWN_SCOPES = frozenset({"openid", "profile", "email"})
SIGNIN_PATH = "/sandbox/signin"
AUTHORIZE_PATH = "/openid/connect/authorize"
CONSENT_PATH = "/openid/connect/authorize/consent"


@dataclass
class AuthorizeVisit:
    """One visit to the authorize page, for assertions ("Slack was asked for …")."""

    params: dict[str, str]
    user_id: str | None
    outcome: str  # "code" | "denied" | "prompt" | "sign_in" | an error code


@dataclass
class _Pending:
    request_id: str
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    user_id: str


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    redirect_uri_sent: bool
    scopes: tuple[str, ...]
    nonce: str | None
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class OpenIDProvider:
    """Slack's OpenID Connect provider for one app installed in one workspace."""

    workspace: Workspace
    client_id: str
    client_secret: str
    team_name: str
    # Stamps the ID token's iat/exp. Defaults to the wall clock; a harness whose bot follows
    # another clock points it there, as with a delivery's signing clock.
    id_token_clock: Callable[[], float]
    consent: str = "auto"
    redirect_urls: list[str] = field(default_factory=list)
    visits: list[AuthorizeVisit] = field(default_factory=list)
    issued_claims: list[dict[str, Any]] = field(default_factory=list)
    _sessions: dict[str, str] = field(default_factory=dict)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- setup
    def register_redirect_url(self, url: str) -> None:
        """Add a Redirect URL, as under OAuth & Permissions (or `oauth_config.redirect_urls`)."""
        with self._lock:
            if url not in self.redirect_urls:
                self.redirect_urls.append(url)

    def session_for(self, user_id: str) -> str:
        """A new browser session for a workspace member (the value of the ``d`` cookie)."""
        user = self.workspace.user(user_id)
        if user.is_bot:
            raise SlackError("user_not_found")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[token] = user.id
        return token

    def _signed_in(self, request: Request) -> User | None:
        with self._lock:
            user_id = self._sessions.get(request.cookies.get(SESSION_COOKIE) or "")
        return self.workspace.users.get(user_id) if user_id else None

    def _allowed_redirect(self, uri: str) -> bool:
        """Slack's rule: an exact match, or a subdirectory of a registered Redirect URL."""
        if "#" in uri:
            return False
        with self._lock:
            registered = list(self.redirect_urls)
        return any(uri == r or uri.startswith(r.rstrip("/") + "/") for r in registered)

    def _note(self, params: dict[str, str], user: User | None, outcome: str) -> None:
        with self._lock:
            self.visits.append(AuthorizeVisit(dict(params), user.id if user else None, outcome))

    # ---------------------------------------------------------------- the browser side
    def authorize(self, request: Request) -> Response:
        params = dict(request.args.items())
        user = self._signed_in(request)
        if params.get("client_id") != self.client_id:
            self._note(params, user, "invalid_client_id")
            return _page("Slack: something went wrong", "<p>invalid_client_id</p>", 400)
        redirect_uri = params.get("redirect_uri") or (self.redirect_urls[:1] or [""])[0]
        if not self._allowed_redirect(redirect_uri):
            self._note(params, user, "bad_redirect_uri")
            return _page("Slack: something went wrong", "<p>bad_redirect_uri</p>", 400)
        state = params.get("state")
        if params.get("response_type") != "code":
            self._note(params, user, "unsupported_response_type")
            return _back(redirect_uri, {"error": "unsupported_response_type"}, state)
        scopes = tuple(s for s in params.get("scope", "").replace(",", " ").split() if s)
        if "openid" not in scopes or not set(scopes) <= KNOWN_SCOPES:
            self._note(params, user, "invalid_scope")
            return _back(redirect_uri, {"error": "invalid_scope"}, state)
        if user is None:
            self._note(params, None, "sign_in")
            return self._sign_in_page(request.full_path)
        team = params.get("team")
        if team and team != self.workspace.team_id:
            self._note(params, user, "team_mismatch")
            team_name = html.escape(self.team_name)
            body = f"<p>You're signed in to {team_name}, not the workspace this link is for.</p>"
            return _page("Slack: wrong workspace", body, 400)
        pending = _Pending(
            secrets.token_urlsafe(12),
            self.client_id,
            redirect_uri,
            bool(params.get("redirect_uri")),
            scopes,
            state,
            params.get("nonce"),
            user.id,
        )
        if self.consent == "auto":
            self._note(params, user, "code")
            return _back(redirect_uri, {"code": self._issue_code(pending)}, state)
        with self._lock:
            self._pending[pending.request_id] = pending
        self._note(params, user, "prompt")
        return self._consent_page(pending, user)

    def consent_submit(self, request: Request) -> Response:
        with self._lock:
            pending = self._pending.pop(request.form.get("request_id", ""), None)
        user = self._signed_in(request)
        if pending is None or user is None or user.id != pending.user_id:
            return _page("Slack: something went wrong", "<p>This sign-in request has expired.</p>", 400)
        if request.form.get("decision") != "allow":
            self._note({"request_id": pending.request_id}, user, "denied")
            return _back(pending.redirect_uri, {"error": "access_denied"}, pending.state)
        self._note({"request_id": pending.request_id}, user, "code")
        return _back(pending.redirect_uri, {"code": self._issue_code(pending)}, pending.state)

    def sign_in(self, request: Request) -> Response:
        """``POST /sandbox/signin`` (``user``, optional ``next``): this browser is now that person."""
        if request.method != "POST":
            return self._sign_in_page(request.args.get("next", "/"))
        try:
            token = self.session_for(request.form.get("user", ""))
        except SlackError:
            return _page("Slack: sign in", "<p>There's nobody by that id in this workspace.</p>", 400)
        target = request.form.get("next") or ""
        if target.startswith("/") and not target.startswith("//"):
            response = Response("", status=302, headers={"Location": target})
        else:
            response = _page("Slack: signed in", f"<p>Signed in to {html.escape(self.team_name)}.</p>", 200)
        response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax")
        return response

    def _sign_in_page(self, next_path: str) -> Response:
        people = "".join(
            f"<option value='{html.escape(u.id)}'>{html.escape(f'{u.real_name} (@{u.name})')}</option>"
            for u in self.workspace.users.values()
            if not u.is_bot
        )
        body = (
            f"<p>Sign in to <b>{html.escape(self.team_name)}</b> to continue.</p>"
            f"<form method='post' action='{SIGNIN_PATH}'>"
            f"<input type='hidden' name='next' value='{html.escape(next_path)}'>"
            f"<p><select name='user'>{people}</select></p>"
            "<button type='submit'>Sign in</button></form>"
        )
        return _page("Sign in to Slack", body, 200)

    def _consent_page(self, pending: _Pending, user: User) -> Response:
        body = (
            f"<p>The app wants to confirm that you are <b>{html.escape(user.real_name)}</b> "
            f"(@{html.escape(user.name)}) in <b>{html.escape(self.team_name)}</b>.</p>"
            f"<form method='post' action='{CONSENT_PATH}'>"
            f"<input type='hidden' name='request_id' value='{pending.request_id}'>"
            "<button type='submit' name='decision' value='allow'>Allow</button>"
            "<button type='submit' name='decision' value='deny'>Cancel</button>"
            "</form>"
        )
        return _page("Sign in with Slack", body, 200)

    def _issue_code(self, pending: _Pending) -> str:
        code = f"{self.workspace.team_id[1:]}.{int(self.workspace.clock() * 1000)}.{secrets.token_hex(32)}"
        with self._lock:
            self._codes[code] = _Code(
                pending.client_id,
                pending.redirect_uri,
                pending.redirect_uri_sent,
                pending.scopes,
                pending.nonce,
                pending.user_id,
                self.workspace.clock(),
            )
        return code

    # ---------------------------------------------------------------- the Web API side
    def token(self, args: dict[str, Any]) -> dict[str, Any]:
        """``openid.connect.token``: a code (once) for an access token and an ID token."""
        if not args.get("client_id") or args.get("client_id") != self.client_id:
            raise SlackError("invalid_client_id")
        if args.get("client_secret") != self.client_secret:
            raise SlackError("bad_client_secret")
        if (args.get("grant_type") or "authorization_code") != "authorization_code":
            raise SlackError("invalid_grant_type")
        with self._lock:
            code = self._codes.get(str(args.get("code") or ""))
            if code is None or code.used or code.client_id != args["client_id"]:
                raise SlackError("invalid_code")
            code.used = True
        if self.workspace.clock() - code.issued_at > CODE_TTL_S:
            raise SlackError("invalid_code")
        if code.redirect_uri_sent and args.get("redirect_uri") != code.redirect_uri:
            raise SlackError("bad_redirect_uri")
        access_token = f"xoxp-{self.workspace.team_id[1:]}-{secrets.token_hex(16)}"
        claims = self._claims(code, access_token)
        with self._lock:
            self.issued_claims.append(dict(claims))
        return {
            "ok": True,
            "access_token": access_token,
            "token_type": "Bearer",
            "id_token": jwt.encode(claims, self.client_secret, algorithm="HS256", headers={"kid": "sandbox"}),
        }

    def _claims(self, code: _Code, access_token: str) -> dict[str, Any]:
        user = self.workspace.user(code.user_id)
        now = int(self.id_token_clock())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": user.id,
            "aud": self.client_id,
            "exp": now + ID_TOKEN_TTL_S,
            "iat": now,
            "auth_time": now,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "https://slack.com/user_id": user.id,
            "https://slack.com/team_id": self.workspace.team_id,
        }
        if code.nonce:
            claims["nonce"] = code.nonce
        if "email" in code.scopes and user.email:
            claims.update(email=user.email, email_verified=True)
        if "profile" in code.scopes:
            given, _, family = user.real_name.partition(" ")
            claims.update(
                {
                    "name": user.real_name,
                    "given_name": given,
                    "family_name": family,
                    "picture": f"https://secure.gravatar.com/avatar/{user.id.lower()}.png",
                    "locale": "en-US",
                    "https://slack.com/team_name": self.team_name,
                    "https://slack.com/team_domain": self.workspace.team_domain,
                }
            )
        return claims


def _back(redirect_uri: str, params: dict[str, str], state: str | None) -> Response:
    """Send the browser back to the app with ``params`` (and the app's ``state``)."""
    if state:
        params = {**params, "state": state}
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return Response("", status=302, headers={"Location": urlunsplit(parts._replace(query=urlencode(query)))})


def _page(title: str, body: str, status: int) -> Response:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(text, status=status, mimetype="text/html")
