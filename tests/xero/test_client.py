from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from bot.xero.client import XeroClient
from bot.xero.errors import (
    RateLimited,
    XeroForbidden,
    XeroNotFound,
    XeroUnauthorized,
    XeroUnavailable,
    XeroValidationError,
)
from bot.xero.filters import TransactionFilter
from bot.xero.models import BankTransaction
from bot.xero.throttle import Throttle
from tests.xero.fakes import FakeClock
from tests.xero.fixtures import BANK_ID, LINE_1, LINE_2, TENANT, TXN_ID, txn_json, txns_envelope

API = "https://xero.test"
BT_URL = f"{API}/api.xro/2.0/BankTransactions"
ONE_URL = f"{BT_URL}/{TXN_ID}"
SECRET = "eyJ-ACCESS-TOKEN-SECRET"


class Auth:
    """A TokenSource that records refreshes."""

    def __init__(self, tenant_id: str = TENANT) -> None:
        self.tenant_id = tenant_id
        self.generation = 0
        self.forced = 0

    def access_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.forced += 1
            self.generation += 1
        return f"{SECRET}-{self.generation}"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def client(clock):
    return XeroClient(
        API,
        session=requests.Session(),
        throttle=Throttle(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        max_wait=5.0,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def _query(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


# ---------------------------------------------------------------- requests as sent


def test_list_sends_auth_tenant_json_timeouts_and_typed_where(client, rsps):
    rsps.get(BT_URL, json=txns_envelope([txn_json()]))
    f = TransactionFilter(date_from=date(2024, 1, 1), is_reconciled=False)
    page = client.list_bank_transactions(Auth(), f, page=1, page_size=5000)

    (call,) = rsps.calls
    h = call.request.headers
    assert h["Authorization"] == f"Bearer {SECRET}-0"
    assert h["xero-tenant-id"] == TENANT
    assert h["Accept"] == "application/json"
    assert "Recon" in h["User-Agent"]
    assert call.request.req_kwargs["timeout"] == (3.05, 15.0)
    q = _query(call)
    assert q["page"] == "1"
    assert q["pageSize"] == "1000"  # clamped
    assert q["order"] == "Date DESC"
    assert q["unitdp"] == "4"
    assert q["where"] == 'Status=="AUTHORISED" AND Date>=DateTime(2024,01,01) AND IsReconciled==false'
    assert page.transactions[0].total == Decimal("1234.56")
    assert page.page == 1 and page.page_count == 1 and page.item_count == 1
    assert client.calls == 1 and client.calls_by_tenant[TENANT] == 1


def test_money_is_parsed_from_json_without_float(client, rsps):
    body = json.dumps(txns_envelope([txn_json()])).replace("1234.56", "0.30000000000000004441")
    rsps.get(BT_URL, body=body, content_type="application/json")
    txn = client.list_bank_transactions(Auth(), TransactionFilter()).transactions[0]
    assert txn.total == Decimal("0.30000000000000004441")


@pytest.mark.parametrize("size", [0, -5])
def test_page_size_clamped_up_to_one(client, rsps, size):
    rsps.get(BT_URL, json=txns_envelope([]))
    client.list_bank_transactions(Auth(), TransactionFilter(), page_size=size)
    assert _query(rsps.calls[0])["pageSize"] == "1"


def test_order_must_be_from_the_allow_list(client, rsps):
    with pytest.raises(ValueError):
        client.list_bank_transactions(Auth(), TransactionFilter(), order="Date DESC; Reference")
    assert client.calls == 0


def test_iter_pages_lazily_and_stops_when_the_caller_stops(client, rsps):
    def page(request):
        n = int(parse_qs(urlsplit(request.url).query)["page"][0])
        txns = [txn_json(BankTransactionID=str(uuid.uuid4())) for _ in range(100)]
        return 200, {}, json.dumps(txns_envelope(txns, page=n, page_count=5))

    rsps.add_callback(responses.GET, BT_URL, callback=page)
    it = client.iter_bank_transactions(Auth(), TransactionFilter(), page_size=100)
    first = [next(it) for _ in range(150)]
    assert len(first) == 150
    assert [_query(c)["page"] for c in rsps.calls] == ["1", "2"]


def test_iter_stops_at_the_last_page(client, rsps):
    def page(request):
        n = int(parse_qs(urlsplit(request.url).query)["page"][0])
        return 200, {}, json.dumps(txns_envelope([txn_json()] * 2, page=n, page_count=2, page_size=2))

    rsps.add_callback(responses.GET, BT_URL, callback=page)
    assert len(list(client.iter_bank_transactions(Auth(), TransactionFilter(), page_size=2))) == 4
    assert len(rsps.calls) == 2


def test_iter_without_pagination_block_stops_on_a_short_page(client, rsps):
    full = {"BankTransactions": [txn_json()] * 3}
    short = {"BankTransactions": [txn_json()]}
    rsps.get(BT_URL, json=full)
    rsps.get(BT_URL, json=short)
    got = list(client.iter_bank_transactions(Auth(), TransactionFilter(), page_size=3, max_pages=10))
    assert len(got) == 4 and len(rsps.calls) == 2


def test_iter_respects_max_pages(client, rsps):
    rsps.get(BT_URL, json=txns_envelope([txn_json()], page_count=99, page_size=1))
    got = list(client.iter_bank_transactions(Auth(), TransactionFilter(), page_size=1, max_pages=3))
    assert len(got) == 3 and len(rsps.calls) == 3


# ---------------------------------------------------------------- error mapping


def test_401_refreshes_once_and_retries_with_the_new_token(client, rsps):
    rsps.get(ONE_URL, status=401, json={"Title": "Unauthorized", "Detail": "TokenExpired: token expired"})
    rsps.get(ONE_URL, json={"BankTransactions": [txn_json()]})
    auth = Auth()
    txn = client.get_bank_transaction(auth, TXN_ID)
    assert txn.bank_transaction_id == TXN_ID
    assert auth.forced == 1
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [
        f"Bearer {SECRET}-0",
        f"Bearer {SECRET}-1",
    ]


def test_401_twice_is_unauthorized(client, rsps):
    rsps.get(ONE_URL, status=401, json={"Title": "Unauthorized"})
    auth = Auth()
    with pytest.raises(XeroUnauthorized):
        client.get_bank_transaction(auth, TXN_ID)
    assert auth.forced == 1 and len(rsps.calls) == 2


@pytest.mark.parametrize(("status", "exc"), [(403, XeroForbidden), (404, XeroNotFound)])
def test_403_and_404(client, rsps, status, exc):
    rsps.get(ONE_URL, status=status, json={"Title": "x", "Detail": "AuthenticationUnsuccessful"})
    with pytest.raises(exc):
        client.get_bank_transaction(Auth(), TXN_ID)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("junk", ["", "not-a-guid", "../Accounts", f"{TXN_ID}/History"])
def test_junk_id_is_not_found_without_a_request(client, rsps, junk):
    with pytest.raises(XeroNotFound):
        client.get_bank_transaction(Auth(), junk)
    assert client.calls == 0


def test_429_gives_retry_after_and_problem_then_blocks_locally(client, rsps, clock):
    rsps.get(ONE_URL, status=429, headers={"Retry-After": "37", "X-Rate-Limit-Problem": "Minute"})
    with pytest.raises(RateLimited) as info:
        client.get_bank_transaction(Auth(), TXN_ID)
    assert info.value.retry_after == 37 and info.value.problem == "minute"
    assert "37 s" in str(info.value)
    assert clock.sleeps == []  # never slept 37 s when max_wait is 5
    with pytest.raises(RateLimited):
        client.get_bank_transaction(Auth(), TXN_ID)
    assert len(rsps.calls) == 1  # the second refusal came from our throttle


def test_429_day_problem(client, rsps):
    rsps.get(ONE_URL, status=429, headers={"Retry-After": "7200", "X-Rate-Limit-Problem": "day"})
    with pytest.raises(RateLimited) as info:
        client.get_bank_transaction(Auth(), TXN_ID)
    assert info.value.problem == "day" and info.value.retry_after == 7200


def test_short_429_is_waited_out_within_max_wait(client, rsps, clock):
    rsps.get(ONE_URL, status=429, headers={"Retry-After": "2", "X-Rate-Limit-Problem": "minute"})
    rsps.get(ONE_URL, json={"BankTransactions": [txn_json()]})
    client.get_bank_transaction(Auth(), TXN_ID)
    assert len(rsps.calls) == 2
    assert sum(clock.sleeps) == pytest.approx(2.0)


def test_5xx_retried_with_backoff_then_unavailable(client, rsps, clock):
    rsps.get(ONE_URL, status=503)
    with pytest.raises(XeroUnavailable) as info:
        client.get_bank_transaction(Auth(), TXN_ID)
    assert len(rsps.calls) == 4  # 1 + max_retries
    assert len(clock.sleeps) == 3
    assert clock.sleeps[0] < clock.sleeps[2]  # exponential
    assert "try again" in str(info.value)
    assert not info.value.maybe_applied


def test_5xx_then_success(client, rsps):
    rsps.get(ONE_URL, status=502)
    rsps.get(ONE_URL, json={"BankTransactions": [txn_json()]})
    assert client.get_bank_transaction(Auth(), TXN_ID).bank_transaction_id == TXN_ID
    assert client.calls == 2


@pytest.mark.parametrize("exc", [requests.ConnectionError("reset"), requests.ReadTimeout("slow")])
def test_connection_error_and_timeout_retried(client, rsps, exc):
    rsps.get(ONE_URL, body=exc)
    rsps.get(ONE_URL, json={"BankTransactions": [txn_json()]})
    assert client.get_bank_transaction(Auth(), TXN_ID).bank_transaction_id == TXN_ID
    assert len(rsps.calls) == 2


def test_validation_messages_are_parsed(client, rsps):
    rsps.post(
        ONE_URL,
        status=400,
        json={
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": [
                {
                    "BankTransactionID": TXN_ID,
                    "ValidationErrors": [
                        {"Message": "Reference is too long"},
                        {"Message": "Account code '999' is not a valid code"},
                    ],
                }
            ],
        },
    )
    txn = BankTransaction.from_xero(txn_json())
    with pytest.raises(XeroValidationError) as info:
        client.update_bank_transaction(Auth(), txn, reference="x" * 300, url=None, idempotency_key="k1")
    assert info.value.messages == ["Reference is too long", "Account code '999' is not a valid code"]
    assert "Reference is too long" in str(info.value)
    assert len(rsps.calls) == 1  # a 400 is never retried


def test_validation_falls_back_to_message_or_detail(client, rsps):
    rsps.get(BT_URL, status=400, json={"Detail": "High volume threshold exceeded"})
    with pytest.raises(XeroValidationError) as info:
        client.list_bank_transactions(Auth(), TransactionFilter())
    assert info.value.messages == ["High volume threshold exceeded"]


def test_200_with_item_error_is_a_validation_error(client, rsps):
    bad = txn_json(StatusAttributeString="ERROR", ValidationErrors=[{"Message": "Nope"}])
    rsps.post(ONE_URL, json={"BankTransactions": [bad]})
    with pytest.raises(XeroValidationError, match="Nope"):
        client.update_bank_transaction(
            Auth(), BankTransaction.from_xero(txn_json()), reference="a", url=None, idempotency_key="k"
        )


def test_non_json_success_is_a_clear_error(client, rsps):
    rsps.get(ONE_URL, body="<Response><Status>OK</Status></Response>", content_type="text/xml")
    with pytest.raises(Exception, match="couldn't read"):
        client.get_bank_transaction(Auth(), TXN_ID)


# ---------------------------------------------------------------- writes


def test_update_posts_fresh_object_with_key_and_exact_amounts(client, rsps):
    updated = txn_json(Reference="ZP-4471-A")
    rsps.post(ONE_URL, json={"BankTransactions": [updated]})
    txn = BankTransaction.from_xero(txn_json())
    result = client.update_bank_transaction(
        Auth(), txn, reference="ZP-4471-A", url=None, idempotency_key="edit-123"
    )
    assert result.reference == "ZP-4471-A"
    (call,) = rsps.calls
    assert call.request.headers["Idempotency-Key"] == "edit-123"
    assert call.request.headers["Content-Type"] == "application/json"
    assert _query(call)["unitdp"] == "4"
    raw = call.request.body.decode()
    assert '"UnitAmount":1000.1' in raw  # an exact number, not a string or a float artefact
    body = json.loads(raw)["BankTransactions"][0]
    assert [li["LineItemID"] for li in body["LineItems"]] == [LINE_1, LINE_2]
    assert body["BankAccount"] == {"AccountID": BANK_ID}
    for forbidden in ("Total", "SubTotal", "TotalTax", "IsReconciled", "UpdatedDateUTC", "Status"):
        assert forbidden not in body


def test_write_retries_reuse_the_same_idempotency_key(client, rsps):
    rsps.post(ONE_URL, body=requests.ConnectionError("reset by peer"))
    rsps.post(ONE_URL, status=500)
    rsps.post(ONE_URL, json={"BankTransactions": [txn_json()]})
    client.update_bank_transaction(
        Auth(), BankTransaction.from_xero(txn_json()), reference="a", url=None, idempotency_key="same-key"
    )
    assert [c.request.headers["Idempotency-Key"] for c in rsps.calls] == ["same-key"] * 3
    bodies = {c.request.body for c in rsps.calls}
    assert len(bodies) == 1  # identical body on every attempt


def test_write_that_may_have_landed_says_so(client, rsps):
    rsps.post(ONE_URL, body=requests.ReadTimeout("no answer"))
    with pytest.raises(XeroUnavailable) as info:
        client.update_bank_transaction(
            Auth(), BankTransaction.from_xero(txn_json()), reference="a", url=None, idempotency_key="k"
        )
    assert info.value.maybe_applied
    assert "may or may not" in str(info.value)


def test_write_connect_timeout_did_not_land(client, rsps):
    rsps.put(f"{ONE_URL}/History", body=requests.ConnectTimeout("no route"))
    with pytest.raises(XeroUnavailable) as info:
        client.add_history_note(Auth(), TXN_ID, "Reference changed by @ann in Slack", idempotency_key="k")
    assert not info.value.maybe_applied


@pytest.mark.parametrize("key", ["", "x" * 129, "bad\nkey"])
def test_bad_idempotency_key_refused_before_sending(client, rsps, key):
    with pytest.raises(ValueError):
        client.add_history_note(Auth(), TXN_ID, "note", idempotency_key=key)
    assert client.calls == 0


def test_update_refuses_summarised_transaction_without_a_request(client, rsps):
    data = txn_json()
    del data["LineItems"]
    with pytest.raises(ValueError):
        client.update_bank_transaction(
            Auth(), BankTransaction.from_xero(data), reference="a", url=None, idempotency_key="k"
        )
    assert client.calls == 0


def test_history_note_and_history(client, rsps):
    rsps.put(f"{ONE_URL}/History", json={"HistoryRecords": [{"Details": "hi"}]})
    rsps.get(
        f"{ONE_URL}/History",
        json={
            "HistoryRecords": [
                {"Changes": "Note", "DateUTC": "/Date(1573755038314)/", "User": "Ann", "Details": "hi"}
            ]
        },
    )
    client.add_history_note(Auth(), TXN_ID, "hi", idempotency_key="note-1")
    put = rsps.calls[0]
    assert json.loads(put.request.body) == {"HistoryRecords": [{"Details": "hi"}]}
    assert put.request.headers["Idempotency-Key"] == "note-1"
    (rec,) = client.get_history(Auth(), TXN_ID)
    assert rec.details == "hi" and rec.user == "Ann" and rec.changes == "Note"


# ---------------------------------------------------------------- settings


def test_bank_accounts_organisation_and_tracking(client, rsps):
    rsps.get(
        f"{API}/api.xro/2.0/Accounts",
        json={
            "Accounts": [
                {
                    "AccountID": BANK_ID,
                    "Code": "090",
                    "Name": "Business Bank Account",
                    "Type": "BANK",
                    "Status": "ACTIVE",
                    "BankAccountType": "BANK",
                    "CurrencyCode": "NZD",
                }
            ]
        },
    )
    rsps.get(
        f"{API}/api.xro/2.0/Organisation",
        json={
            "Organisations": [
                {
                    "OrganisationID": "b2c885a9-4bb9-4a00-9b6e-6c2bf60b1a2b",
                    "Name": "Harbour Coffee Roasters",
                    "BaseCurrency": "NZD",
                    "Timezone": "NEWZEALANDSTANDARDTIME",
                    "ShortCode": "!23eYt",
                    "CountryCode": "NZ",
                }
            ]
        },
    )
    rsps.get(
        f"{API}/api.xro/2.0/TrackingCategories",
        json={
            "TrackingCategories": [
                {
                    "TrackingCategoryID": "351953c4-8127-4009-88c3-f9cd8c9cbe9f",
                    "Name": "Region",
                    "Status": "ACTIVE",
                    "Options": [{"TrackingOptionID": "o1", "Name": "North", "Status": "ACTIVE"}],
                }
            ]
        },
    )
    (acct,) = client.list_bank_accounts(Auth())
    assert acct.code == "090" and acct.currency_code == "NZD"
    assert _query(rsps.calls[0])["where"] == 'Status=="ACTIVE" AND Type=="BANK"'
    org = client.get_organisation(Auth())
    assert org.name == "Harbour Coffee Roasters" and org.timezone == "NEWZEALANDSTANDARDTIME"
    (cat,) = client.list_tracking_categories(Auth())
    assert cat.name == "Region" and cat.options[0].name == "North"


# ---------------------------------------------------------------- throttle integration & secrecy


def test_remaining_headers_feed_the_throttle(client, rsps):
    rsps.get(ONE_URL, json={"BankTransactions": [txn_json()]}, headers={"X-MinLimit-Remaining": "0"})
    client.get_bank_transaction(Auth(), TXN_ID)
    with pytest.raises(RateLimited) as info:
        client.get_bank_transaction(Auth(), TXN_ID)
    assert info.value.problem == "minute"
    assert len(rsps.calls) == 1


def test_no_token_in_logs_or_errors(client, rsps, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.get(ONE_URL, status=401, json={"Detail": f"TokenExpired: {SECRET}"})
    rsps.get(BT_URL, status=400, json={"Message": "bad"})
    rsps.get(f"{API}/api.xro/2.0/Organisation", status=503)
    errors = []
    for call in (
        lambda: client.get_bank_transaction(Auth(), TXN_ID),
        lambda: client.list_bank_transactions(Auth(), TransactionFilter()),
        lambda: client.get_organisation(Auth()),
    ):
        with pytest.raises(Exception) as info:
            call()
        errors.append(info.value)
    assert caplog.records, "requests are logged"
    assert any(TENANT in r.getMessage() and "401" in r.getMessage() for r in caplog.records)
    for r in caplog.records:
        assert SECRET not in r.getMessage()
        assert "Bearer" not in r.getMessage()
    for e in errors:
        assert SECRET not in str(e) and SECRET not in repr(e)


def test_clients_share_the_process_throttle_and_session_by_default():
    a, b = XeroClient(API), XeroClient(API)
    assert a.throttle is b.throttle
    assert a.session is b.session
