"""The generated data: deterministic, and a realistic mix."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from bot.sandbox.xero import SandboxClock, XeroSandbox

from .conftest import START, frozen_clock


def _snapshot(sb: XeroSandbox) -> list[dict]:
    tenant = sb.tenants[0]["tenant_id"]
    return [sb.get_transaction(tenant, t) for t in sb.transaction_ids(tenant)]


def test_same_seed_same_data() -> None:
    a = XeroSandbox(seed=11, transactions=200, clock=frozen_clock())
    b = XeroSandbox(seed=11, transactions=200, clock=frozen_clock())
    assert a.tenants == b.tenants
    assert a.user == b.user
    assert _snapshot(a) == _snapshot(b)


def test_different_seed_different_data() -> None:
    a = XeroSandbox(seed=11, transactions=50, clock=frozen_clock())
    b = XeroSandbox(seed=12, transactions=50, clock=frozen_clock())
    assert a.tenants[0]["tenant_id"] != b.tenants[0]["tenant_id"]
    assert a.tenants[0]["name"] == b.tenants[0]["name"] == "Harbour Coffee Roasters"


def test_first_two_organisations() -> None:
    sb = XeroSandbox(transactions=10, clock=frozen_clock())
    harbour, kestrel = sb.tenants
    assert (harbour["name"], harbour["currency"], harbour["timezone"], harbour["iana_timezone"]) == (
        "Harbour Coffee Roasters",
        "NZD",
        "NEWZEALANDSTANDARDTIME",
        "Pacific/Auckland",
    )
    assert (kestrel["name"], kestrel["currency"], kestrel["timezone"]) == (
        "Kestrel Design Studio",
        "GBP",
        "GMTSTANDARDTIME",
    )
    for org in sb.tenants:
        active = [a for a in org["bank_accounts"] if a["status"] == "ACTIVE"]
        assert 2 <= len(active) <= 3
        assert any(a["currency"] != org["currency"] for a in active)


def test_more_organisations_have_distinct_names_and_ids() -> None:
    sb = XeroSandbox(transactions=10, organisations=6, clock=frozen_clock())
    names = [t["name"] for t in sb.tenants]
    assert len(set(names)) == 6
    assert len({t["tenant_id"] for t in sb.tenants}) == 6
    assert sb.user["tenant_ids"] == [t["tenant_id"] for t in sb.tenants]


def test_transaction_mix_is_realistic() -> None:
    sb = XeroSandbox(seed=3, transactions=2000, organisations=1, clock=frozen_clock())
    rows = _snapshot(sb)
    assert len(rows) == 2000
    types = Counter(r["Type"] for r in rows)
    assert types["SPEND"] > types["RECEIVE"] > types["SPEND-TRANSFER"] > 0
    assert types["SPEND-TRANSFER"] == types["RECEIVE-TRANSFER"]
    assert {
        "SPEND-OVERPAYMENT",
        "RECEIVE-OVERPAYMENT",
        "SPEND-PREPAYMENT",
        "RECEIVE-PREPAYMENT",
    } <= types.keys()
    unreconciled = sum(not r["IsReconciled"] for r in rows) / len(rows)
    assert 0.15 < unreconciled < 0.25
    statuses = Counter(r["Status"] for r in rows)
    assert statuses["DELETED"] > 0 and statuses["VOIDED"] > 0 and statuses["AUTHORISED"] > 1800
    assert any(len(r["LineItems"]) >= 3 for r in rows)
    assert any(line["Tracking"] for r in rows for line in r["LineItems"])
    assert {r["LineAmountTypes"] for r in rows} == {"Exclusive", "Inclusive", "NoTax"}
    assert len({r["CurrencyCode"] for r in rows}) == 2
    assert {line["TaxType"] for r in rows for line in r["LineItems"]} >= {"INPUT2", "OUTPUT2", "NONE"}
    assert len({r["Contact"]["Name"] for r in rows if "Contact" in r}) > 15


def test_totals_agree_with_lines() -> None:
    sb = XeroSandbox(seed=5, transactions=400, organisations=1, clock=frozen_clock())
    for r in _snapshot(sb):
        line_sum = round(sum(line["LineAmount"] for line in r["LineItems"]), 2)
        tax = round(sum(line["TaxAmount"] for line in r["LineItems"]), 2)
        assert r["TotalTax"] == tax
        if r["LineAmountTypes"] == "Inclusive":
            assert r["Total"] == line_sum
        else:
            assert r["SubTotal"] == line_sum
        assert r["Total"] == round(r["SubTotal"] + r["TotalTax"], 2)
        for line in r["LineItems"]:
            assert round(line["Quantity"] * line["UnitAmount"], 2) == line["LineAmount"]


def test_dates_span_eighteen_months_before_the_clock() -> None:
    sb = XeroSandbox(seed=5, transactions=1000, organisations=1, clock=frozen_clock())
    days = sorted(r["DateString"][:10] for r in _snapshot(sb))
    assert days[-1] < START.date().isoformat()
    assert days[0] >= (START.date() - timedelta(days=550)).isoformat()
    assert days[0] <= (START.date() - timedelta(days=500)).isoformat()


def test_data_follows_the_clock_start() -> None:
    later = SandboxClock(start=START + timedelta(days=365), ticking=False)
    sb = XeroSandbox(seed=5, transactions=100, organisations=1, clock=later)
    assert max(r["DateString"] for r in _snapshot(sb)) < later.start.date().isoformat()
    assert max(r["DateString"] for r in _snapshot(sb)) > START.date().isoformat()


def test_add_user_with_some_organisations() -> None:
    sb = XeroSandbox(transactions=10, clock=frozen_clock())
    sam = sb.add_user("sam@kestrel.example", "Sam", "Okafor", [sb.tenants[1]["tenant_id"]])
    assert sam["tenant_ids"] == [sb.tenants[1]["tenant_id"]]
    assert sam["xero_user_id"] != sb.user["xero_user_id"]
    assert len(sb.users) == 2


def test_ticking_clock_moves_with_real_time_and_advance() -> None:
    clock = SandboxClock(start=START)
    first = clock.now()
    clock.advance(3600)
    assert clock.now() - first >= timedelta(hours=1)
    frozen = SandboxClock(start=START, ticking=False)
    assert frozen.now() == START


def test_transactions_is_every_transaction_as_get_shows_it() -> None:
    sb = XeroSandbox(seed=5, transactions=120, organisations=1, clock=frozen_clock())
    tenant = sb.tenants[0]["tenant_id"]
    made = sb.create_transaction(tenant, contact="Telstra", amount=5)
    everything = sb.transactions(tenant)
    assert everything == [sb.get_transaction(tenant, i) for i in sb.transaction_ids(tenant)]
    assert len(everything) == 121 and everything[-1] == made
