"""``/_sandbox/…``: the control surface for driving the sandbox from another process.

Unauthenticated on purpose: the sandbox binds to 127.0.0.1 and is a test fixture, not a service.
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from .actions import ActionError
from .context import Context
from .http import json_response, read_json


def _body(request: Request) -> dict[str, Any]:
    payload, error = read_json(request)
    if error or not isinstance(payload, dict):
        return {}
    return payload


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def summary(ctx: Context, request: Request) -> Response:
    return json_response(
        {
            "url": request.host_url.rstrip("/"),
            "now": ctx.clock.now().isoformat(),
            "settings": ctx.settings,
            "tenants": ctx.settings.get("tenants", []),
            "users": [
                {"xero_user_id": u.xero_user_id, "email": u.email, "name": u.name, "tenant_ids": u.tenant_ids}
                for u in ctx.identity.users.values()
            ],
            "faults": ctx.faults.state(),
        }
    )


def clock(ctx: Context, request: Request) -> Response:
    if request.method == "POST":
        seconds = _body(request).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return _error('POST {"seconds": N} with N >= 0')
        ctx.clock.advance(float(seconds))
    return json_response({"now": ctx.clock.now().isoformat()})


def faults(ctx: Context, request: Request) -> Response:
    f = ctx.faults
    if request.method == "DELETE":
        f.clear()
    elif request.method == "POST":
        body = _body(request)
        if body.get("clear"):
            f.clear()
        if "latency_ms" in body:
            f.latency(int(body["latency_ms"]))
        if "fail_next" in body:
            spec = body["fail_next"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            f.fail_next(int(spec.get("n", 1)), int(spec.get("status", 500)))
        if "timeout_next" in body:
            spec = body["timeout_next"]
            spec = spec if isinstance(spec, dict) else {"n": spec}
            f.timeout_next(int(spec.get("n", 1)), float(spec.get("seconds", 30)))
        if body.get("drop_next_refresh_response"):
            value = body["drop_next_refresh_response"]
            f.drop_next_refresh_response(1 if value is True else int(value))
    return json_response(f.state())


def requests_log(ctx: Context, request: Request) -> Response:
    if request.method == "DELETE":
        ctx.recorder.clear()
        return json_response([])
    return json_response(ctx.recorder.all())


def revoke(ctx: Context, request: Request) -> Response:
    user_id = str(_body(request).get("xero_user_id") or ctx.login_user_id)
    if user_id not in ctx.identity.users:
        return _error("unknown xero_user_id", 404)
    return json_response({"connections_removed": ctx.identity.revoke_user(user_id)})


def transaction(ctx: Context, request: Request, tenant_id: str, txn_id: str) -> Response:
    org = ctx.ledger.org(tenant_id)
    if org is None:
        return _error("unknown tenant", 404)
    try:
        if request.method == "PATCH":
            ctx.ledger.modify(org, txn_id, _body(request), ctx.login_user().name)
        result = ctx.ledger.get_transaction(org, txn_id, 4)
    except KeyError:
        return _error("unknown transaction", 404)
    except ValueError as exc:
        return _error(str(exc))
    if result.status != 200 or isinstance(result.body, str):
        return _error("unknown transaction", 404)
    return json_response(result.body["BankTransactions"][0])


def history(ctx: Context, _request: Request, tenant_id: str, txn_id: str) -> Response:
    org = ctx.ledger.org(tenant_id)
    if org is None:
        return _error("unknown tenant", 404)
    try:
        return json_response(ctx.ledger.history_records(org, txn_id))
    except KeyError:
        return _error("unknown transaction", 404)


def create_transaction(ctx: Context, request: Request, tenant_id: str) -> Response:
    """POST a new SPEND/RECEIVE transaction ("someone entered it in Xero"); 201 with it."""
    org = ctx.ledger.org(tenant_id)
    if org is None:
        return _error("unknown tenant", 404)
    body, problem = _object_body(request)
    if problem:
        return _error(problem)
    try:
        txn = ctx.ledger.create(org, body, ctx.login_user().name)
    except ActionError as exc:
        return _error(str(exc))
    return _shown(ctx, tenant_id, txn.id, 201)


def transaction_action(ctx: Context, request: Request, tenant_id: str, txn_id: str, action: str) -> Response:
    """POST …/{edit|delete|void|reconcile|unreconcile}: a change made in Xero; 200 with the result."""
    org = ctx.ledger.org(tenant_id)
    if org is None:
        return _error("unknown tenant", 404)
    body, problem = _object_body(request)
    if problem:
        return _error(problem)
    try:
        ctx.ledger.act(org, txn_id, action.lower(), body, ctx.login_user().name)
    except KeyError:
        return _error("unknown transaction", 404)
    except ActionError as exc:
        return _error(str(exc))
    return _shown(ctx, tenant_id, txn_id)


def _object_body(request: Request) -> tuple[dict[str, Any], str | None]:
    """The JSON object sent (an empty body is ``{}``), or why it is not one."""
    if not request.get_data(cache=True):
        return {}, None
    payload, error = read_json(request)
    if error:
        return {}, error
    if not isinstance(payload, dict):
        return {}, "The body must be a JSON object."
    return payload, None


def _shown(ctx: Context, tenant_id: str, txn_id: str, status: int = 200) -> Response:
    """The transaction as GET /BankTransactions/{id} shows it (with line items, unitdp=4)."""
    org = ctx.ledger.org(tenant_id)
    assert org is not None
    result = ctx.ledger.get_transaction(org, txn_id, 4)
    if result.status != 200 or isinstance(result.body, str):
        return _error("unknown transaction", 404)
    return json_response(result.body["BankTransactions"][0], status)


def redirect_uris(ctx: Context, request: Request) -> Response:
    uri = _body(request).get("uri")
    if not isinstance(uri, str) or not uri:
        return _error('POST {"uri": "http://127.0.0.1:PORT/xero/callback"}')
    for client in ctx.identity.clients.values():
        if uri not in client.redirect_uris:
            client.redirect_uris.append(uri)
    return json_response(
        {"redirect_uris": [u for c in ctx.identity.clients.values() for u in c.redirect_uris]}
    )


def login(ctx: Context, request: Request) -> Response:
    user_id = _body(request).get("xero_user_id")
    if user_id not in ctx.identity.users:
        return _error("unknown xero_user_id", 404)
    ctx.login_user_id = str(user_id)
    return json_response({"xero_user_id": ctx.login_user_id})
