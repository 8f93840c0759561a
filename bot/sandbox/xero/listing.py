"""Which rows a GET /BankTransactions answers, and in which order, quickly at a million rows.

Per organisation the sandbox keeps two orderings of its transactions, kept in step with every
write instead of being rebuilt:

* by (UpdatedDateUTC, BankTransactionID), Xero's default order and the one If-Modified-Since
  cuts, so a first sync or a delta ordered by UpdatedDateUTC is a bisect and a slice;
* by (Date, BankTransactionID), so a Date range in ``where`` (an optimised filter) only looks
  at the days it names.

Any other query (more ``where`` than that, or another order) is evaluated once. Its sorted rows
are kept in a small LRU keyed by (tenant, where, order, If-Modified-Since), so the next pages of
the same query are slices too. Every write to an organisation drops that organisation's cached
results, so page 2 read after a change shows the change.

If-Modified-Since is whole seconds (see :func:`modified_cut_ms`). The high-volume rule of
Xero's BankTransactions page is applied here too. Xero does not say how it counts, so two
guesses: a query that filters or orders on unoptimised fields is refused when the optimised
terms (Type, Status, Contact.ContactID equality, a Date range, If-Modified-Since) leave more
than the threshold to scan; a query without ``page`` is refused when more than the threshold
would come back. A paged read of every row is allowed however big the organisation is, because
that is how Xero tells clients to read a lot."""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from .fields import TXN_FIELDS
from .model import Organisation, Txn
from .where import Compiled, FieldSpec, OrderKey, sort_value

OPTIMISED_FILTERS = {
    ("Type", "=="),
    ("Status", "=="),
    ("Contact.ContactID", "=="),
    *(("Date", op) for op in ("==", "<", "<=", ">", ">=")),
}
OPTIMISED_ORDER = {"BankTransactionID", "UpdatedDateUTC", "Date"}
CACHE_ROWS = 3_000_000  # row references kept across cached results (8 bytes each)
CACHE_ENTRIES = 32

_by_id = attrgetter("id")
_by_updated = attrgetter("updated_ms")
_by_date = attrgetter("date")
_UPDATED_KEY = attrgetter("updated_ms", "id")
_DATE_KEY = attrgetter("date", "id")
_EQUALITY_INDEXES: dict[str, Callable[[Txn], str | None]] = {
    "Type": lambda t: t.type.lower(),
    "Status": lambda t: t.status.lower(),
    "Contact.ContactID": lambda t: t.contact.contact_id.lower() if t.contact else None,
}


class HighVolume(Exception):
    """Xero's high-volume threshold refuses the query; the message is shown to the caller."""


def modified_cut_ms(since: datetime) -> int:
    """The first UpdatedDateUTC (epoch ms) that an ``If-Modified-Since: since`` query returns.

    The header is read to the second, and a row counts as modified since it only when its
    UpdatedDateUTC, truncated to the second, is later than that second. So a row changed at
    10:00:00.400 is not returned for ``If-Modified-Since: 10:00:00``. Xero only promises results
    "accurate to the second"; this is the strict reading, chosen on purpose, so that a client
    which bookmarks its last row's second without an overlap loses a change made later in that
    same second, here as it could at Xero.
    """
    return (int(since.timestamp()) + 1) * 1000


@dataclass(frozen=True)
class Window:
    """``rows[start:end]`` without copying: a query's matches, in the order asked for."""

    rows: list[Txn]
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start

    def page(self, offset: int, size: int) -> list[Txn]:
        begin = self.start + max(offset, 0)
        return self.rows[begin : min(begin + size, self.end)]

    def all(self) -> list[Txn]:
        return self.rows[self.start : self.end]


class _Orderings:
    """One organisation's transactions in the two orders the API serves without sorting.

    Built on the first list call (the Date order on the first call that needs it), with two
    stable sorts rather than tuple keys, which keeps a million-row build to a few seconds and
    no extra memory beyond the lists themselves.
    """

    def __init__(self, txns: dict[str, Txn]) -> None:
        self.by_updated = sorted(sorted(txns.values(), key=_by_id), key=_by_updated)
        self._by_date: list[Txn] | None = None

    @property
    def by_date(self) -> list[Txn]:
        if self._by_date is None:
            self._by_date = sorted(sorted(self.by_updated, key=_by_id), key=_by_date)
        return self._by_date

    def written(self, before: Txn | None, after: Txn) -> None:
        _move(self.by_updated, before, after, _UPDATED_KEY)
        if self._by_date is not None:
            _move(self._by_date, before, after, _DATE_KEY)

    def modified_from(self, cut_ms: int) -> int:
        return bisect.bisect_left(self.by_updated, cut_ms, key=_by_updated)

    def dates(self, lo: int | None, hi: int | None) -> tuple[int, int]:
        """Positions in ``by_date`` of the inclusive day range [lo, hi] (ordinals)."""
        rows = self.by_date
        start = 0 if lo is None else bisect.bisect_left(rows, lo, key=_ordinal)
        end = len(rows) if hi is None else bisect.bisect_right(rows, hi, key=_ordinal)
        return start, max(start, end)


def _ordinal(t: Txn) -> int:
    return t.date.toordinal()


def _move(rows: list[Txn], before: Txn | None, after: Txn, key: Callable[[Txn], Any]) -> None:
    """Replace ``before`` by ``after`` in the sorted ``rows`` (``before=None``: insert)."""
    if before is not None:
        at = bisect.bisect_left(rows, key(before), key=key)
        if at < len(rows) and rows[at] is before:
            if key(before) == key(after):
                rows[at] = after
                return
            del rows[at]
        else:  # not where its key says: it was changed in place; find it the slow way
            rows.remove(before)
    bisect.insort(rows, after, key=key)


class Listing:
    """The orderings and the result cache for every organisation; callers hold the ledger lock."""

    def __init__(self, high_volume_threshold: int) -> None:
        self.high_volume_threshold = high_volume_threshold
        self._orderings: dict[str, _Orderings] = {}
        self._cache: OrderedDict[tuple[Any, ...], list[Txn]] = OrderedDict()
        self._cached_rows = 0

    # --- writes -------------------------------------------------------------------------

    def written(self, org: Organisation, before: Txn | None, after: Txn) -> None:
        """``after`` replaced ``before`` (or is new): move it in the orderings, drop cached results."""
        orderings = self._orderings.get(org.tenant_id)
        if orderings is not None:
            orderings.written(before, after)
        for key in [k for k in self._cache if k[0] == org.tenant_id]:
            self._cached_rows -= len(self._cache.pop(key))

    # --- reads --------------------------------------------------------------------------

    def warm(self, org: Organisation, txns: dict[str, Txn]) -> None:
        """Build the UpdatedDateUTC ordering now rather than on the first list call."""
        if org.tenant_id not in self._orderings:
            self._orderings[org.tenant_id] = _Orderings(txns)

    def select(
        self,
        org: Organisation,
        txns: dict[str, Txn],
        compiled: Compiled | None,
        order: list[OrderKey],
        *,
        where_text: str | None,
        order_text: str | None,
        since: datetime | None,
    ) -> Window:
        """The rows a list query matches, in its order; raises :class:`HighVolume`."""
        self.warm(org, txns)
        orderings = self._orderings[org.tenant_id]
        cut_ms = modified_cut_ms(since) if since is not None else None
        if compiled is None and _is_updated_order(order):
            start = orderings.modified_from(cut_ms) if cut_ms is not None else 0
            return Window(orderings.by_updated, start, len(orderings.by_updated))
        key = (org.tenant_id, where_text, order_text, cut_ms)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return Window(cached, 0, len(cached))
        rows = self._evaluate(orderings, compiled, order, cut_ms)
        self._remember(key, rows)
        return Window(rows, 0, len(rows))

    def _evaluate(
        self, orderings: _Orderings, compiled: Compiled | None, order: list[OrderKey], cut_ms: int | None
    ) -> list[Txn]:
        lo, hi = _date_range(compiled)
        if lo is not None or hi is not None:
            start, end = orderings.dates(lo, hi)
            rows = orderings.by_date[start:end]
            in_order = "date"
            if cut_ms is not None:
                rows = [t for t in rows if t.updated_ms >= cut_ms]
        else:
            start = orderings.modified_from(cut_ms) if cut_ms is not None else 0
            rows = orderings.by_updated[start:]
            in_order = "updated"
        limit = self.high_volume_threshold
        if len(rows) > limit and not _optimised(compiled, order) and _narrowed(rows, compiled) > limit:
            raise HighVolume(
                f"This query would scan more than {self.high_volume_threshold:,} bank transactions: "
                "filter and order only on optimised fields (Type, Status, Date, Contact.ContactID; "
                "order by BankTransactionID, UpdatedDateUTC or Date), or narrow it with them "
                "(a Date range, a Type or Status) or with If-Modified-Since."
            )
        if compiled is not None:
            predicate = compiled.predicate
            rows = [t for t in rows if predicate(t)]
        return _sort(rows, order, in_order)

    def _remember(self, key: tuple[Any, ...], rows: list[Txn]) -> None:
        if len(rows) > CACHE_ROWS:
            return
        self._cache[key] = rows
        self._cached_rows += len(rows)
        while self._cached_rows > CACHE_ROWS or len(self._cache) > CACHE_ENTRIES:
            _, dropped = self._cache.popitem(last=False)
            self._cached_rows -= len(dropped)

    @property
    def cached_queries(self) -> int:
        return len(self._cache)


def _is_updated_order(order: list[OrderKey]) -> bool:
    """Xero's default order: UpdatedDateUTC ascending, then BankTransactionID ascending."""
    if not order:
        return True
    if order[0] != OrderKey("UpdatedDateUTC", False):
        return False
    return order[1:] in ([], [OrderKey("BankTransactionID", False)])


def _is_date_order(order: list[OrderKey]) -> bool:
    if not order or order[0] != OrderKey("Date", False):
        return False
    return order[1:] in ([], [OrderKey("BankTransactionID", False)])


def _optimised(compiled: Compiled | None, order: list[OrderKey]) -> bool:
    uses_ok = compiled is None or all(u in OPTIMISED_FILTERS for u in compiled.used)
    return uses_ok and all(k.field in OPTIMISED_ORDER for k in order)


def _narrowed(rows: list[Txn], compiled: Compiled | None) -> int:
    """How many of ``rows`` the top-level optimised equality terms leave (what Xero's indexes scan)."""
    tests = []
    for c in compiled.constraints if compiled else []:
        get = _EQUALITY_INDEXES.get(c.field)
        if get is not None and c.op == "==" and isinstance(c.value, str):
            tests.append((get, c.value.lower()))
    if not tests:
        return len(rows)
    return sum(1 for t in rows if all(get(t) == value for get, value in tests))


def _date_range(compiled: Compiled | None) -> tuple[int | None, int | None]:
    """Inclusive bounds (date ordinals) implied by top-level ``Date`` terms against a plain date."""
    lo: int | None = None
    hi: int | None = None
    for c in compiled.constraints if compiled else []:
        if c.field != "Date" or not isinstance(c.value, date) or isinstance(c.value, datetime):
            continue
        day = c.value.toordinal()
        if c.op in ("==", ">=", ">"):
            bound = day + (1 if c.op == ">" else 0)
            lo = bound if lo is None else max(lo, bound)
        if c.op in ("==", "<=", "<"):
            bound = day - (1 if c.op == "<" else 0)
            hi = bound if hi is None else min(hi, bound)
    return lo, hi


def _sort(rows: list[Txn], order: list[OrderKey], in_order: str) -> list[Txn]:
    """Xero's default is UpdatedDateUTC, BankTransactionID; explicit orders end with the id too.

    ``in_order`` says which of the orderings ``rows`` already follow, so the common cases skip
    sorting altogether.
    """
    if (in_order == "updated" and _is_updated_order(order)) or (in_order == "date" and _is_date_order(order)):
        return rows
    rows = sorted(rows, key=_by_id)
    for k in reversed(order or [OrderKey("UpdatedDateUTC", False)]):
        if k.field == "BankTransactionID":
            rows.sort(key=_by_id, reverse=k.descending)
        elif k.field == "Date":
            rows.sort(key=_by_date, reverse=k.descending)
        elif k.field == "UpdatedDateUTC":
            rows.sort(key=_by_updated, reverse=k.descending)
        else:
            spec: FieldSpec = TXN_FIELDS[k.field]
            rows.sort(key=lambda t, spec=spec: sort_value(spec.get(t)), reverse=k.descending)
    return rows
