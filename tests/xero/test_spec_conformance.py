"""Requests the client builds, validated against Xero's own OpenAPI spec.

The spec (MIT, XeroAPI/Xero-OpenAPI ``xero_accounting.yaml``) is looked up by
``tests.conftest.xero_spec_path``: the ``shared/xero`` folder beside the repository, or
``$RECON_XERO_SPEC_DIR``; without it these tests skip (and fail under CI).
Spec checking is off when loading: the file has string defaults on booleans that a
strict validator refuses, but request validation works.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from bot.xero.client import XeroClient
from bot.xero.filters import TransactionFilter
from bot.xero.models import BankTransaction
from bot.xero.throttle import Throttle
from tests.conftest import xero_spec_path
from tests.xero.fakes import FakeClock
from tests.xero.fixtures import TENANT, TXN_ID, txn_json, txns_envelope

openapi_core = pytest.importorskip("openapi_core")
from openapi_core import Config, OpenAPI  # noqa: E402
from openapi_core.testing import MockRequest  # noqa: E402
from openapi_core.validation.request.exceptions import InvalidRequestBody  # noqa: E402

SPEC = xero_spec_path()
API = "https://api.xero.com"

pytestmark = [
    pytest.mark.skipif(SPEC is None, reason="Xero OpenAPI spec not available"),
    pytest.mark.filterwarnings("ignore:Unsupported scheme type"),
]


class Auth:
    tenant_id = TENANT

    def access_token(self, force_refresh: bool = False) -> str:
        return "token"


@pytest.fixture(scope="module")
def spec():
    return OpenAPI.from_file_path(str(SPEC), config=Config(spec_validator_cls=None))


@pytest.fixture
def sent():
    clock = FakeClock()
    client = XeroClient(API, session=requests.Session(), throttle=Throttle(clock=clock, sleep=clock.sleep))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        r.get(f"{API}/api.xro/2.0/BankTransactions", json=txns_envelope([txn_json()]))
        r.post(f"{API}/api.xro/2.0/BankTransactions/{TXN_ID}", json={"BankTransactions": [txn_json()]})
        r.put(f"{API}/api.xro/2.0/BankTransactions/{TXN_ID}/History", json={"HistoryRecords": []})
        r.get(f"{API}/api.xro/2.0/Accounts", json={"Accounts": []})
        yield client, r


def _validate(spec, prepared: requests.PreparedRequest) -> None:
    url = urlsplit(prepared.url)
    args = dict(parse_qsl(url.query))
    spec.validate_request(
        MockRequest(
            API,
            prepared.method.lower(),
            url.path,
            headers=dict(prepared.headers),
            args=args,
            data=prepared.body,
            content_type=prepared.headers.get("Content-Type", "application/json"),
        )
    )


def test_every_request_conforms(spec, sent):
    client, rsps = sent
    f = TransactionFilter(date_from=date(2024, 1, 1), types=("SPEND", "RECEIVE"), is_reconciled=False)
    client.list_bank_transactions(Auth(), f, page=2, page_size=250)
    txn = BankTransaction.from_xero(txn_json())
    client.update_bank_transaction(Auth(), txn, reference="R-1", url="https://x.test/1", idempotency_key="k")
    client.add_history_note(Auth(), TXN_ID, "Reference changed in Slack by Ann", idempotency_key="n")
    client.list_bank_accounts(Auth())
    assert len(rsps.calls) == 4
    for call in rsps.calls:
        _validate(spec, call.request)


def test_the_validator_does_catch_a_bad_body(spec, sent):
    client, rsps = sent
    client.update_bank_transaction(
        Auth(), BankTransaction.from_xero(txn_json()), reference="R-1", url=None, idempotency_key="k"
    )
    prepared = rsps.calls[0].request.copy()
    prepared.body = prepared.body.replace(b'"Type":"SPEND"', b'"Type":"SPENT"')
    with pytest.raises(InvalidRequestBody):
        _validate(spec, prepared)
