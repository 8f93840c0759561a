"""An organisation's contacts as the mirror knows them: the distinct folded names on its rows.

An organisation has few contacts and many transactions with each. Found as a trigram phrase, a
common contact's name matched tens of thousands of rows, and a search for it spent most of its
time reading the trigram index. So the contact is kept apart from the rest of the text: each
row's folded contact is ``contact_key``, a column the database computes from ``search_text``
(its first line) and indexes with the date, and ``mirror_contacts`` lists each organisation's
distinct ones (a trigger adds every row's). A term is tested here against those few dozen to few
thousand strings, and search asks for the rows of the contacts that hold it, counted and ordered
from ``ix_mirror_contact``. On PostgreSQL the trigram index holds only the reference and the
line descriptions (:class:`storage.search_fields.after_first_line`); SQLite's FTS5 table keeps
the contact too (see :mod:`storage.mirror_search`).

The table only grows between an organisation's whole reads: a contact whose rows are all gone
stays listed, which costs a string that matches no row. :func:`prune_contacts` takes such
contacts out after a whole read, and forgetting an organisation takes all of them
(:func:`storage.mirror.forget_tenant`).
"""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from storage.models import MirrorContact, MirrorTransaction

# Most contacts read for one search. Past this, ``contact:`` is tested on each row's contact
# (PostgreSQL) or through FTS5's contact column (SQLite).
MOST = 10_000


def distinct_contacts(session: Session, tenant_id: str, *, most: int | None = None) -> list[str] | None:
    """The organisation's folded contacts ("" for rows without one), in order; None if there
    are more than ``most`` (:data:`MOST` unless given)."""
    most = MOST if most is None else most
    query = (
        select(MirrorContact.contact_key)
        .where(MirrorContact.tenant_id == tenant_id)
        .order_by(MirrorContact.contact_key)
        .limit(most + 1)
    )
    keys = list(session.scalars(query))
    return None if len(keys) > most else keys


def prune_contacts(session: Session, tenant_id: str) -> int:
    """Take out the contacts no row of the organisation carries any more (inside the caller's
    transaction, which holds the organisation's sync lock). Returns how many."""
    rows = MirrorTransaction
    carried = exists().where(rows.tenant_id == tenant_id, rows.contact_key == MirrorContact.contact_key)
    result = session.execute(delete(MirrorContact).where(MirrorContact.tenant_id == tenant_id, ~carried))
    return result.rowcount or 0


__all__ = [
    "MOST",
    "distinct_contacts",
    "prune_contacts",
]
