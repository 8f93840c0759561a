"""The Web API (`POST /api/<method>`), response_url and Sign in with Slack endpoints, as one WSGI app.

Accepts what slack_sdk sends: JSON bodies (chat.postMessage, views.*), form bodies with JSON
strings inside (`blocks=[...]`), and query strings (users.info is a GET). Answers like Slack:
HTTP 200 with `{"ok": false, "error": …}` for API errors, HTTP 429 + `Retry-After` when rate
limited.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from bot.sandbox.slack.methods import METHODS
from bot.sandbox.slack.models import Message, SlackError, View
from bot.sandbox.slack.workspace import ACK_WAIT_S, Workspace

if TYPE_CHECKING:
    from bot.sandbox.slack.openid import OpenIDProvider

JSON_FIELDS = {"blocks", "view", "attachments", "metadata"}
APP_TOKEN_METHODS = {"apps.connections.open"}  # called with the app-level token, not the bot's
CLIENT_AUTH_METHODS = {"openid.connect.token"}  # the app's client id and secret, no token at all


@dataclass
class ApiCall:
    """One recorded Web API call (for assertions such as "views.open was called once")."""

    method: str
    params: dict[str, Any]
    time: float
    status: int
    response: dict[str, Any]
    token: str | None = None
    client_auth: str | None = None  # "basic" or "post" for client-authenticated methods

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class ResponseUrlPost:
    token: str
    body: dict[str, Any]
    time: float
    status: int
    response: dict[str, Any]


@dataclass
class _Fault:
    error: str
    remaining: int
    retry_after: int | None = None


@dataclass
class Faults:
    """Injectable failures: the next N calls of a method fail or get rate-limited."""

    _pending: dict[str, list[_Fault]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def ratelimit_next(self, method: str, n: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._pending.setdefault(method, []).append(_Fault("ratelimited", n, retry_after))

    def fail_next(self, method: str, error: str = "internal_error", n: int = 1) -> None:
        with self._lock:
            self._pending.setdefault(method, []).append(_Fault(error, n))

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    def take(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._pending.get(method) or self._pending.get("*") or []
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault


class WebApi:
    """WSGI application serving `/api/<method>` and `/response/<token>`."""

    def __init__(
        self, workspace: Workspace, *, bot_token: str, bot_name: str = "recon", app_token: str | None = None
    ) -> None:
        self.ws = workspace
        self.bot_token = bot_token
        self.app_token = app_token
        # Set by SlackSandbox: opens Socket Mode and returns a fresh WebSocket URL.
        self.open_socket: Callable[[], str] | None = None
        # Set by SlackSandbox: Sign in with Slack (the authorize page and openid.connect.token).
        self.openid: OpenIDProvider | None = None
        self.bot_name = bot_name
        self.faults = Faults()
        self.calls: list[ApiCall] = []
        self.response_url_posts: list[ResponseUrlPost] = []
        self._routes = Map(
            [
                Rule("/api/<method>", endpoint="api", methods=["GET", "POST"]),
                Rule("/response/<token>", endpoint="response", methods=["POST"]),
                Rule("/healthz", endpoint="health", methods=["GET"]),
                Rule("/openid/connect/authorize", endpoint="openid_authorize", methods=["GET"]),
                Rule("/openid/connect/authorize/consent", endpoint="openid_consent", methods=["POST"]),
                Rule("/sandbox/signin", endpoint="signin", methods=["GET", "POST"]),
            ]
        )

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            endpoint, values = self._routes.bind_to_environ(environ).match()
            if endpoint == "api":
                response = self._api(request, values["method"])
            elif endpoint == "response":
                response = self._response_url(request, values["token"])
            elif endpoint in ("openid_authorize", "openid_consent", "signin"):
                response = self._browser(request, endpoint)
            else:
                response = _json({"ok": True})
        except HTTPException as error:
            response = error.get_response(environ)
        return response(environ, start_response)

    # ------------------------------------------------------------- /api/<method>
    def _api(self, request: Request, method: str) -> Response:
        try:
            args = _arguments(request)
        except SlackError as error:
            return _json({"ok": False, "error": error.code, "errors": error.errors})
        token = _token(request, args)
        args.pop("token", None)
        client_auth = None
        if method in CLIENT_AUTH_METHODS:
            basic = _basic_credentials(request)
            client_auth = "basic" if basic else ("post" if args.get("client_secret") else None)
            if basic:
                args["client_id"], args["client_secret"] = basic
        status, body, headers = self._dispatch(method, args, token)
        recorded = {k: v for k, v in args.items() if k != "client_secret"}
        with self.ws.lock:
            self.calls.append(
                ApiCall(method, copy.deepcopy(recorded), self.ws.clock(), status, body, token, client_auth)
            )
        return _json(body, status=status, headers=headers)

    def _browser(self, request: Request, endpoint: str) -> Response:
        """Pages a person's browser visits (Sign in with Slack), not the bot's API calls."""
        if self.openid is None:
            return Response("Sign in with Slack is not available in this sandbox", status=404)
        if endpoint == "openid_authorize":
            return self.openid.authorize(request)
        if endpoint == "openid_consent":
            return self.openid.consent_submit(request)
        return self.openid.sign_in(request)

    def _dispatch(
        self, method: str, args: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        handler = METHODS.get(method) or (self._connections_open if method in APP_TOKEN_METHODS else None)
        if method in CLIENT_AUTH_METHODS and self.openid is not None:
            handler = self._openid_token
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        auth_error = None if method in CLIENT_AUTH_METHODS else self._auth_error(method, token)
        if auth_error:
            return 200, {"ok": False, "error": auth_error}, {}
        fault = self.faults.take(method)
        if fault is not None and fault.retry_after is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        if fault is not None:
            return 200, {"ok": False, "error": fault.error}, {}
        try:
            return 200, handler(self, args), {}
        except SlackError as error:
            body: dict[str, Any] = {"ok": False, "error": error.code}
            if error.errors:
                body["errors"] = error.errors
                body["response_metadata"] = {"messages": [f"[ERROR] {e}" for e in error.errors]}
            return 200, body, {}

    def _auth_error(self, method: str, token: str | None) -> str | None:
        """Slack's answer to the wrong kind of token: app-level methods refuse bot tokens."""
        if not token:
            return "not_authed"
        if method in APP_TOKEN_METHODS:
            if token.startswith(("xoxb-", "xoxp-")):
                return "not_allowed_token_type"
            return None if self.app_token and token == self.app_token else "invalid_auth"
        return None if token == self.bot_token else "invalid_auth"

    def _openid_token(self, api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
        assert self.openid is not None
        return self.openid.token(args)

    def _connections_open(self, api: WebApi, args: dict[str, Any]) -> dict[str, Any]:
        if self.open_socket is None:
            raise SlackError("not_allowed", ["Socket Mode is not available in this sandbox"])
        return {"ok": True, "url": self.open_socket()}

    # ----------------------------------------------------------- response_url
    def _response_url(self, request: Request, token: str) -> Response:
        raw = request.get_data(as_text=True)
        try:
            body = json.loads(raw) if raw.strip().startswith("{") else _form_payload(request)
        except ValueError:
            body = {}
        try:
            status, result = 200, self.apply_response(token, body)
        except SlackError as error:
            status = error.status if error.status != 200 else 400
            result = {"ok": False, "error": error.code}
            if error.errors:
                result["errors"] = error.errors
        with self.ws.lock:
            self.response_url_posts.append(ResponseUrlPost(token, body, self.ws.clock(), status, result))
        return _json(result, status=status)

    def apply_response(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """Apply one response_url post: new message, replace_original or delete_original."""
        ws = self.ws
        with ws.lock:
            pending = ws.response_urls.get(token)
        if pending is None:
            raise SlackError("invalid_url", status=404)
        pending.acked.wait(ACK_WAIT_S)
        if not body.get("delete_original"):
            ws.check("response_url", "message", {"text": body.get("text"), "blocks": body.get("blocks")})
        entry = ws.spend_response_url(token)
        original = _original(ws, entry.original)
        if body.get("delete_original"):
            if original is not None:
                ws.delete(original)
            return {"ok": True}
        if _truthy(body.get("replace_original")) and original is not None:
            if original.is_ephemeral and body.get("response_type") == "in_channel":
                ws.warnings.append("response_url: an ephemeral message cannot become in_channel")
            ws.replace(original, text=body.get("text") or "", blocks=body.get("blocks"))
            return {"ok": True}
        channel = ws.resolve_channel(entry.channel)
        public = body.get("response_type") == "in_channel"
        message = ws.post(
            channel,
            text=body.get("text") or "",
            blocks=body.get("blocks"),
            user=ws.bot_user_id,
            bot=True,
            ephemeral_to=None if public else entry.user_id,
            thread_ts=body.get("thread_ts"),
            via="response_url",
        )
        if entry.kind == "command":
            entry.original = (message.channel, message.ts, message.ephemeral_to)
        return {"ok": True}

    # ---------------------------------------------------------------- shapes
    def message_json(self, message: Message) -> dict[str, Any]:
        out = message.payload()
        out["team"] = self.ws.team_id
        out["bot_profile"] = {
            "id": self.ws.bot_id,
            "app_id": self.ws.app_id,
            "name": self.bot_name,
            "team_id": self.ws.team_id,
        }
        out["app_id"] = self.ws.app_id
        return out

    def view_json(self, view: View) -> dict[str, Any]:
        return view.payload(self.ws.app_id, self.ws.bot_id)


# ----------------------------------------------------------------------- helpers
def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.args.items())
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(request.form.items())
    for name in JSON_FIELDS:
        value = args.get(name)
        if isinstance(value, str) and value.strip()[:1] in {"[", "{"}:
            try:
                args[name] = json.loads(value)
            except ValueError as error:
                raise SlackError("invalid_arguments", [f"{name}: {error}"]) from error
    return args


def _token(request: Request, args: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = args.get("token")
    return str(token) if token else None


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """HTTP Basic client credentials (slack_sdk's `auth=`), or None."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _form_payload(request: Request) -> dict[str, Any]:
    payload = request.form.get("payload")
    if payload is None:
        return {}
    body = json.loads(payload)
    return body if isinstance(body, dict) else {}


def _original(ws: Workspace, ref: tuple[str, str, str | None] | None) -> Message | None:
    if ref is None:
        return None
    try:
        return ws.find_message(*ref)
    except SlackError:
        return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in {"true", "1"}


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json; charset=utf-8"
    )
