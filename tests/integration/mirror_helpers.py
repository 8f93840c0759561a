"""What the mirror holds, set beside what the sandbox holds, for the sync tests."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from storage.models import MirrorTransaction


def mirrored(db, tenant_id: str) -> dict[str, tuple]:
    """id → (reference, reconciled, total e4, status) of every mirrored row."""
    with db.session() as session:
        rows = session.scalars(select(MirrorTransaction).where(MirrorTransaction.tenant_id == tenant_id))
        return {
            r.bank_transaction_id: (r.reference or "", r.is_reconciled, r.total_e4, r.status) for r in rows
        }


def in_xero(sb, tenant_id: str) -> dict[str, tuple]:
    """The same view of the sandbox's own data: only live (AUTHORISED) transactions."""
    out = {}
    for t in sb.transactions(tenant_id):
        if t["Status"] != "AUTHORISED":
            continue
        total = int((Decimal(str(t["Total"])) * 10_000).to_integral_value())
        out[t["BankTransactionID"]] = (t.get("Reference") or "", bool(t["IsReconciled"]), total, "AUTHORISED")
    return out


def list_calls(world) -> list:
    """GET /BankTransactions requests the sandbox received (lists, not single reads)."""
    return [r for r in world.reqs() if r.method == "GET" and r.path.endswith("/BankTransactions")]


def header(request, name: str) -> str | None:
    headers = {k.lower(): v for k, v in (request.headers or {}).items()}
    return headers.get(name.lower())
