"""An organisation's contacts as the mirror knows them: the distinct folded names on its rows.

An organisation has few contacts and many transactions with each. Found as a trigram phrase, a
common contact's name matched tens of thousands of rows, and ``contact:"…"`` spent most of its
time reading the trigram index to count them. Each row keeps its folded contact in
``contact_key``, a column the database computes from ``search_text`` (its first line), so a
``contact:`` term is tested here against the organisation's distinct contacts — a few dozen to
a few thousand strings, read from ``ix_mirror_contact`` one seek each — and search then asks for
the rows of the contacts that hold it, counted and ordered from the same index.

Storage holds no table of contacts: the index is the dictionary, so nothing has to be kept in
step when rows come and go.
"""

from __future__ import annotations

from sqlalchemy import Text, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

# Most distinct contacts read for one search. Past this, ``contact:`` is matched through the
# text index instead (as many seeks as contacts would cost more than that).
MOST = 2000

# A loose index scan: each step seeks the next distinct contact in ix_mirror_contact, so the
# cost follows the number of contacts, not of rows (both dialects run it the same way).
_DISTINCT = text(
    """
    WITH RECURSIVE contacts(key) AS (
        SELECT min(contact_key) FROM mirror_transactions WHERE tenant_id = :tenant
        UNION ALL
        SELECT (
            SELECT min(contact_key) FROM mirror_transactions
            WHERE tenant_id = :tenant AND contact_key > contacts.key
        )
        FROM contacts WHERE contacts.key IS NOT NULL
    )
    SELECT key FROM contacts WHERE key IS NOT NULL LIMIT :most
    """
)


class first_line(FunctionElement):  # noqa: N801 - named as the SQL function it stands for
    """The text up to its first newline: ``contact_key``'s definition, in each dialect's words
    (SQLite has no split function, PostgreSQL no ``instr``)."""

    type = Text()
    name = "first_line"
    inherit_cache = True


@compiles(first_line)
def _first_line_sqlite(element: first_line, compiler, **kw) -> str:
    text_sql = compiler.process(element.clauses, **kw)
    return f"substr({text_sql}, 1, instr({text_sql} || char(10), char(10)) - 1)"


@compiles(first_line, "postgresql")
def _first_line_postgresql(element: first_line, compiler, **kw) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, E'\\n', 1)"


def distinct_contacts(session: Session, tenant_id: str, *, most: int | None = None) -> list[str] | None:
    """Every folded contact on the organisation's rows ("" for rows without one), in index
    order; None if there are more than ``most`` (:data:`MOST` unless given)."""
    most = MOST if most is None else most
    keys = list(session.scalars(_DISTINCT, {"tenant": tenant_id, "most": most + 1}))
    return None if len(keys) > most else keys


def contacts_holding(session: Session, tenant_id: str, term: str) -> tuple[str, ...] | None:
    """The organisation's folded contacts that hold ``term`` (folded too) as a substring — what
    ``contact:`` means — or None when it has too many contacts to read them all."""
    keys = distinct_contacts(session, tenant_id)
    if keys is None:
        return None
    return tuple(k for k in keys if term in k)


__all__ = ["MOST", "contacts_holding", "distinct_contacts", "first_line"]
