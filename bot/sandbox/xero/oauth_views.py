"""HTTP side of the identity service: consent page, token and revocation endpoints, connections."""

from __future__ import annotations

import base64
import binascii
import contextlib
import html
import socket
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from . import render
from .context import Context
from .formats import problem
from .http import html_response, json_response
from .identity import KNOWN_SCOPES, AccessRecord, AuthorizeError, AuthRequest, OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def issuer(request: Request) -> str:
    return request.host_url.rstrip("/")


def with_query(uri: str, params: dict[str, str]) -> str:
    """Add ``params`` to ``uri``, keeping any query it already has."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location})


# --- authorize + consent ------------------------------------------------------------------


def authorize(ctx: Context, request: Request) -> Response:
    params = {k: v for k, v in request.args.items()}
    try:
        auth = ctx.identity.check_authorize(params)
    except AuthorizeError as exc:
        return html_response("Xero sandbox: sign-in error", f"<p>{html.escape(str(exc))}</p>", status=400)
    except OAuthError as exc:
        query = {"error": exc.error, "error_description": exc.description}
        if params.get("state"):
            query["state"] = params["state"]
        return redirect(with_query(params["redirect_uri"], query))
    if ctx.consent == "auto":
        user = ctx.login_user()
        code = ctx.identity.consent(ctx.identity.take_pending(auth.request_id) or auth, user, user.tenant_ids)
        return redirect(with_query(auth.redirect_uri, {"code": code, "state": auth.state}))
    return consent_page(ctx, auth)


def consent_page(ctx: Context, auth: AuthRequest) -> Response:
    user = ctx.login_user()
    orgs = [ctx.ledger.org(t) for t in user.tenant_ids]
    boxes = "".join(
        f"<label><input type='checkbox' name='tenant' value='{o.tenant_id}' checked> "
        f"{html.escape(o.name)}</label><br>"
        for o in orgs
        if o is not None
    )
    users = "".join(
        f"<option value='{u.xero_user_id}'{' selected' if u.xero_user_id == user.xero_user_id else ''}>"
        f"{html.escape(u.name)} &lt;{html.escape(u.email)}&gt;</option>"
        for u in ctx.identity.users.values()
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in auth.scopes)
    body = (
        f"<p><b>{html.escape(auth.client.name)}</b> wants to access your Xero organisations.</p>"
        f"<ul>{scopes}</ul>"
        "<form method='post' action='/identity/connect/authorize/consent'>"
        f"<input type='hidden' name='request_id' value='{auth.request_id}'>"
        f"<p>Signed in as <select name='user'>{users}</select></p>"
        f"<p>{boxes}</p>"
        "<button type='submit' name='decision' value='allow'>Allow access</button>"
        "<button type='submit' name='decision' value='deny'>Cancel</button>"
        "</form>"
    )
    return html_response("Connect to Xero (sandbox)", body)


def consent_submit(ctx: Context, request: Request) -> Response:
    auth = ctx.identity.take_pending(request.form.get("request_id", ""))
    if auth is None:
        return html_response("Xero sandbox: sign-in error", "<p>This consent request has expired.</p>", 400)
    if request.form.get("decision") != "allow":
        return redirect(with_query(auth.redirect_uri, {"error": "access_denied", "state": auth.state}))
    user = ctx.identity.users.get(request.form.get("user", ""), ctx.login_user())
    tenants = [t.lower() for t in request.form.getlist("tenant")]
    code = ctx.identity.consent(auth, user, tenants)
    return redirect(with_query(auth.redirect_uri, {"code": code, "state": auth.state}))


# --- token + revocation -------------------------------------------------------------------


def _client_credentials(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return request.form.get("client_id"), request.form.get("client_secret")


def _oauth_error(exc: OAuthError) -> Response:
    body = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    return json_response(body, exc.status, NO_STORE)


def token(ctx: Context, request: Request) -> Response:
    try:
        client = ctx.identity.authenticate_client(*_client_credentials(request))
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            issued = ctx.identity.exchange_code(
                client,
                request.form.get("code", ""),
                request.form.get("redirect_uri", ""),
                request.form.get("code_verifier"),
                issuer(request),
            )
        elif grant_type == "refresh_token":
            issued = ctx.identity.refresh(client, request.form.get("refresh_token", ""), issuer(request))
            if ctx.faults.take_drop_refresh():
                drop_connection(request)
        else:
            raise OAuthError("unsupported_grant_type")
    except OAuthError as exc:
        return _oauth_error(exc)
    return json_response(issued.body, 200, NO_STORE)


def drop_connection(request: Request) -> None:
    """Close the socket without answering, as a network failure after the server acted would."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        # Already closed by the peer is the effect we want anyway.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise ConnectionResetError("sandbox fault: response dropped after the refresh was applied")


def revocation(ctx: Context, request: Request) -> Response:
    try:
        client = ctx.identity.authenticate_client(*_client_credentials(request))
        ctx.identity.revoke(client, request.form.get("token", ""))
    except OAuthError as exc:
        return _oauth_error(exc)
    return Response("", status=200)


def discovery(_ctx: Context, request: Request) -> Response:
    base = issuer(request)
    return json_response(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/identity/connect/authorize",
            "token_endpoint": f"{base}/connect/token",
            "revocation_endpoint": f"{base}/connect/revocation",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "scopes_supported": sorted(KNOWN_SCOPES),
        }
    )


# --- bearer tokens + connections ------------------------------------------------------------


def bearer(ctx: Context, request: Request) -> AccessRecord | Response:
    """The caller's access record, or the 401 Xero's gateway would send."""
    header = request.headers.get("Authorization", "")
    token_value = header[7:].strip() if header.lower().startswith("bearer ") else ""
    record = ctx.identity.access(token_value) if token_value else None
    if record is None:
        return json_response(
            problem(401, "Unauthorized", "AuthenticationUnsuccessful"),
            401,
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if record.expires_at <= ctx.clock.now():
        expired_at = record.expires_at.strftime("%m/%d/%Y %H:%M:%S")
        return json_response(
            problem(401, "Unauthorized", f"TokenExpired: token expired at {expired_at}"),
            401,
            {
                "WWW-Authenticate": (
                    f'Bearer error="invalid_token", error_description="The token expired at {expired_at}"'
                )
            },
        )
    return record


def connections(ctx: Context, request: Request) -> Response:
    record = bearer(ctx, request)
    if isinstance(record, Response):
        return record
    found = ctx.identity.list_connections(record, request.args.get("authEventId"))
    return json_response([render.connection(c) for c in found])


def delete_connection(ctx: Context, request: Request, connection_id: str) -> Response:
    record = bearer(ctx, request)
    if isinstance(record, Response):
        return record
    if not ctx.identity.delete_connection(record, connection_id):
        return json_response(problem(404, "NotFound", "Connection not found"), 404)
    return Response("", status=204)
