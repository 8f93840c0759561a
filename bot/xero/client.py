"""Xero Accounting API client: the bank-transaction calls Recon needs, and nothing else.

The client is stateless about users: every call gets a ``TokenSource`` that knows the tenant and
hands out a valid access token (the token service does single-flight refresh behind it). One
client and one ``Throttle`` serve the whole process (and the throttle's budget, kept in the
database, every process); ``client.background()`` is the same client in the background lane.

Behaviour worth knowing:

* every request has ``(connect, read)`` timeouts, ``Accept: application/json``, the tenant header;
* 401 → one forced token refresh and one retry; then ``XeroUnauthorized``;
* 429 → the tenant is blocked locally until ``Retry-After``; ``RateLimited`` unless the wait
  fits in ``max_wait``;
* 5xx / timeouts / connection errors → retried with back-off, but only for GETs and writes that
  carry an ``Idempotency-Key`` (Xero then applies the write at most once);
* bank transactions are always fetched with ``page`` (otherwise Xero leaves the line items out)
  and ``unitdp=4`` (otherwise unit prices come back rounded to 2 dp and an update would re-price
  the lines).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from bot.xero.errors import (
    RateLimited,
    XeroError,
    XeroForbidden,
    XeroNotFound,
    XeroUnauthorized,
    XeroUnavailable,
    XeroValidationError,
)
from bot.xero.filters import TransactionFilter
from bot.xero.http import DEFAULT_TIMEOUT, USER_AGENT, backoff_delay, default_session, dumps_json, loads_json
from bot.xero.models import (
    BankAccount,
    BankTransaction,
    HistoryRecord,
    Organisation,
    Page,
    TrackingCategory,
    update_payload,
)
from bot.xero.throttle import BACKGROUND, FOREGROUND, Throttle, default_throttle
from bot.xero.where import BANK_ACCOUNTS_WHERE, build_where

log = logging.getLogger(__name__)

ACCOUNTING_PATH = "/api.xro/2.0"
MAX_PAGE_SIZE = 1000
UNIT_DP = 4
MAX_IDEMPOTENCY_KEY = 128
_ORDER = re.compile(
    r"(?:Date|UpdatedDateUTC|BankTransactionID|Total)(?: (?:ASC|DESC))?"
    r"(?:, ?(?:Date|UpdatedDateUTC|BankTransactionID|Total)(?: (?:ASC|DESC))?)*"
)
_DEFAULT_RETRY_AFTER = {"concurrent": 1, "day": 3600}


class TokenSource(Protocol):
    """Who we call as: one (grant, tenant). ``access_token`` may refresh behind the scenes."""

    tenant_id: str

    def access_token(self, force_refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class _Attempt:
    """Why an attempt failed in a way that may be retried."""

    reason: str
    maybe_applied: bool


class XeroClient:
    def __init__(
        self,
        api_url: str = "https://api.xero.com",
        *,
        session: requests.Session | None = None,
        throttle: Throttle | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 5.0,
        lane: str = FOREGROUND,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session or default_session()
        self.throttle = throttle or default_throttle()
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self.sleep = sleep
        self.max_wait = max_wait
        self.lane = lane
        self._count_lock = threading.Lock()
        self.calls = 0
        self.calls_by_tenant: Counter[str] = Counter()

    def background(self, *, max_wait: float | None = None) -> XeroClient:
        """This client for work nobody is waiting on (the mirror's sync): same session, same
        throttle, but its calls are in the background lane, which never takes the last slots of
        an organisation's minute, the last call in flight or more than its share of the day, so
        a person's search or edit always finds room. ``max_wait`` defaults to this client's.
        """
        other = copy.copy(self)
        other.lane = BACKGROUND
        if max_wait is not None:
            other.max_wait = max_wait
        return other

    # ------------------------------------------------------------------ bank transactions

    def list_bank_transactions(
        self,
        auth: TokenSource,
        f: TransactionFilter,
        *,
        page: int = 1,
        page_size: int = 100,
        order: str = "Date DESC",
        modified_since: datetime | None = None,
    ) -> Page:
        """One page of bank transactions matching ``f``, with their line items.

        ``modified_since`` becomes ``If-Modified-Since``: naive UTC to the second, the one form
        Xero is known to read (a wrong form silently returns everything).
        """
        if page < 1:
            raise ValueError("page starts at 1")
        if not _ORDER.fullmatch(order):
            raise ValueError(f"unsupported order: {order!r}")
        params: dict[str, Any] = {
            "page": page,
            "pageSize": max(1, min(MAX_PAGE_SIZE, int(page_size))),
            "order": order,
            "unitdp": UNIT_DP,
        }
        where = build_where(f)
        if where:
            params["where"] = where
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else None
        data = self._call(auth, "GET", "/BankTransactions", params=params, headers=headers)
        txns = tuple(BankTransaction.from_xero(t) for t in data.get("BankTransactions") or ())
        pagination = data.get("pagination") or {}
        return Page(
            transactions=txns,
            page=_int_or(pagination.get("page"), page),
            page_count=_int_or(pagination.get("pageCount"), None),
            item_count=_int_or(pagination.get("itemCount"), None),
        )

    def iter_bank_transactions(
        self,
        auth: TokenSource,
        f: TransactionFilter,
        *,
        page_size: int = 100,
        order: str = "Date DESC",
        max_pages: int | None = None,
    ) -> Iterator[BankTransaction]:
        """Transactions page by page; a page is only requested when the caller wants more."""
        page = 1
        while max_pages is None or page <= max_pages:
            result = self.list_bank_transactions(auth, f, page=page, page_size=page_size, order=order)
            yield from result.transactions
            more = result.has_more
            if more is None:  # no pagination block: a short page is the last one
                more = len(result.transactions) >= max(1, min(MAX_PAGE_SIZE, page_size))
            if not more or not result.transactions:
                return
            page += 1

    def get_bank_transaction(self, auth: TokenSource, bank_transaction_id: str) -> BankTransaction:
        txn_id = _uuid_or_not_found(bank_transaction_id)
        data = self._call(auth, "GET", f"/BankTransactions/{txn_id}", params={"unitdp": UNIT_DP})
        return _single_transaction(data)

    def update_bank_transaction(
        self,
        auth: TokenSource,
        txn: BankTransaction,
        *,
        reference: str | None,
        url: str | None,
        idempotency_key: str,
    ) -> BankTransaction:
        """Change Reference/Url, resending every line as it is; returns Xero's updated object.

        Raises ``ValueError`` (before any request) for a transaction fetched without its lines.
        """
        txn_id = _uuid_or_not_found(txn.bank_transaction_id)
        body = update_payload(txn, reference=reference, url=url)
        data = self._call(
            auth,
            "POST",
            f"/BankTransactions/{txn_id}",
            params={"unitdp": UNIT_DP},
            body=body,
            idempotency_key=idempotency_key,
        )
        return _single_transaction(data)

    def add_history_note(
        self, auth: TokenSource, bank_transaction_id: str, details: str, *, idempotency_key: str
    ) -> None:
        if not details or not details.strip():
            raise ValueError("a history note needs some text")
        txn_id = _uuid_or_not_found(bank_transaction_id)
        self._call(
            auth,
            "PUT",
            f"/BankTransactions/{txn_id}/History",
            body={"HistoryRecords": [{"Details": details}]},
            idempotency_key=idempotency_key,
        )

    def get_history(self, auth: TokenSource, bank_transaction_id: str) -> list[HistoryRecord]:
        txn_id = _uuid_or_not_found(bank_transaction_id)
        data = self._call(auth, "GET", f"/BankTransactions/{txn_id}/History")
        return [HistoryRecord.from_xero(r) for r in data.get("HistoryRecords") or ()]

    # ------------------------------------------------------------------ settings

    def list_bank_accounts(self, auth: TokenSource) -> list[BankAccount]:
        data = self._call(auth, "GET", "/Accounts", params={"where": BANK_ACCOUNTS_WHERE})
        return [BankAccount.from_xero(a) for a in data.get("Accounts") or ()]

    def get_organisation(self, auth: TokenSource) -> Organisation:
        data = self._call(auth, "GET", "/Organisation")
        orgs = data.get("Organisations") or ()
        if not orgs:
            raise XeroNotFound("Xero returned no organisation details for this connection.")
        return Organisation.from_xero(orgs[0])

    def list_tracking_categories(self, auth: TokenSource) -> list[TrackingCategory]:
        data = self._call(auth, "GET", "/TrackingCategories")
        return [TrackingCategory.from_xero(c) for c in data.get("TrackingCategories") or ()]

    # ------------------------------------------------------------------ transport

    def _call(
        self,
        auth: TokenSource,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One logical call: throttled, authorised, retried where safe, errors mapped."""
        if idempotency_key is not None:
            _check_idempotency_key(idempotency_key)
        tenant = str(auth.tenant_id)
        retryable = method == "GET" or idempotency_key is not None
        payload = dumps_json(body) if body is not None else None
        token = auth.access_token()
        refreshed = False
        failures = 0
        maybe_applied = False
        extra = dict(headers or {})
        while True:
            headers = {
                **extra,
                "Authorization": f"Bearer {token}",
                "xero-tenant-id": tenant,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
            if payload is not None:
                headers["Content-Type"] = "application/json"
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key

            outcome = self._send(tenant, method, path, params, payload, headers)
            if isinstance(outcome, requests.Response):
                resp = outcome
                if resp.status_code == 401 and not refreshed:
                    refreshed = True
                    token = auth.access_token(force_refresh=True)
                    continue
                if resp.status_code == 429:
                    wait = self._rate_limited(tenant, resp)
                    if wait.retry_after <= self.max_wait and failures < self.max_retries:
                        failures += 1  # the throttle now holds this tenant until Retry-After
                        continue
                    raise wait
                if resp.status_code < 500:
                    return _result(resp)
                attempt = _Attempt(f"HTTP {resp.status_code}", maybe_applied=True)
            else:
                attempt = outcome
            maybe_applied = maybe_applied or attempt.maybe_applied
            if not retryable or failures >= self.max_retries:
                raise _unavailable(method, maybe_applied)
            self.sleep(backoff_delay(failures, self.backoff))
            failures += 1

    def _send(
        self,
        tenant: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        payload: str | None,
        headers: dict[str, str],
    ) -> requests.Response | _Attempt:
        """One HTTP request under a throttle permit; transport failures come back as ``_Attempt``."""
        url = f"{self.api_url}{ACCOUNTING_PATH}{path}"
        with self.throttle.acquire(tenant, self.max_wait, self.lane):
            with self._count_lock:
                self.calls += 1
                self.calls_by_tenant[tenant] += 1
            started = time.monotonic()
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=params,
                    data=payload.encode("utf-8") if payload is not None else None,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                _log(method, path, tenant, type(exc).__name__, started)
                return _Attempt("timeout", maybe_applied=not isinstance(exc, requests.ConnectTimeout))
            except requests.ConnectionError as exc:
                _log(method, path, tenant, type(exc).__name__, started)
                return _Attempt("connection", maybe_applied=True)
            _log(method, path, tenant, resp.status_code, started)
            self.throttle.observe(tenant, resp.headers)
            return resp

    def _rate_limited(self, tenant: str, resp: requests.Response) -> RateLimited:
        problem = (resp.headers.get("X-Rate-Limit-Problem") or "minute").strip().lower()
        default = next((v for k, v in _DEFAULT_RETRY_AFTER.items() if problem.startswith(k)), 60)
        retry_after = _int_or(resp.headers.get("Retry-After"), default)
        self.throttle.block(tenant, retry_after, problem)
        return RateLimited(retry_after, problem)


# ---------------------------------------------------------------------- helpers


def _log(method: str, path: str, tenant: str, status: int | str, started: float) -> None:
    log.info(
        "xero %s %s tenant=%s status=%s %.0fms",
        method,
        path,
        tenant,
        status,
        (time.monotonic() - started) * 1000,
    )


def _result(resp: requests.Response) -> dict[str, Any]:
    """Map a non-5xx, non-429 response to data or the right exception."""
    status = resp.status_code
    if 200 <= status < 300:
        if not resp.content:
            return {}
        try:
            data = loads_json(resp.text)
        except ValueError as exc:
            raise XeroError("Xero sent a response Recon couldn't read.") from exc
        if not isinstance(data, dict):
            raise XeroError("Xero sent a response Recon couldn't read.")
        _raise_item_errors(data)
        return data
    if status == 401:
        raise XeroUnauthorized()
    if status == 403:
        raise XeroForbidden()
    if status == 404:
        raise XeroNotFound()
    if status == 400:
        raise XeroValidationError(validation_messages(resp))
    raise XeroError(f"Xero refused the request (HTTP {status}).")


def _raise_item_errors(data: Mapping[str, Any]) -> None:
    """With summarizeErrors off Xero can answer 200 and put the failure on the item."""
    for txn in data.get("BankTransactions") or ():
        if isinstance(txn, dict) and txn.get("StatusAttributeString") == "ERROR":
            msgs = [str(e.get("Message")) for e in txn.get("ValidationErrors") or () if e.get("Message")]
            raise XeroValidationError(msgs)


def validation_messages(resp: requests.Response) -> list[str]:
    """Xero's own explanations from a 400: ``Elements[*].ValidationErrors[*].Message`` first."""
    try:
        data = loads_json(resp.text)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    messages: list[str] = []
    for element in data.get("Elements") or ():
        if not isinstance(element, dict):
            continue
        for err in element.get("ValidationErrors") or ():
            msg = err.get("Message") if isinstance(err, dict) else None
            if msg and str(msg) not in messages:
                messages.append(str(msg))
    if not messages:
        for key in ("Message", "Detail", "Title"):
            if data.get(key):
                messages.append(str(data[key]))
                break
    return messages


def _unavailable(method: str, maybe_applied: bool) -> XeroUnavailable:
    if method != "GET" and maybe_applied:
        return XeroUnavailable(
            "Xero didn't confirm the change in time — it may or may not have been saved. "
            "Check the transaction in Xero before trying again.",
            maybe_applied=True,
        )
    return XeroUnavailable()


def _single_transaction(data: Mapping[str, Any]) -> BankTransaction:
    txns = data.get("BankTransactions") or ()
    if not txns:
        raise XeroNotFound()
    return BankTransaction.from_xero(txns[0])


def _uuid_or_not_found(value: str) -> str:
    """Canonical GUID text, or ``XeroNotFound`` without asking Xero (and without building a URL
    from arbitrary text)."""
    try:
        return str(uuid.UUID(str(value).strip()))
    except ValueError:
        raise XeroNotFound("That isn't a Xero transaction ID.") from None


def _check_idempotency_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValueError("idempotency key must be 1–128 printable characters")


def if_modified_since(moment: datetime) -> str:
    """``If-Modified-Since`` as Xero reads it: UTC, to the second, no offset."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _int_or(value: Any, default: Any) -> Any:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
