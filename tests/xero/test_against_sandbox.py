"""The real Xero layer against the offline Xero sandbox, over real sockets on 127.0.0.1."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from bot.sandbox.xero import SandboxClock, XeroSandbox
from bot.xero.client import XeroClient
from bot.xero.errors import InvalidGrant, RateLimited, XeroNotFound
from bot.xero.filters import TransactionFilter
from bot.xero.models import TokenSet
from bot.xero.oauth import XeroOAuth, id_token_claims
from bot.xero.throttle import Throttle

REDIRECT = "http://127.0.0.1:3000/xero/callback"
SCOPES = (
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.banktransactions",
    "accounting.settings.read",
)
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Grant:
    """Minimal TokenSource: the token service does this with storage and locks."""

    def __init__(self, oauth: XeroOAuth, tokens: TokenSet, tenant_id: str) -> None:
        self.oauth, self.tokens, self.tenant_id = oauth, tokens, tenant_id
        self.refreshes = 0

    def access_token(self, force_refresh: bool = False) -> str:
        if force_refresh:
            self.tokens = self.oauth.refresh(self.tokens.refresh_token)
            self.refreshes += 1
        return self.tokens.access_token

    def for_tenant(self, tenant_id: str) -> Grant:
        return Grant(self.oauth, self.tokens, tenant_id)


def make_sandbox(**kw) -> XeroSandbox:
    kw.setdefault("transactions", 300)
    return XeroSandbox(seed=7, organisations=2, clock=SandboxClock(start=START, ticking=False), **kw)


@pytest.fixture(scope="module")
def shared() -> Iterator[XeroSandbox]:
    """One sandbox for the read-mostly tests (starting one per test costs data generation)."""
    with make_sandbox() as sb:
        yield sb


def _oauth(sb: XeroSandbox) -> XeroOAuth:
    return XeroOAuth(
        client_id=sb.client_id,
        client_secret=sb.client_secret,
        redirect_uri=REDIRECT,
        scopes=SCOPES,
        authorize_url=sb.authorize_url,
        identity_url=sb.url,
        api_url=sb.url,
        session=requests.Session(),
        sleep=lambda s: None,
    )


def _connect(sb: XeroSandbox, oauth: XeroOAuth) -> TokenSet:
    consent = requests.get(oauth.authorize_url_for("state-xyz"), allow_redirects=False, timeout=5)
    assert consent.status_code == 302, consent.text
    params = dict(parse_qsl(urlsplit(consent.headers["Location"]).query))
    assert params["state"] == "state-xyz"
    return oauth.exchange_code(params["code"])


def _client(sb: XeroSandbox, **kw) -> XeroClient:
    kw.setdefault("throttle", Throttle())
    return XeroClient(sb.url, session=requests.Session(), sleep=lambda s: None, **kw)


@pytest.fixture(scope="module")
def grant(shared: XeroSandbox) -> Grant:
    oauth = _oauth(shared)
    return Grant(oauth, _connect(shared, oauth), shared.tenants[0]["tenant_id"])


# ---------------------------------------------------------------- identity


def test_consent_exchange_connections_refresh_revoke():
    with make_sandbox(transactions=10) as sb:
        oauth = _oauth(sb)
        tokens = _connect(sb, oauth)
        assert tokens.id_token
        claims = id_token_claims(tokens.id_token, client_id=sb.client_id, now=START)
        assert claims["xero_userid"] == sb.user["xero_user_id"]
        assert "offline_access" in tokens.scope

        conns = oauth.connections(tokens.access_token)
        assert sorted(c.tenant_id for c in conns) == sorted(t["tenant_id"] for t in sb.tenants)
        assert {c.tenant_name for c in conns} == {t["name"] for t in sb.tenants}

        rotated = oauth.refresh(tokens.refresh_token)
        assert rotated.refresh_token != tokens.refresh_token
        again = oauth.refresh(tokens.refresh_token)  # lost response: same token, grace period
        assert again.access_token

        oauth.delete_connection(rotated.access_token, conns[0].id)
        oauth.delete_connection(rotated.access_token, conns[0].id)  # already gone: fine
        assert [c.id for c in oauth.connections(rotated.access_token)] == [conns[1].id]

        oauth.revoke(rotated.refresh_token)
        with pytest.raises(InvalidGrant):
            oauth.refresh(rotated.refresh_token)


# ---------------------------------------------------------------- accounting reads


def test_list_with_filters_returns_only_matching_rows_with_lines(shared, grant):
    client = _client(shared)
    bank = shared.tenants[0]["bank_accounts"][0]
    f = TransactionFilter(
        date_from=date(2026, 6, 1),
        types=("SPEND",),
        is_reconciled=False,
        bank_account_id=uuid.UUID(bank["account_id"]),
        min_total=Decimal("10.00"),
    )
    rows = list(client.iter_bank_transactions(grant, f, page_size=20))
    assert rows, "the seeded data has unreconciled spend on the first bank account"
    for txn in rows:
        assert txn.type == "SPEND" and txn.status == "AUTHORISED"
        assert not txn.is_reconciled
        assert txn.date >= date(2026, 6, 1)
        assert txn.bank_account.account_id == bank["account_id"]
        assert txn.total >= Decimal("10.00")
        assert txn.has_line_items
    dates = [t.date for t in rows]
    assert dates == sorted(dates, reverse=True)
    first = client.list_bank_transactions(grant, f, page=1, page_size=20)
    assert first.item_count == len(rows)


def test_paging_stops_when_the_caller_has_enough(shared, grant):
    client = _client(shared)
    it = client.iter_bank_transactions(grant, TransactionFilter(), page_size=10)
    got = [next(it) for _ in range(15)]
    assert len({t.bank_transaction_id for t in got}) == 15
    assert client.calls == 2


def test_get_and_not_found(shared, grant):
    client = _client(shared)
    txn_id = shared.transaction_ids(grant.tenant_id)[0]
    txn = client.get_bank_transaction(grant, txn_id)
    stored = shared.get_transaction(grant.tenant_id, txn_id)
    assert txn.bank_transaction_id == txn_id
    assert txn.total == Decimal(str(stored["Total"]))
    assert len(txn.line_items) == len(stored["LineItems"])
    with pytest.raises(XeroNotFound):
        client.get_bank_transaction(grant, str(uuid.uuid4()))


def test_settings_reads(shared, grant):
    client = _client(shared)
    info = shared.tenants[0]
    accounts = client.list_bank_accounts(grant)
    active = [a for a in info["bank_accounts"] if a["status"] == "ACTIVE"]
    assert sorted(a.account_id for a in accounts) == sorted(a["account_id"] for a in active)
    org = client.get_organisation(grant)
    assert (org.name, org.base_currency, org.timezone) == (info["name"], info["currency"], info["timezone"])
    cats = client.list_tracking_categories(grant)
    assert {c.name: [o.name for o in c.options] for c in cats} == info["tracking_categories"]


def test_other_tenant_of_the_same_grant(shared, grant):
    other = grant.for_tenant(shared.tenants[1]["tenant_id"])
    assert _client(shared).get_organisation(other).name == shared.tenants[1]["name"]


# ---------------------------------------------------------------- writes


def _multi_line_tracked_spend(sb: XeroSandbox, tenant: str) -> str:
    for txn_id in sb.transaction_ids(tenant):
        t = sb.get_transaction(tenant, txn_id)
        if (
            t["Type"] in ("SPEND", "RECEIVE")
            and t["Status"] == "AUTHORISED"
            and len(t["LineItems"]) >= 2
            and any(li.get("Tracking") for li in t["LineItems"])
        ):
            return txn_id
    raise AssertionError(
        "the sandbox's data has no multi-line tracked spend/receive (the generator changed?)"
    )


def test_update_keeps_lines_tracking_and_totals_and_history_records_the_note():
    with make_sandbox() as sb:
        oauth = _oauth(sb)
        grant = Grant(oauth, _connect(sb, oauth), sb.tenants[0]["tenant_id"])
        client = _client(sb)
        txn_id = _multi_line_tracked_spend(sb, grant.tenant_id)
        before = sb.get_transaction(grant.tenant_id, txn_id)

        txn = client.get_bank_transaction(grant, txn_id)
        updated = client.update_bank_transaction(
            grant, txn, reference="ZP-4471-A", url="https://docs.example.com/zp", idempotency_key="k-1"
        )
        assert updated.reference == "ZP-4471-A"
        after = sb.get_transaction(grant.tenant_id, txn_id)
        assert after["Reference"] == "ZP-4471-A" and after["Url"] == "https://docs.example.com/zp"
        assert after["LineItems"] == before["LineItems"]
        assert (after["Total"], after["SubTotal"], after["TotalTax"]) == (
            before["Total"],
            before["SubTotal"],
            before["TotalTax"],
        )
        assert after["IsReconciled"] == before["IsReconciled"]

        client.add_history_note(grant, txn_id, "Reference changed in Slack by Ann", idempotency_key="n-1")
        notes = [h.details for h in client.get_history(grant, txn_id)]
        assert "Reference changed in Slack by Ann" in notes


# ---------------------------------------------------------------- limits


def test_storm_is_refused_locally_and_never_exceeds_xero_limits():
    with make_sandbox(transactions=10) as sb:
        oauth = _oauth(sb)
        grant = Grant(oauth, _connect(sb, oauth), sb.tenants[0]["tenant_id"])
        # Long enough to queue behind the 5-in-flight limit, far too short for a minute's wait.
        client = _client(sb, max_wait=10.0)
        outcomes: list[str] = []
        lock = threading.Lock()

        def worker():
            for _ in range(10):
                try:
                    client.get_organisation(grant)
                    result = "ok"
                except RateLimited as exc:
                    result = exc.problem
                with lock:
                    outcomes.append(result)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(outcomes) == 80
        assert outcomes.count("ok") == 60
        assert outcomes.count("minute") == 20
        statuses = [r["status"] for r in sb.requests if r.get("tenant_id") == grant.tenant_id]
        assert 429 not in statuses, "our throttle should refuse before Xero has to"


def test_lower_limit_at_xero_is_learned_from_the_headers():
    """Another process already used most of the minute: Xero's counters say so, we listen."""
    with make_sandbox(transactions=10, minute_limit=8) as sb:
        oauth = _oauth(sb)
        grant = Grant(oauth, _connect(sb, oauth), sb.tenants[0]["tenant_id"])
        client = _client(sb, max_wait=0.0)
        ok = 0
        with pytest.raises(RateLimited) as info:
            for _ in range(20):
                client.get_organisation(grant)
                ok += 1
        assert ok == 8
        assert info.value.problem == "minute"
        statuses = [r["status"] for r in sb.requests if r.get("tenant_id") == grant.tenant_id]
        assert 429 not in statuses


def test_xero_429_surfaces_as_rate_limited_and_blocks_the_tenant():
    with make_sandbox(transactions=10, minute_limit=3) as sb:
        oauth = _oauth(sb)
        grant = Grant(oauth, _connect(sb, oauth), sb.tenants[0]["tenant_id"])
        # Two clients with separate throttles stand for two processes sharing Xero's budget.
        first, second = _client(sb, max_wait=0.0), _client(sb, max_wait=0.0)
        first.get_organisation(grant)
        first.get_organisation(grant)
        first.get_organisation(grant)
        with pytest.raises(RateLimited) as info:
            second.get_organisation(grant)
        assert info.value.problem == "minute" and info.value.retry_after >= 1
        calls = second.calls
        with pytest.raises(RateLimited):
            second.get_organisation(grant)
        assert second.calls == calls  # refused locally, Xero not asked again


def test_expired_access_token_is_refreshed_once_and_the_call_succeeds():
    with make_sandbox(transactions=10) as sb:
        oauth = _oauth(sb)
        grant = Grant(oauth, _connect(sb, oauth), sb.tenants[0]["tenant_id"])
        client = _client(sb)
        sb.clock.advance(31 * 60)  # access tokens live 30 minutes
        assert client.get_organisation(grant).name == sb.tenants[0]["name"]
        assert grant.refreshes == 1
        assert client.calls == 2
