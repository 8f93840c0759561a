"""HTTP side of the Accounting API (``/api.xro/2.0``): the gateway checks, then the ledger.

The gateway order follows what a client sees at Xero: bearer token (401), tenant connected to
the token's user and app (403 AuthenticationUnsuccessful), scope (401 AuthorizationUnsuccessful),
rate limits (429), then the operation itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

from .context import Context
from .formats import problem, validation_error
from .http import api_response, read_json
from .identity import AccessRecord
from .ledger import ListQuery, Result
from .model import Organisation
from .oauth_views import bearer

READ_TRANSACTIONS = {
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.banktransactions",
    "accounting.banktransactions.read",
}
WRITE_TRANSACTIONS = {"accounting.transactions", "accounting.banktransactions"}
READ_SETTINGS = {"accounting.settings", "accounting.settings.read"}

Operation = Callable[[Context, Request, Organisation], Result]


def call(ctx: Context, request: Request, scopes: set[str], operation: Operation) -> Response:
    """Run ``operation`` behind Xero's gateway checks; adds the rate-limit headers."""
    record = bearer(ctx, request)
    if isinstance(record, Response):
        return record
    tenant_id = request.headers.get("xero-tenant-id", "").strip().lower()
    request.environ["sandbox.tenant_id"] = tenant_id or None
    org = ctx.ledger.org(tenant_id) if tenant_id else None
    if org is None or not ctx.identity.has_tenant(record, tenant_id):
        return api_response(request, 403, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
    if not _has_scope(record, scopes):
        return api_response(request, 401, problem(401, "Unauthorized", "AuthorizationUnsuccessful"))
    rejection = ctx.limiter.acquire(org.tenant_id)
    if rejection is not None:
        headers = ctx.limiter.remaining(org.tenant_id)
        headers["Retry-After"] = str(rejection.retry_after)
        headers["X-Rate-Limit-Problem"] = rejection.problem
        return api_response(request, 429, problem(429, "Too Many Requests", "Rate limit exceeded"), headers)
    try:
        gate = ctx.faults.gate()
        if gate is not None:
            gate.hold(ctx.faults.stopping)
        result = operation(ctx, request, org)
    finally:
        ctx.limiter.release(org.tenant_id)
    headers = ctx.limiter.remaining(org.tenant_id)
    headers.update(result.headers or {})
    return api_response(request, result.status, result.body, headers)


def _has_scope(record: AccessRecord, wanted: set[str]) -> bool:
    return bool(wanted.intersection(record.scopes))


def _bad(message: str) -> Result:
    return Result(400, validation_error([message]))


def _int_arg(request: Request, name: str) -> tuple[int | None, Result | None]:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None, None
    try:
        return int(raw), None
    except ValueError:
        return None, _bad(f"The value '{raw}' is not valid for {name}.")


def parse_if_modified_since(value: str | None) -> datetime | None:
    """The header as a UTC instant to the second, or None when absent or unparseable.

    ISO 8601 per the spec; without a zone it is UTC (what Xero's guide asks clients to send),
    ``Z`` or an offset is honoured, a fraction of a second is dropped. Anything unparseable is
    ignored, so everything comes back, as Xero appears to do (Xero-NetStandard#428).
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).replace(microsecond=0)


# --- operations -------------------------------------------------------------------------------


def list_transactions(ctx: Context, request: Request, org: Organisation) -> Result:
    page, err = _int_arg(request, "page")
    size, err2 = _int_arg(request, "pageSize")
    unitdp, err3 = _int_arg(request, "unitdp")
    if err or err2 or err3:
        return err or err2 or err3  # type: ignore[return-value]
    query = ListQuery(
        where=request.args.get("where") or None,
        order=request.args.get("order") or None,
        page=page,
        page_size=size,
        modified_since=parse_if_modified_since(request.headers.get("If-Modified-Since")),
        unitdp=unitdp,
    )
    return ctx.ledger.list_transactions(org, query)


def get_transaction(txn_id: str) -> Operation:
    def op(ctx: Context, request: Request, org: Organisation) -> Result:
        unitdp, err = _int_arg(request, "unitdp")
        return err or ctx.ledger.get_transaction(org, txn_id, unitdp)

    return op


def update_transaction(txn_id: str) -> Operation:
    def op(ctx: Context, request: Request, org: Organisation) -> Result:
        payload, error = read_json(request)
        if error:
            return _bad(error)
        unitdp, err = _int_arg(request, "unitdp")
        if err:
            return err
        return ctx.ledger.update_transaction(
            org, txn_id, payload, request.headers.get("Idempotency-Key"), unitdp
        )

    return op


def get_history(txn_id: str) -> Operation:
    def op(ctx: Context, _request: Request, org: Organisation) -> Result:
        return ctx.ledger.history(org, txn_id)

    return op


def add_history(txn_id: str) -> Operation:
    def op(ctx: Context, request: Request, org: Organisation) -> Result:
        payload, error = read_json(request)
        if error:
            return _bad(error)
        return ctx.ledger.add_history(org, txn_id, payload, request.headers.get("Idempotency-Key"))

    return op


def accounts(ctx: Context, request: Request, org: Organisation) -> Result:
    return ctx.ledger.accounts(org, request.args.get("where") or None, request.args.get("order") or None)


def tracking_categories(ctx: Context, request: Request, org: Organisation) -> Result:
    include = request.args.get("includeArchived", "").lower() == "true"
    return ctx.ledger.tracking_categories(
        org, request.args.get("where") or None, request.args.get("order") or None, include
    )


def organisation(ctx: Context, _request: Request, org: Organisation) -> Result:
    return ctx.ledger.organisation(org)
