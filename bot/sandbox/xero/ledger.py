"""The accounting side: every organisation's data and the operations the API exposes.

Handlers in :mod:`.accounting` translate HTTP to these calls; the ``XeroSandbox`` facade uses
them directly for ``get_transaction`` / ``modify_transaction`` / ``history``. One re-entrant
lock guards all data, so concurrent API calls and test-side edits never see half an update.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from . import render
from .clock import SandboxClock
from .data import ensure_transactions
from .formats import envelope, validation_error
from .model import Organisation, Txn, clone
from .updates import UpdateError, apply_update, unwrap
from .where import Compiled, FieldSpec, OrderKey, WhereError, compile_where, parse_order

HIGH_VOLUME_THRESHOLD = 100_000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
IDEMPOTENCY_TTL = timedelta(minutes=6)
NOT_FOUND = "The resource you're looking for cannot be found"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


TXN_FIELDS: dict[str, FieldSpec] = {
    "BankTransactionID": FieldSpec("guid", lambda t: t.id),
    "Type": FieldSpec("enum", lambda t: t.type),
    "Status": FieldSpec("enum", lambda t: t.status),
    "Date": FieldSpec("date", lambda t: t.date),
    "UpdatedDateUTC": FieldSpec("datetime", lambda t: _utc(t.updated_ms)),
    "IsReconciled": FieldSpec("bool", lambda t: t.reconciled),
    "HasAttachments": FieldSpec("bool", lambda t: t.has_attachments),
    "Reference": FieldSpec("string", lambda t: t.reference),
    "Url": FieldSpec("string", lambda t: t.url),
    "CurrencyCode": FieldSpec("enum", lambda t: t.currency_code),
    "LineAmountTypes": FieldSpec("enum", lambda t: t.line_amount_types),
    "SubTotal": FieldSpec("number", lambda t: Decimal(t.sub_total).scaleb(-2)),
    "TotalTax": FieldSpec("number", lambda t: Decimal(t.total_tax).scaleb(-2)),
    "Total": FieldSpec("number", lambda t: Decimal(t.total).scaleb(-2)),
    "Contact.ContactID": FieldSpec("guid", lambda t: t.contact.contact_id if t.contact else None),
    "Contact.Name": FieldSpec("string", lambda t: t.contact.name if t.contact else None),
    "BankAccount.AccountID": FieldSpec("guid", lambda t: t.bank.account_id),
    "BankAccount.Code": FieldSpec("string", lambda t: t.bank.code),
    "BankAccount.Name": FieldSpec("string", lambda t: t.bank.name),
}
OPTIMISED_FILTERS = {
    ("Type", "=="),
    ("Status", "=="),
    ("Contact.ContactID", "=="),
    *(("Date", op) for op in ("==", "<", "<=", ">", ">=")),
}
OPTIMISED_ORDER = {"BankTransactionID", "UpdatedDateUTC", "Date"}

ACCOUNT_FIELDS: dict[str, FieldSpec] = {
    "AccountID": FieldSpec("guid", lambda a: a.account_id),
    "Code": FieldSpec("string", lambda a: a.code),
    "Name": FieldSpec("string", lambda a: a.name),
    "Type": FieldSpec("enum", lambda a: a.type),
    "Status": FieldSpec("enum", lambda a: a.status),
    "TaxType": FieldSpec("enum", lambda a: a.tax_type),
    "CurrencyCode": FieldSpec("enum", lambda a: a.currency),
    "BankAccountType": FieldSpec("enum", lambda a: a.bank_account_type),
    "UpdatedDateUTC": FieldSpec("datetime", lambda a: _utc(a.updated_ms)),
}
TRACKING_FIELDS: dict[str, FieldSpec] = {
    "TrackingCategoryID": FieldSpec("guid", lambda c: c.category_id),
    "Name": FieldSpec("string", lambda c: c.name),
    "Status": FieldSpec("enum", lambda c: c.status),
}


@dataclass
class Result:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] | None = None


@dataclass
class ListQuery:
    where: str | None = None
    order: str | None = None
    page: int | None = None
    page_size: int | None = None
    modified_since: datetime | None = None
    unitdp: int | None = None


@dataclass
class _Remembered:
    fingerprint: str
    result: Result
    expires: datetime


def _bad_request(*messages: str, element: dict[str, Any] | None = None) -> Result:
    return Result(400, validation_error(list(messages), element))


class Ledger:
    def __init__(
        self,
        organisations: list[Organisation],
        clock: SandboxClock,
        *,
        high_volume_threshold: int = HIGH_VOLUME_THRESHOLD,
        idempotency_ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> None:
        self.orgs = {o.tenant_id: o for o in organisations}
        self.clock = clock
        self.high_volume_threshold = high_volume_threshold
        self.idempotency_ttl = idempotency_ttl
        self._remembered: dict[tuple[str, str], _Remembered] = {}
        self._date_index: dict[str, tuple[list[int], list[str]]] = {}  # tenant -> (ordinals, ids) by date
        self.lock = threading.RLock()

    # --- lookup ---------------------------------------------------------------------------

    def org(self, tenant_id: str) -> Organisation | None:
        return self.orgs.get(tenant_id.lower())

    def txns(self, org: Organisation) -> dict[str, Txn]:
        with self.lock:
            return ensure_transactions(org, self.clock.start)

    def find(self, org: Organisation, txn_id: str) -> Txn | None:
        return self.txns(org).get(txn_id.lower())

    def now_ms(self) -> int:
        return int(self.clock.timestamp() * 1000)

    # --- BankTransactions ---------------------------------------------------------------

    def list_transactions(self, org: Organisation, query: ListQuery) -> Result:
        try:
            compiled = compile_where(query.where, TXN_FIELDS) if query.where else None
            order = parse_order(query.order, TXN_FIELDS) if query.order else []
        except WhereError as exc:
            return _bad_request(str(exc))
        with self.lock:
            total_rows = len(self.txns(org))
            rows = self._candidates(org, compiled)
            if total_rows > self.high_volume_threshold and not _optimised(compiled, order):
                return _bad_request(
                    f"This organisation has more than {self.high_volume_threshold:,} bank transactions: "
                    "filter and order only on optimised fields (Type, Status, Date, Contact.ContactID; "
                    "order by BankTransactionID, UpdatedDateUTC or Date)."
                )
            if query.modified_since is not None:
                since_ms = int(query.modified_since.timestamp() * 1000)
                rows = [t for t in rows if t.updated_ms > since_ms]
            if compiled is not None:
                predicate = compiled.predicate
                rows = [t for t in rows if predicate(t)]
            if len(rows) > self.high_volume_threshold:
                return _bad_request(
                    f"The request would return more than {self.high_volume_threshold:,} bank transactions. "
                    "Use filters on optimised fields or paging to narrow it."
                )
            rows = _sort(rows, order)
            body_extra: dict[str, Any] = {}
            with_lines = query.page is not None
            if query.page is not None:
                requested = DEFAULT_PAGE_SIZE if query.page_size is None else query.page_size
                size = min(max(requested, 1), MAX_PAGE_SIZE)
                page = max(query.page, 1)
                count = len(rows)
                body_extra["pagination"] = {
                    "page": page,
                    "pageSize": size,
                    "pageCount": (count + size - 1) // size,
                    "itemCount": count,
                }
                rows = rows[(page - 1) * size : page * size]
            items = [self._render(org, t, with_lines, query.unitdp) for t in rows]
        return Result(200, envelope(self.clock.now(), "BankTransactions", items, **body_extra))

    def _candidates(self, org: Organisation, compiled: Compiled | None) -> list[Txn]:
        """Rows that can match: a Date range in the where narrows them through a date index."""
        txns = self.txns(org)
        lo, hi = _date_range(compiled)
        if lo is None and hi is None:
            return list(txns.values())
        index = self._date_index.get(org.tenant_id)
        if index is None:
            ordered = sorted(txns.values(), key=lambda t: t.date)
            index = ([t.date.toordinal() for t in ordered], [t.id for t in ordered])
            self._date_index[org.tenant_id] = index
        ordinals, ids = index
        start = bisect.bisect_left(ordinals, lo) if lo is not None else 0
        end = bisect.bisect_right(ordinals, hi) if hi is not None else len(ids)
        return [txns[i] for i in ids[start:end]]

    def get_transaction(self, org: Organisation, txn_id: str, unitdp: int | None = None) -> Result:
        with self.lock:
            txn = self.find(org, txn_id)
            if txn is None:
                return Result(404, NOT_FOUND)
            item = self._render(org, txn, True, unitdp)
        return Result(200, envelope(self.clock.now(), "BankTransactions", [item]))

    def update_transaction(
        self,
        org: Organisation,
        txn_id: str,
        payload: Any,
        idempotency_key: str | None,
        unitdp: int | None = None,
    ) -> Result:
        def run() -> Result:
            with self.lock:
                current = self.find(org, txn_id)
                if current is None:
                    return Result(404, NOT_FOUND)
                try:
                    body = unwrap(payload, current.id)
                    outcome = apply_update(org, current, body)
                except UpdateError as exc:
                    element = {"BankTransactionID": current.id} if isinstance(payload, dict) else None
                    return _bad_request(*exc.messages, element=element)
                if outcome.new_contact is not None:
                    outcome.new_contact.updated_ms = self.now_ms()
                    org.contacts.append(outcome.new_contact)
                self._commit(org, current, outcome.txn, outcome.changes, "API")
                item = self._render(org, outcome.txn, True, unitdp)
                item["StatusAttributeString"] = "OK"
            return Result(200, envelope(self.clock.now(), "BankTransactions", [item]))

        return self._idempotent(org, idempotency_key, ("POST", txn_id.lower(), payload), run)

    def modify(self, org: Organisation, txn_id: str, fields: dict[str, Any], user: str) -> Txn:
        """Test-side edit ("someone changed it in Xero"): any type or status, no API validation."""
        with self.lock:
            current = self.find(org, txn_id)
            if current is None:
                raise KeyError(txn_id)
            updated = clone(current)
            changes = []
            simple = {
                "Reference": "reference",
                "Url": "url",
                "IsReconciled": "reconciled",
                "Status": "status",
            }
            for key, value in fields.items():
                attr = simple.get(key) or {k.lower(): v for k, v in simple.items()}.get(key.lower())
                if attr is None:
                    raise ValueError(f"modify_transaction cannot change {key!r}; use {sorted(simple)}")
                if attr in ("reference", "url"):
                    value = value or None
                if getattr(updated, attr) != value:
                    changes.append(f"{key} changed from {getattr(updated, attr)!r} to {value!r}")
                    setattr(updated, attr, value)
            self._commit(org, current, updated, changes, user)
            return updated

    def _commit(self, org: Organisation, before: Txn, after: Txn, changes: list[str], user: str) -> None:
        """Store ``after`` in place of ``before``; UpdatedDateUTC moves forward on every save."""
        after.updated_ms = max(self.now_ms(), before.updated_ms + 1)
        self.txns(org)[after.id] = after
        if after.date != before.date:
            self._date_index.pop(org.tenant_id, None)
        if changes:
            self._history(org, before).append(
                render.history_record("Edited", user, "; ".join(changes) + ".", self.clock.now())
            )

    def _render(self, org: Organisation, txn: Txn, with_lines: bool, unitdp: int | None) -> dict[str, Any]:
        item = render.transaction(txn, org, with_lines=with_lines)
        if unitdp != 4:
            for line in item["LineItems"]:
                line["UnitAmount"] = round(line["UnitAmount"], 2)
        return item

    # --- history ----------------------------------------------------------------------------

    def _history(self, org: Organisation, txn: Txn) -> list[dict[str, str]]:
        records = org.history.get(txn.id)
        if records is None:
            verb = "Spent" if txn.type.startswith("SPEND") else "Received"
            assert txn.bank is not None
            who = f" {'to' if verb == 'Spent' else 'from'} {txn.contact.name}" if txn.contact else ""
            created = datetime.fromtimestamp(txn.created_ms / 1000, UTC)
            records = [
                render.history_record(
                    "Created",
                    "System Generated",
                    f"{verb}{who} on {txn.date.isoformat()} for {txn.total / 100:.2f} from {txn.bank.name}.",
                    created,
                )
            ]
            org.history[txn.id] = records
        return records

    def history(self, org: Organisation, txn_id: str) -> Result:
        with self.lock:
            txn = self.find(org, txn_id)
            if txn is None:
                return Result(404, NOT_FOUND)
            records = [dict(r) for r in self._history(org, txn)]
        return Result(200, envelope(self.clock.now(), "HistoryRecords", records))

    def add_history(
        self, org: Organisation, txn_id: str, payload: Any, idempotency_key: str | None
    ) -> Result:
        def run() -> Result:
            with self.lock:
                txn = self.find(org, txn_id)
                if txn is None:
                    return Result(404, NOT_FOUND)
                items = payload.get("HistoryRecords") if isinstance(payload, dict) else None
                if not isinstance(items, list) or not items:
                    return _bad_request("HistoryRecords must contain at least one record.")
                details = [i.get("Details") if isinstance(i, dict) else None for i in items]
                if any(not isinstance(d, str) or not d.strip() for d in details):
                    return _bad_request("The Details of a history record must not be empty.")
                if any(len(d) > 2500 for d in details):  # type: ignore[arg-type]
                    return _bad_request(
                        "The Details of a history record must not be more than 2500 characters."
                    )
                now = self.clock.now()
                created = [render.history_record("Note", "API", str(d), now) for d in details]
                self._history(org, txn).extend(created)
                out = [
                    {
                        "DateUTCString": r["DateUTCString"],
                        "DateUTC": r["DateUTC"],
                        "Details": r["Details"],
                        "ValidationErrors": [],
                    }
                    for r in created
                ]
            return Result(200, envelope(now, "HistoryRecords", out))

        return self._idempotent(org, idempotency_key, ("PUT-history", txn_id.lower(), payload), run)

    def history_records(self, org: Organisation, txn_id: str) -> list[dict[str, str]]:
        with self.lock:
            txn = self.find(org, txn_id)
            if txn is None:
                raise KeyError(txn_id)
            return [dict(r) for r in self._history(org, txn)]

    # --- idempotency ------------------------------------------------------------------------

    def _idempotent(
        self, org: Organisation, key: str | None, request: tuple[Any, ...], run: Callable[[], Result]
    ) -> Result:
        """Replay the first answer for the same key and request; refuse the key for another request.

        Answers are remembered for ``idempotency_ttl`` (6 minutes: a third-party report, UNVERIFIED),
        except 5xx ones, which a retry should be allowed to redo.
        """
        if key is None:
            return run()
        if len(key) > 128 or not key.strip():
            return _bad_request("The Idempotency-Key header must be between 1 and 128 characters.")
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        now = self.clock.now()
        with self.lock:
            remembered = self._remembered.get((org.tenant_id, key))
            if remembered is not None and remembered.expires > now:
                if remembered.fingerprint != fingerprint:
                    return _bad_request(
                        f"Idempotency-Key '{key}' has already been used with a different request."
                    )
                return remembered.result
            result = run()
            if result.status < 500:
                self._remembered[(org.tenant_id, key)] = _Remembered(
                    fingerprint, result, now + self.idempotency_ttl
                )
            return result

    # --- settings endpoints -------------------------------------------------------------

    def accounts(self, org: Organisation, where: str | None, order: str | None) -> Result:
        return self._simple_list(org, "Accounts", org.accounts, ACCOUNT_FIELDS, where, order, render.account)

    def tracking_categories(
        self, org: Organisation, where: str | None, order: str | None, include_archived: bool
    ) -> Result:
        cats = [c for c in org.tracking if include_archived or c.status == "ACTIVE"]
        return self._simple_list(
            org, "TrackingCategories", cats, TRACKING_FIELDS, where, order or "Name", render.tracking_category
        )

    def organisation(self, org: Organisation) -> Result:
        return Result(200, envelope(self.clock.now(), "Organisations", [render.organisation(org)]))

    def _simple_list(
        self,
        org: Organisation,
        key: str,
        rows: list[Any],
        fields: dict[str, FieldSpec],
        where: str | None,
        order: str | None,
        to_json: Callable[[Any], dict[str, Any]],
    ) -> Result:
        try:
            compiled = compile_where(where, fields) if where else None
            keys = parse_order(order, fields) if order else []
        except WhereError as exc:
            return _bad_request(str(exc))
        with self.lock:
            selected = [r for r in rows if compiled is None or compiled.predicate(r)]
            for k in reversed(keys):
                spec = fields[k.field]
                selected.sort(key=lambda r, spec=spec: _sort_value(spec.get(r)), reverse=k.descending)
            items = [to_json(r) for r in selected]
        return Result(200, envelope(self.clock.now(), key, items))


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


def _optimised(compiled: Compiled | None, order: list[OrderKey]) -> bool:
    uses_ok = compiled is None or all(u in OPTIMISED_FILTERS for u in compiled.used)
    return uses_ok and all(k.field in OPTIMISED_ORDER for k in order)


def _sort_value(value: Any) -> tuple[bool, Any]:
    if isinstance(value, str):
        value = value.lower()
    return (value is not None, value if value is not None else 0)


def _sort(rows: list[Txn], order: list[OrderKey]) -> list[Txn]:
    """Xero's default is UpdatedDateUTC, BankTransactionID; explicit orders end with the id too."""
    rows = sorted(rows, key=lambda t: t.id)
    keys = order or [OrderKey("UpdatedDateUTC", False)]
    for k in reversed(keys):
        if k.field == "BankTransactionID":
            rows.sort(key=lambda t: t.id, reverse=k.descending)
        elif k.field == "Date":
            rows.sort(key=lambda t: t.date, reverse=k.descending)
        elif k.field == "UpdatedDateUTC":
            rows.sort(key=lambda t: t.updated_ms, reverse=k.descending)
        else:
            spec = TXN_FIELDS[k.field]
            rows.sort(key=lambda t, spec=spec: _sort_value(spec.get(t)), reverse=k.descending)
    return rows
