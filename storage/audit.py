"""The audit log of writes to Xero (who, organisation, transaction, field, before, after)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from storage.db import Database
from storage.models import AuditEntry

OUTCOME_SUCCESS = "success"
OUTCOME_CONFLICT = "conflict"
OUTCOME_FAILED = "failed"


@dataclass(frozen=True)
class AuditRecord:
    slack_team_id: str
    slack_user_id: str
    tenant_id: str
    bank_transaction_id: str
    field: str
    before: str | None
    after: str | None
    outcome: str
    error: str | None = None
    idempotency_key: str | None = None
    created_at: datetime | None = None


def write_audit(db: Database, records: list[AuditRecord]) -> None:
    with db.session() as session:
        for r in records:
            session.add(
                AuditEntry(
                    slack_team_id=r.slack_team_id,
                    slack_user_id=r.slack_user_id,
                    tenant_id=r.tenant_id,
                    bank_transaction_id=r.bank_transaction_id,
                    field=r.field,
                    before=r.before,
                    after=r.after,
                    outcome=r.outcome,
                    error=(r.error or None) and r.error[:2000],
                    idempotency_key=r.idempotency_key,
                    **({"created_at": r.created_at} if r.created_at else {}),
                )
            )


def audit_for_transaction(db: Database, tenant_id: str, bank_transaction_id: str) -> list[AuditRecord]:
    with db.session() as session:
        rows = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.tenant_id == tenant_id, AuditEntry.bank_transaction_id == bank_transaction_id)
            .order_by(AuditEntry.id)
        ).all()
        return [_record(r) for r in rows]


def recent_audit(db: Database, limit: int = 50) -> list[AuditRecord]:
    with db.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)).all()
        return [_record(r) for r in rows]


def _record(r: AuditEntry) -> AuditRecord:
    return AuditRecord(
        slack_team_id=r.slack_team_id,
        slack_user_id=r.slack_user_id,
        tenant_id=r.tenant_id,
        bank_transaction_id=r.bank_transaction_id,
        field=r.field,
        before=r.before,
        after=r.after,
        outcome=r.outcome,
        error=r.error,
        idempotency_key=r.idempotency_key,
        created_at=r.created_at,
    )
