"""Where each organisation's mirror stands: who syncs it now, how far it got, what it cost.

One row per organisation in ``mirror_sync_state``. Three things make the sync safe to run from
any number of processes at once:

* the *lease* (``lease_owner``/``lease_until``), taken with a conditional update like the token
  refresh lease: one holder per organisation, an expired lease is free, and a holder that was
  killed is taken over once its lease runs out;
* :func:`apply_page`: a page's rows and the checkpoint that says the page is done are one
  transaction, written only while the caller still holds the lease, so a crash resumes at the
  last page written and a holder that lost its lease (it was too slow) writes nothing;
* :func:`reserve_call`: each sync call is counted on the organisation's row before it is made,
  against the share of Xero's daily budget the sync may spend.

Writes lock the state row before touching rows, and :func:`storage.mirror.forget_tenant`
deletes the state row first, so a page being written while the organisation is forgotten is
either deleted with it or never written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.mirror import MirrorRow, delete_rows, delete_unread, forget_tenant, present_versions, write_rows
from storage.mirror_contacts import prune_contacts
from storage.models import (
    GRANT_ACTIVE,
    TENANT_CONNECTED,
    Grant,
    MirrorSyncState,
    MirrorTransaction,
    Tenant,
    utcnow,
)

_BATCH = 500


class LeaseLost(Exception):
    """Someone else holds this organisation's sync now (ours expired), or it was forgotten."""

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"the sync lease on {tenant_id} is no longer ours")
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class SyncStateView:
    tenant_id: str
    bookmark_utc: datetime | None
    first_sync_started_at: datetime | None
    first_sync_page: int | None
    first_sync_bookmark_utc: datetime | None
    first_sync_expected: int | None
    first_sync_completed_at: datetime | None
    last_delta_at: datetime | None
    last_sweep_at: datetime | None
    last_full_at: datetime | None
    row_count: int
    calls_day: date | None
    calls_today: int
    last_error: str | None
    last_error_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    updated_at: datetime

    @property
    def complete(self) -> bool:
        """The first sync finished: the mirror holds every transaction (as of ``last_delta_at``)."""
        return self.first_sync_completed_at is not None

    def calls_on(self, day: date) -> int:
        return self.calls_today if self.calls_day == day else 0

    def leased(self, now: datetime) -> bool:
        return self.lease_until is not None and self.lease_until > now


_FIELDS = tuple(f.name for f in fields(SyncStateView))


def _view(row: MirrorSyncState) -> SyncStateView:
    return SyncStateView(**{name: getattr(row, name) for name in _FIELDS})


def get_sync_state(db: Database, tenant_id: str) -> SyncStateView | None:
    with db.session() as session:
        row = session.get(MirrorSyncState, tenant_id)
        return _view(row) if row else None


def all_sync_states(db: Database) -> list[SyncStateView]:
    with db.session() as session:
        rows = session.scalars(select(MirrorSyncState).order_by(MirrorSyncState.tenant_id))
        return [_view(r) for r in rows]


def ensure_state(db: Database, tenant_id: str, *, now: Callable[[], datetime] = utcnow) -> None:
    """The organisation's state row, created empty if missing (two creators at once are fine)."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    with db.session() as session:
        session.execute(
            insert(MirrorSyncState)
            .values(tenant_id=tenant_id, row_count=0, calls_today=0, updated_at=now())
            .on_conflict_do_nothing(index_elements=[MirrorSyncState.tenant_id])
        )


# ---------------------------------------------------------------------- the lease


def take_lease(
    db: Database, tenant_id: str, owner: str, until: datetime, *, now: Callable[[], datetime] = utcnow
) -> bool:
    """True if ``owner`` now holds the organisation's sync lease until ``until``."""
    ensure_state(db, tenant_id, now=now)
    moment = now()
    with db.session() as session:
        taken = session.execute(
            update(MirrorSyncState)
            .where(
                MirrorSyncState.tenant_id == tenant_id,
                or_(
                    MirrorSyncState.lease_until.is_(None),
                    MirrorSyncState.lease_until <= moment,
                    MirrorSyncState.lease_owner == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=until, updated_at=moment)
        ).rowcount
    return taken == 1


def _as_holder(session, tenant_id: str, owner: str, **values) -> None:
    """Write ``values`` to the state row only while ``owner`` holds its lease, in ``session``'s
    transaction; :class:`LeaseLost` (nothing written) once another process has taken it."""
    held = session.execute(
        update(MirrorSyncState)
        .where(MirrorSyncState.tenant_id == tenant_id, MirrorSyncState.lease_owner == owner)
        .values(**values)
    ).rowcount
    if held != 1:
        raise LeaseLost(tenant_id)


def renew_lease(db: Database, tenant_id: str, owner: str, until: datetime) -> None:
    """Keep the lease while a long sync goes on; :class:`LeaseLost` if it is not ours any more."""
    with db.session() as session:
        _as_holder(session, tenant_id, owner, lease_until=until)


def release_lease(db: Database, tenant_id: str, owner: str) -> None:
    with db.session() as session:
        session.execute(
            update(MirrorSyncState)
            .where(MirrorSyncState.tenant_id == tenant_id, MirrorSyncState.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


# ---------------------------------------------------------------------- the budget


def reserve_call(db: Database, tenant_id: str, *, cap: int, day: date) -> bool:
    """Count one sync call on ``day`` if fewer than ``cap`` were made; False when the share is spent.

    Counted before the call is made, so a process killed mid-call has still paid for it.
    """
    same_day = case((MirrorSyncState.calls_day == day, MirrorSyncState.calls_today + 1), else_=1)
    with db.session() as session:
        counted = session.execute(
            update(MirrorSyncState)
            .where(
                MirrorSyncState.tenant_id == tenant_id,
                or_(
                    MirrorSyncState.calls_day.is_(None),
                    MirrorSyncState.calls_day != day,
                    MirrorSyncState.calls_today < cap,
                ),
            )
            .values(
                calls_today=same_day,
                calls_day=day,
            )
        ).rowcount
    return counted == 1


# ---------------------------------------------------------------------- writes


@dataclass(frozen=True)
class PageApplied:
    written: int  # rows upserted (new and replaced)
    inserted: int  # of which new to the mirror
    removed: int  # rows taken out (deleted or voided in Xero)


def apply_page(
    db: Database,
    tenant_id: str,
    owner: str,
    *,
    rows: Sequence[MirrorRow],
    removed_ids: Sequence[str] = (),
    state: Mapping[str, Any] | None = None,
    only_newer: bool = False,
    unread_before: datetime | None = None,
    now: Callable[[], datetime] = utcnow,
) -> PageApplied:
    """A page's rows and its checkpoint (``state``: column values), in one transaction.

    Only while ``owner`` holds the lease (else :class:`LeaseLost`, nothing written); the row
    count moves by exactly the rows this page added and removed. ``only_newer`` skips rows the
    mirror already holds at the same UpdatedDateUTC (a delta's overlap re-reads them; a sweep
    must not skip them, since reconciling need not move the time). ``unread_before``: the last
    page of a whole read, which wrote every row Xero has since that moment — older rows go.
    """
    moment = now()
    values = {**(state or {}), "updated_at": moment}
    with db.locked_session() as session:
        _as_holder(session, tenant_id, owner, **values)
        return _write(
            session, tenant_id, rows, removed_ids, moment, only_newer=only_newer, unread_before=unread_before
        )


def write_through(
    db: Database, tenant_id: str, row: MirrorRow, *, now: Callable[[], datetime] = utcnow
) -> bool:
    """Replace one row from Xero's answer to an edit, if this organisation is mirrored at all.

    No lease: the row is newer than anything a running sync could hold (the upsert keeps the
    newer of the two by UpdatedDateUTC). False when nothing is mirrored for the organisation.
    """
    moment = now()
    with db.locked_session() as session:
        held = session.execute(
            update(MirrorSyncState).where(MirrorSyncState.tenant_id == tenant_id).values(updated_at=moment)
        ).rowcount
        if held != 1:
            return False
        _write(session, tenant_id, [row], (), moment)
    return True


def _write(
    session,
    tenant_id: str,
    rows: Sequence[MirrorRow],
    removed_ids: Sequence[str],
    moment: datetime,
    *,
    only_newer: bool = False,
    unread_before: datetime | None = None,
) -> PageApplied:
    ids = [r.bank_transaction_id for r in rows]
    existing = present_versions(session, tenant_id, ids) if ids else {}
    if only_newer:
        rows = [
            r
            for r in rows
            if r.bank_transaction_id not in existing or existing[r.bank_transaction_id] < r.updated_utc
        ]
    inserted = len(set(ids) - existing.keys())
    written = write_rows(session, tenant_id, rows, stamp=moment)
    removed = delete_rows(session, tenant_id, removed_ids) if removed_ids else 0
    if unread_before is not None:
        removed += delete_unread(session, tenant_id, before=unread_before)
        prune_contacts(session, tenant_id)  # a whole read: contacts no row carries any more go
    if inserted or removed:
        session.execute(
            update(MirrorSyncState)
            .where(MirrorSyncState.tenant_id == tenant_id)
            .values(row_count=MirrorSyncState.row_count + inserted - removed)
        )
    return PageApplied(written, inserted, removed)


def unreconciled_ids(
    db: Database, tenant_id: str, *, date_from: date | None = None, date_to: date | None = None
) -> set[str]:
    """Transactions the mirror has as unreconciled (dated within the range, when given)."""
    query = select(MirrorTransaction.bank_transaction_id).where(
        MirrorTransaction.tenant_id == tenant_id, MirrorTransaction.is_reconciled.is_(False)
    )
    if date_from is not None:
        query = query.where(MirrorTransaction.date >= date_from)
    if date_to is not None:
        query = query.where(MirrorTransaction.date <= date_to)
    with db.session() as session:
        return set(session.scalars(query))


def unreconciled_count(db: Database, tenant_id: str, *, date_from: date | None = None) -> int:
    """How many the mirror has as unreconciled (from ``date_from``): what a sweep will read."""
    query = select(func.count()).where(
        MirrorTransaction.tenant_id == tenant_id, MirrorTransaction.is_reconciled.is_(False)
    )
    if date_from is not None:
        query = query.where(MirrorTransaction.date >= date_from)
    with db.session() as session:
        return session.scalar(query) or 0


def date_chunks(
    db: Database, tenant_id: str, max_rows: int, *, date_from: date | None = None
) -> list[tuple[date | None, date | None]]:
    """Date ranges (inclusive, open at the end; from ``date_from`` or open) each holding at most
    ``max_rows`` mirrored rows.

    Xero refuses a filter on an unindexed field (IsReconciled) that leaves more than 100,000
    transactions to scan, so a sweep of a big organisation goes range by range; the mirror
    itself says where to cut.
    """
    query = select(MirrorTransaction.date, func.count()).where(MirrorTransaction.tenant_id == tenant_id)
    if date_from is not None:
        query = query.where(MirrorTransaction.date >= date_from)
    with db.session() as session:
        counts = session.execute(
            query.group_by(MirrorTransaction.date).order_by(MirrorTransaction.date)
        ).all()
    chunks: list[tuple[date | None, date | None]] = []
    start: date | None = date_from
    filled = 0
    for day, n in counts:
        if filled and filled + n > max_rows:
            chunks.append((start, day - timedelta(days=1)))
            start, filled = day, 0
        filled += n
    chunks.append((start, None))
    return chunks


def mark_reconciled(
    db: Database,
    tenant_id: str,
    owner: str,
    bank_transaction_ids: Iterable[str],
    *,
    mirrored_before: datetime,
) -> int:
    """The sweep's correction: these are reconciled in Xero now (they left its unreconciled list).

    Only rows mirrored before the sweep began reading: one a delta wrote meanwhile is newer than
    the sweep's view of it. Only while ``owner`` holds the lease.
    """
    ids = list(bank_transaction_ids)
    marked = 0
    with db.locked_session() as session:
        _as_holder(session, tenant_id, owner, updated_at=mirrored_before)
        for start in range(0, len(ids), _BATCH):
            marked += (
                session.execute(
                    update(MirrorTransaction)
                    .where(
                        MirrorTransaction.tenant_id == tenant_id,
                        MirrorTransaction.bank_transaction_id.in_(ids[start : start + _BATCH]),
                        MirrorTransaction.is_reconciled.is_(False),
                        MirrorTransaction.mirrored_at < mirrored_before,
                    )
                    .values(is_reconciled=True)
                ).rowcount
                or 0
            )
    return marked


def record_outcome(
    db: Database, tenant_id: str, *, values: Mapping[str, Any], now: Callable[[], datetime] = utcnow
) -> None:
    """Set columns of the state row (last delta, last error…) whoever holds the lease."""
    with db.session() as session:
        session.execute(
            update(MirrorSyncState)
            .where(MirrorSyncState.tenant_id == tenant_id)
            .values(**values, updated_at=now())
        )


def restart_first_sync(db: Database, tenant_id: str, owner: str) -> None:
    """``mirror sync --full``: read everything again from the start. Rows stay (and search
    answers live meanwhile); the read's last page takes out whatever it did not write."""
    with db.session() as session:
        _as_holder(
            session,
            tenant_id,
            owner,
            first_sync_started_at=None,
            first_sync_page=None,
            first_sync_bookmark_utc=None,
            first_sync_expected=None,
            first_sync_completed_at=None,
        )


# ---------------------------------------------------------------------- who may be mirrored


def held_tenants(db: Database) -> dict[str, str]:
    """Organisations some active grant holds, with a name for each: what the clock keeps in step."""
    with db.session() as session:
        rows = session.execute(
            select(Tenant.tenant_id, Tenant.tenant_name)
            .join(Grant, Tenant.grant_id == Grant.id)
            .where(Grant.status == GRANT_ACTIVE, Tenant.status == TENANT_CONNECTED)
            .order_by(Tenant.tenant_id, Grant.last_refreshed_at.desc())
        ).all()
    held: dict[str, str] = {}
    for tenant_id, name in rows:
        held.setdefault(tenant_id, name)
    return held


def grants_holding(db: Database, tenant_id: str) -> list[int]:
    """Active grants that hold the organisation, the most recently refreshed first."""
    with db.session() as session:
        return list(
            session.scalars(
                select(Grant.id)
                .join(Tenant, Tenant.grant_id == Grant.id)
                .where(
                    Tenant.tenant_id == tenant_id,
                    Tenant.status == TENANT_CONNECTED,
                    Grant.status == GRANT_ACTIVE,
                )
                .order_by(Grant.last_refreshed_at.desc(), Grant.id)
            )
        )


def forget_unheld(db: Database) -> list[str]:
    """Wipe the mirror of every organisation no active grant holds any more; their ids.

    Called after whatever can take the last hold away (a disconnect, a reconnect that drops an
    organisation, Xero refusing a grant's refresh token) and by the clock on every run.
    """
    held = _held_subquery()
    with db.session() as session:
        orphans = list(
            session.scalars(select(MirrorSyncState.tenant_id).where(MirrorSyncState.tenant_id.not_in(held)))
        )
    for tenant_id in orphans:
        forget_tenant(db, tenant_id)
    return orphans


def _held_subquery():
    return (
        select(Tenant.tenant_id)
        .join(Grant, Tenant.grant_id == Grant.id)
        .where(and_(Grant.status == GRANT_ACTIVE, Tenant.status == TENANT_CONNECTED))
    )


__all__ = [
    "LeaseLost",
    "PageApplied",
    "SyncStateView",
    "all_sync_states",
    "apply_page",
    "date_chunks",
    "ensure_state",
    "forget_unheld",
    "get_sync_state",
    "grants_holding",
    "held_tenants",
    "mark_reconciled",
    "record_outcome",
    "release_lease",
    "renew_lease",
    "reserve_call",
    "restart_first_sync",
    "take_lease",
    "unreconciled_count",
    "unreconciled_ids",
    "write_through",
]
