"""The WSGI application: routing, fault injection and request recording around the handlers.

Paths are matched case-insensitively, as Xero does (``/connections`` and ``/Connections`` both
work; ``/api.xro/2.0/banktransactions`` too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response

from . import accounting as acc
from . import control, oauth_views
from .context import Context
from .formats import problem
from .http import json_response

Handler = Callable[..., Response]
_GUIDISH = r"([0-9A-Za-z-]+)"
API = "/api.xro/2.0"


@dataclass(frozen=True)
class Route:
    methods: tuple[str, ...]
    pattern: re.Pattern[str]
    kind: str  # browser | identity | api | control
    handler: Handler


def _route(methods: str, path: str, kind: str, handler: Handler) -> Route:
    return Route(tuple(methods.split()), re.compile(f"^{path}/?$", re.IGNORECASE), kind, handler)


def _api(scopes: set[str], operation: Callable[..., Any]) -> Handler:
    def handler(ctx: Context, request: Request, *ids: str) -> Response:
        op = operation(*ids) if ids else operation
        return acc.call(ctx, request, scopes, op)

    return handler


ROUTES: list[Route] = [
    _route("GET", "/identity/connect/authorize", "browser", oauth_views.authorize),
    _route("POST", "/identity/connect/authorize/consent", "browser", oauth_views.consent_submit),
    _route("GET", "/.well-known/openid-configuration", "browser", oauth_views.discovery),
    _route("POST", "/connect/token", "identity", oauth_views.token),
    _route("POST", "/connect/revocation", "identity", oauth_views.revocation),
    _route("GET", "/connections", "identity", oauth_views.connections),
    _route("DELETE", f"/connections/{_GUIDISH}", "identity", oauth_views.delete_connection),
    _route("GET", f"{API}/BankTransactions", "api", _api(acc.READ_TRANSACTIONS, acc.list_transactions)),
    _route(
        "GET", f"{API}/BankTransactions/{_GUIDISH}", "api", _api(acc.READ_TRANSACTIONS, acc.get_transaction)
    ),
    _route(
        "POST",
        f"{API}/BankTransactions/{_GUIDISH}",
        "api",
        _api(acc.WRITE_TRANSACTIONS, acc.update_transaction),
    ),
    _route(
        "GET",
        f"{API}/BankTransactions/{_GUIDISH}/History",
        "api",
        _api(acc.READ_TRANSACTIONS, acc.get_history),
    ),
    _route(
        "PUT",
        f"{API}/BankTransactions/{_GUIDISH}/History",
        "api",
        _api(acc.WRITE_TRANSACTIONS, acc.add_history),
    ),
    _route("GET", f"{API}/Accounts", "api", _api(acc.READ_SETTINGS, acc.accounts)),
    _route("GET", f"{API}/TrackingCategories", "api", _api(acc.READ_SETTINGS, acc.tracking_categories)),
    _route("GET", f"{API}/Organisation", "api", _api(acc.READ_SETTINGS, acc.organisation)),
    _route("GET", "/_sandbox", "control", control.summary),
    _route("GET POST", "/_sandbox/clock(?:/advance)?", "control", control.clock),
    _route("GET POST DELETE", "/_sandbox/faults", "control", control.faults),
    _route("GET DELETE", "/_sandbox/requests", "control", control.requests_log),
    _route("POST", "/_sandbox/revoke", "control", control.revoke),
    _route("POST", "/_sandbox/redirect-uris", "control", control.redirect_uris),
    _route("POST", "/_sandbox/login", "control", control.login),
    _route("GET PATCH", f"/_sandbox/transactions/{_GUIDISH}/{_GUIDISH}", "control", control.transaction),
    _route("GET", f"/_sandbox/transactions/{_GUIDISH}/{_GUIDISH}/history", "control", control.history),
    _route("POST", f"/_sandbox/transactions/{_GUIDISH}", "control", control.create_transaction),
    _route(
        "POST",
        f"/_sandbox/transactions/{_GUIDISH}/{_GUIDISH}/(edit|delete|void|reconcile|unreconcile)",
        "control",
        control.transaction_action,
    ),
]


class SandboxApp:
    """The WSGI callable (``sb.wsgi``)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        route, args, allowed = _match(request.method, request.path)
        if route is None:
            if allowed:
                return json_response(
                    problem(405, "Method Not Allowed", f"Use {', '.join(allowed)}"),
                    405,
                    {"Allow": ", ".join(allowed)},
                )
            return Response("The resource you're looking for cannot be found", 404, content_type="text/plain")
        if route.kind == "control":
            return route.handler(self.ctx, request, *args)
        entry = _describe(request)
        try:
            response = self._run(route, request, args)
        except ConnectionError:
            entry.update(status=None, dropped=True, tenant_id=request.environ.get("sandbox.tenant_id"))
            self.ctx.recorder.add(entry)
            raise
        entry.update(status=response.status_code, tenant_id=request.environ.get("sandbox.tenant_id"))
        self.ctx.recorder.add(entry)
        return response

    def _run(self, route: Route, request: Request, args: tuple[str, ...]) -> Response:
        faults = self.ctx.faults
        if route.kind == "browser":
            return route.handler(self.ctx, request, *args)
        faults.sleep(faults.take_latency())
        failure = faults.take_failure()
        if failure is not None:
            return _failure_response(route, failure.status)
        response = route.handler(self.ctx, request, *args)
        hang = faults.take_timeout()
        if hang is not None:
            faults.sleep(hang)
        return response


def _match(method: str, path: str) -> tuple[Route | None, tuple[str, ...], list[str]]:
    allowed: list[str] = []
    for route in ROUTES:
        m = route.pattern.match(path)
        if m is None:
            continue
        if method in route.methods:
            return route, m.groups(), []
        allowed.extend(route.methods)
    return None, (), allowed


def _failure_response(route: Route, status: int) -> Response:
    if route.kind == "identity" and route.pattern.pattern.startswith("^/connect/"):
        error = "temporarily_unavailable" if status >= 500 else "invalid_request"
        return json_response({"error": error}, status)
    headers = {"Retry-After": "1", "X-Rate-Limit-Problem": "minute"} if status == 429 else {}
    titles = {
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    return json_response(problem(status, titles.get(status, "Error"), "Injected fault"), status, headers)


def _describe(request: Request) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": {k: v for k, v in request.args.items()},
        "headers": {k: v for k, v in request.headers.items()},
        "json": None,
        "form": None,
    }
    content_type = request.mimetype or ""
    if content_type == "application/x-www-form-urlencoded":
        entry["form"] = {k: v for k, v in request.form.items()}
    elif request.method in ("POST", "PUT", "PATCH"):
        raw = request.get_data(cache=True)
        try:
            entry["json"] = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            entry["body"] = raw.decode("utf-8", "replace")
    return entry
