"""The accounting side: every organisation's data and the operations the API exposes.

Handlers in :mod:`.accounting` translate HTTP to these calls; the ``XeroSandbox`` facade and
the ``/_sandbox`` control surface use them directly (reads, and the Xero-side changes of
:mod:`.actions`). Which rows a list returns is :mod:`.listing`'s business; every write goes
through :meth:`Ledger._commit`, which stamps UpdatedDateUTC and tells the listing. One
re-entrant lock guards all data, so concurrent API calls and test-side edits never see half an
update.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import actions, render
from .clock import SandboxClock
from .data import ensure_transactions, new_uuid
from .fields import ACCOUNT_FIELDS, TRACKING_FIELDS, TXN_FIELDS
from .formats import envelope, validation_error
from .listing import HighVolume, Listing
from .model import Organisation, Txn, clone
from .updates import UpdateError, apply_update, unwrap
from .where import FieldSpec, WhereError, compile_where, parse_order, sort_value

HIGH_VOLUME_THRESHOLD = 100_000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
IDEMPOTENCY_TTL = timedelta(minutes=6)
NOT_FOUND = "The resource you're looking for cannot be found"


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
        self.listing = Listing(high_volume_threshold)
        self._remembered: dict[tuple[str, str], _Remembered] = {}
        self._last_stamp: dict[str, int] = {}  # tenant -> the latest UpdatedDateUTC a write gave
        self._id_rngs: dict[str, random.Random] = {}  # tenant -> ids for what the control surface makes
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
        body_extra: dict[str, Any] = {}
        with self.lock:
            try:
                window = self.listing.select(
                    org,
                    self.txns(org),
                    compiled,
                    order,
                    where_text=query.where,
                    order_text=query.order,
                    since=query.modified_since,
                )
            except HighVolume as exc:
                return _bad_request(str(exc))
            if query.page is None:
                if len(window) > self.high_volume_threshold:
                    return _bad_request(
                        f"The request would return more than {self.high_volume_threshold:,} bank "
                        "transactions. Use paging, or filters on optimised fields, to narrow it."
                    )
                rows = window.all()
            else:
                requested = DEFAULT_PAGE_SIZE if query.page_size is None else query.page_size
                size = min(max(requested, 1), MAX_PAGE_SIZE)
                page = max(query.page, 1)
                count = len(window)
                body_extra["pagination"] = {
                    "page": page,
                    "pageSize": size,
                    "pageCount": (count + size - 1) // size,
                    "itemCount": count,
                }
                rows = window.page((page - 1) * size, size)
        # Stored transactions are never changed in place (writes store a new copy), so the
        # rows can be rendered without holding up other calls.
        with_lines = query.page is not None
        items = [self._render(org, t, with_lines, query.unitdp) for t in rows]
        return Result(200, envelope(self.clock.now(), "BankTransactions", items, **body_extra))

    def every_transaction(self, org: Organisation) -> list[dict[str, Any]]:
        """Every transaction as GET by id shows it (unitdp=4), in the order they were made."""
        with self.lock:
            rows = list(self.txns(org).values())
        return [self._render(org, t, True, 4) for t in rows]

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
                details = "; ".join(outcome.changes) + "." if outcome.changes else ""
                self._commit(org, current, outcome.txn, "Edited", details, "API")
                item = self._render(org, outcome.txn, True, unitdp)
                item["StatusAttributeString"] = "OK"
            return Result(200, envelope(self.clock.now(), "BankTransactions", [item]))

        return self._idempotent(org, idempotency_key, ("POST", txn_id.lower(), payload), run)

    # --- changes made in Xero itself (the control surface) -------------------------------

    def modify(self, org: Organisation, txn_id: str, fields: dict[str, Any], user: str) -> Txn:
        """Raw test-side edit of Reference, Url, IsReconciled or Status: any type, no checks."""
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
            details = "; ".join(changes) + "." if changes else ""
            self._commit(org, current, updated, "Edited", details, user)
            return updated

    def create(self, org: Organisation, params: dict[str, Any], user: str) -> Txn:
        """A new SPEND or RECEIVE transaction (:func:`actions.create_from`); raises ActionError."""
        with self.lock:
            self.txns(org)
            change = actions.create_from(org, self._new_id(org), params, self.clock.now().date())
            self._apply(org, None, change, user)
            return change.txn

    def act(self, org: Organisation, txn_id: str, name: str, params: dict[str, Any], user: str) -> Txn:
        """Edit, delete, void, reconcile or unreconcile (:func:`actions.perform`) a stored transaction."""
        with self.lock:
            current = self.find(org, txn_id)
            if current is None:
                raise KeyError(txn_id)
            change = actions.perform(name, org, current, self._new_id(org), params)
            self._apply(org, current, change, user)
            return change.txn

    def _new_id(self, org: Organisation) -> Callable[[], str]:
        """Ids for what the control surface makes: seeded per organisation, so a rerun makes the same ones."""
        rng = self._id_rngs.get(org.tenant_id)
        if rng is None:
            rng = self._id_rngs[org.tenant_id] = random.Random(f"{org.seed}:writes")
        return lambda: new_uuid(rng)

    def _apply(self, org: Organisation, before: Txn | None, change: actions.Change, user: str) -> None:
        if change.new_contact is not None:
            change.new_contact.updated_ms = self.now_ms()
            org.contacts.append(change.new_contact)
        self._commit(org, before, change.txn, change.kind, change.details, user, touch=change.touch)

    def _commit(
        self,
        org: Organisation,
        before: Txn | None,
        after: Txn,
        kind: str,
        details: str,
        user: str,
        *,
        touch: bool = True,
    ) -> None:
        """Store ``after`` in place of ``before`` (or as new) and tell the list indexes.

        UpdatedDateUTC moves on every save unless ``touch`` is false. Stamps only go forward
        within an organisation (two saves in the same clock millisecond get consecutive
        milliseconds), so ordering by UpdatedDateUTC is also the order the changes were made in.
        """
        if before is None or touch:
            floor = max(self._last_stamp.get(org.tenant_id, 0), before.updated_ms if before else 0)
            after.updated_ms = max(self.now_ms(), floor + 1)
            self._last_stamp[org.tenant_id] = after.updated_ms
        else:
            after.updated_ms = before.updated_ms
        if before is None:
            after.created_ms = after.updated_ms
        self.txns(org)[after.id] = after
        self.listing.written(org, before, after)
        if before is None:
            org.history[after.id] = [render.history_record(kind, user, details, self.clock.now())]
        elif details:
            self._history(org, before).append(render.history_record(kind, user, details, self.clock.now()))

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
                selected.sort(key=lambda r, spec=spec: sort_value(spec.get(r)), reverse=k.descending)
            items = [to_json(r) for r in selected]
        return Result(200, envelope(self.clock.now(), key, items))
