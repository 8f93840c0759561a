"""What Recon knows of each Xero organisation itself, shared by every grant that holds it.

Read once from ``GET /Organisation`` and kept: the ShortCode makes "Open in Xero" links land in
the right organisation, the country says how its people type dates, the zone when its day
starts. None of it is secret and none of it is per user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import Organisation, utcnow


@dataclass(frozen=True)
class OrganisationView:
    tenant_id: str
    name: str
    short_code: str | None
    country_code: str | None
    timezone: str | None  # IANA
    base_currency: str | None
    fetched_at: datetime


def get_organisation(db: Database, tenant_id: str) -> OrganisationView | None:
    with db.session() as session:
        row = session.get(Organisation, tenant_id)
        return _view(row) if row else None


def save_organisation(
    db: Database,
    *,
    tenant_id: str,
    name: str,
    short_code: str | None,
    country_code: str | None,
    timezone: str | None,
    base_currency: str | None,
    now: Callable[[], datetime] = utcnow,
) -> OrganisationView:
    """Insert or replace, in one statement (two processes may read it at once)."""
    values = {
        "tenant_id": tenant_id,
        "name": name[:255],
        "short_code": short_code,
        "country_code": country_code,
        "timezone": timezone,
        "base_currency": base_currency,
        "fetched_at": now(),
    }
    insert = pg_insert if not db.is_sqlite else sqlite_insert
    statement = insert(Organisation).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Organisation.tenant_id],
        set_={k: statement.excluded[k] for k in values if k != "tenant_id"},
    )
    with db.session() as session:
        session.execute(statement)
    return OrganisationView(**values)


def forget_organisation(db: Database, tenant_id: str) -> None:
    with db.session() as session:
        session.execute(delete(Organisation).where(Organisation.tenant_id == tenant_id))


def _view(row: Organisation) -> OrganisationView:
    return OrganisationView(
        tenant_id=row.tenant_id,
        name=row.name,
        short_code=row.short_code,
        country_code=row.country_code,
        timezone=row.timezone,
        base_currency=row.base_currency,
        fetched_at=row.fetched_at,
    )


__all__ = ["OrganisationView", "forget_organisation", "get_organisation", "save_organisation"]
