"""The fields of ``search_text`` as SQL: the contact on its first line, the rest after it.

``search_text`` is the folded contact, reference and line descriptions, one per line. The
contact is indexed on its own (:mod:`storage.mirror_contacts`), the rest by the trigram indexes;
both are spelled here once, for the model's generated column, the migrations and the queries
(PostgreSQL serves an expression index only to a query that spells it the same way).
"""

from __future__ import annotations

from sqlalchemy import Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class first_line(FunctionElement):  # noqa: N801 - named as the SQL function it stands for
    """The text up to its first newline: ``contact_key``'s definition, in each dialect's words
    (SQLite has no split function, PostgreSQL no ``instr``)."""

    type = Text()
    name = "first_line"
    inherit_cache = True


class after_first_line(FunctionElement):  # noqa: N801 - named as the SQL function it stands for
    """The text after its first newline: a row's reference and line descriptions, what the
    PostgreSQL trigram index holds (a query must spell it as the index does to be served)."""

    type = Text()
    name = "after_first_line"
    inherit_cache = True


@compiles(first_line)
def _first_line_sqlite(element: first_line, compiler, **kw) -> str:
    text_sql = compiler.process(element.clauses, **kw)
    return f"substr({text_sql}, 1, instr({text_sql} || char(10), char(10)) - 1)"


@compiles(first_line, "postgresql")
def _first_line_postgresql(element: first_line, compiler, **kw) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, E'\\n', 1)"


@compiles(after_first_line)
def _after_first_line_sqlite(element: after_first_line, compiler, **kw) -> str:
    text_sql = compiler.process(element.clauses, **kw)
    return f"substr({text_sql}, instr({text_sql} || char(10), char(10)) + 1)"


@compiles(after_first_line, "postgresql")
def _after_first_line_postgresql(element: after_first_line, compiler, **kw) -> str:
    text_sql = compiler.process(element.clauses, **kw)
    return f"substr({text_sql}, strpos({text_sql}, E'\\n') + 1)"


__all__ = ["after_first_line", "first_line"]
