"""Domain objects and plain mocks for the Slack layer's unit tests (no Slack, no Xero, no database)."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

from bot.sandbox.slack.validate import problems
from bot.services.digest import FixShown
from bot.services.edit import validate
from bot.services.query import parse_query
from bot.services.search import SearchResult
from bot.xero.models import BankTransaction
from storage.grants import TenantView
from storage.organisations import OrganisationView

TENANT_A = "70784a63-d24b-46a9-a4db-0e70a274b056"
TENANT_B = "c0ffee00-d24b-46a9-a4db-0e70a274b057"
TXN_ID = "d20b6c54-7f5d-4ce6-ab83-55f609719126"
BANK_ID = "bd9e85e0-0478-433d-ae9f-0b3c4f04bfe4"
UPDATED = datetime(2026, 11, 20, 9, 30, 15, 123000, tzinfo=UTC)
HOSTILE = "<!channel> *URGENT* _pay_ ~now~ `x` <https://evil.example|bank> & co\n> quoted"


def txn(**overrides: Any) -> BankTransaction:
    data: dict[str, Any] = {
        "BankTransactionID": TXN_ID,
        "Type": "SPEND",
        "Status": "AUTHORISED",
        "Date": "2026-11-12T00:00:00",
        "Contact": {"ContactID": "6d42f03b-181f-43e3-93fb-2025c012de92", "Name": "Zephyr Plumbing Ltd"},
        "BankAccount": {"AccountID": BANK_ID, "Code": "090", "Name": "Business Bank Account"},
        "Reference": "ZP-4471",
        "Url": "https://docs.example.com/zp-4471",
        "IsReconciled": False,
        "LineAmountTypes": "Inclusive",
        "LineItems": [{"LineItemID": "52208ff9-528a-4985-a9ad-b2b1d4210e38", "LineAmount": 1234.56}],
        "SubTotal": 1234.56,
        "TotalTax": 0,
        "Total": 1234.56,
        "CurrencyCode": "NZD",
        "UpdatedDateUTC": UPDATED.isoformat(),
    }
    data.update(overrides)
    return BankTransaction.from_xero(data)


def org(name: str = "Harbour Coffee Roasters", tenant_id: str = TENANT_A, **kw: Any) -> TenantView:
    values: dict[str, Any] = {
        "grant_id": 1,
        "tenant_id": tenant_id,
        "tenant_name": name,
        "connection_id": "conn-" + tenant_id[:8],
        "auth_event_id": None,
        "is_default": True,
        "status": "connected",
        "grant_status": "active",
        "timezone": "Pacific/Auckland",
    }
    values.update(kw)
    return TenantView(**values)


def search_result(rows: list[BankTransaction] | None = None, **kw: Any) -> SearchResult:
    values: dict[str, Any] = {
        "query": parse_query("zephyr from:30d", today=date(2026, 11, 30)),
        "org": org(),
        "rows": tuple(rows if rows is not None else [txn()]),
        "page": 1,
        "has_prev": False,
        "has_next": False,
        "prev_cursor": None,
        "next_cursor": None,
        "this_cursor": "CURSOR1",
        "xero_calls": 1,
    }
    values.update(kw)
    return SearchResult(**values)


class Immediate:
    """An executor that runs each job at once, so a unit test sees its effects synchronously."""

    def __init__(self) -> None:
        self.jobs = 0

    def submit(self, fn, *args, **kwargs) -> Future:
        self.jobs += 1
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - kept on the future, like a real executor
            future.set_exception(exc)
        return future


SHORT_CODE = "!hcr01"


def organisation(tenant_id: str = TENANT_A, **kw: Any) -> OrganisationView:
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "name": "Harbour Coffee Roasters",
        "short_code": SHORT_CODE,
        "country_code": "NZ",
        "timezone": "Pacific/Auckland",
        "base_currency": "NZD",
        "fetched_at": UPDATED,
    }
    values.update(kw)
    return OrganisationView(**values)


def services(**parts: Any) -> SimpleNamespace:
    """The services facade with plain mocks; edit.validate is the real (pure) one.

    ``connect.organisation`` answers with Harbour's details (ShortCode, zone) unless a test says
    otherwise; ``connect.take_waiting_views`` with nothing."""
    connect = parts.pop("connect", Mock(name="connect"))
    connect.organisation.return_value = organisation()
    connect.take_waiting_views.return_value = []
    edit = parts.pop("edit", Mock(name="edit"))
    edit.validate = validate
    digest = parts.pop("digest", Mock(name="digest"))
    digest.show_fix.return_value = FixShown()
    digest.subscriptions.return_value = []
    return SimpleNamespace(
        connect=connect,
        digest=digest,
        search=parts.pop("search", Mock(name="search")),
        edit=edit,
        signin=parts.pop("signin", Mock(name="signin")),
        executor=parts.pop("executor", Immediate()),
        settings=SimpleNamespace(slack_api_url="https://slack.com/api/"),
        **parts,
    )


def assert_slack_accepts(payload: Any, surface: str = "message") -> None:
    """What Slack would reject (slack_sdk models + the limits they skip), via the stand-in's checker."""
    found = problems(payload, surface)
    assert found == [], found


def all_text(payload: Any) -> str:
    """Every string in a payload, for "does this appear anywhere" assertions."""
    if isinstance(payload, dict):
        return " ".join(all_text(v) for v in payload.values())
    if isinstance(payload, list):
        return " ".join(all_text(v) for v in payload)
    return payload if isinstance(payload, str) else ""
