"""Search answered from the mirror: no Xero call, every match counted, its age when Xero can't help.

Against the sandbox over HTTP on SQLite and PostgreSQL; the mirror is filled from the
sandbox's own data as a complete first sync would leave it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.demo.xero_world import TEAM, make_world
from bot.services.errors import ServiceError
from bot.services.freshness import Freshness
from bot.services.search import SearchService
from bot.services.textmatch import matches
from bot.slack import blocks
from bot.slack.blocks import OrgFacts
from storage.organisations import save_organisation
from tests.mirrorfill import fill_from_sandbox, live_transactions, mark_synced

USER = "U0ALICE"


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url, transactions=400)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()


@pytest.fixture
def org(world):
    return world.services.connect.default_org(TEAM, USER)


@pytest.fixture
def mirrored(world, org):
    fill_from_sandbox(world.db, world.sb, org.tenant_id, at=world.bot_now())
    return org


def xero_calls(world) -> int:
    return sum(1 for r in world.sb.requests if "/api.xro/" in r["path"])


def text_of(message) -> str:
    return str(message["blocks"])


def expected_ids(world, tenant_id, query):
    found = [
        t
        for t in live_transactions(world.sb, tenant_id)
        if matches(query, t)
        and (query.date_from is None or t.date >= query.date_from)
        and (query.date_to is None or t.date <= query.date_to)
        and (not query.types or t.type in query.types)
        and (query.reconciled is None or t.is_reconciled is query.reconciled)
    ]
    found.sort(key=lambda t: (t.date, t.bank_transaction_id), reverse=True)
    return [t.bank_transaction_id for t in found]


@pytest.mark.parametrize(
    "text",
    [
        "from:540d",
        "type:spend status:unreconciled from:540d",
        "coffee from:540d",
        "zzqx from:540d",
        "min:500",
    ],
)
def test_a_fresh_mirror_answers_with_no_xero_call_and_a_total(world, mirrored, text):
    world.sb.clear_requests()
    result = world.services.search.search(TEAM, USER, text)
    assert xero_calls(world) == 0 and result.xero_calls == 0 and result.from_mirror
    want = expected_ids(world, mirrored.tenant_id, result.query)
    assert result.total == len(want)
    assert [t.bank_transaction_id for t in result.rows] == want[:10]
    assert result.as_of is None and result.filling is None


def test_paging_shows_the_range_of_the_total(world, mirrored):
    first = world.services.search.search(TEAM, USER, "from:540d")
    assert first.total > 20 and first.has_next
    second = world.services.search.page(TEAM, USER, first.next_cursor)
    want = expected_ids(world, mirrored.tenant_id, first.query)
    assert [t.bank_transaction_id for t in second.rows] == want[10:20]
    assert f"11–20 of {first.total:,}" in text_of(blocks.search_message(second))
    assert f"1–10 of {first.total:,}" in text_of(blocks.search_message(first))
    last_page = (first.total - 1) // 10 + 1
    last = world.services.search.page(TEAM, USER, replace_page(first.next_cursor, last_page))
    assert not last.has_next and [t.bank_transaction_id for t in last.rows] == want[(last_page - 1) * 10 :]
    assert len(first.next_cursor) <= 2000


def replace_page(cursor: str, page: int) -> str:
    from bot.services.cursor import decode_cursor, encode_cursor

    c = decode_cursor(cursor)
    return encode_cursor(c.query_text, c.tenant_id, page, c.snapshot)


def test_another_user_cannot_page_into_the_mirror(world, mirrored):
    first = world.services.search.search(TEAM, USER, "from:540d")
    with pytest.raises(ServiceError):
        world.services.search.page(TEAM, "U0MALLORY", first.next_cursor)


def test_account_filter_resolves_on_the_mirror(world, mirrored):
    world.sb.clear_requests()
    result = world.services.search.search(TEAM, USER, 'account:"Business Bank" from:540d')
    assert xero_calls(world) == 0 and result.rows
    assert {t.bank_account.name for t in result.rows} == {"Business Bank Account"}
    with pytest.raises(ServiceError, match="No bank account matches"):
        world.services.search.search(TEAM, USER, "account:nonesuch")


def test_bare_amounts_match_totals_and_the_sign_counts(world, mirrored):
    spend = next(t for t in live_transactions(world.sb, mirrored.tenant_id) if t.type == "SPEND")
    amount = f"{spend.total:,.2f}"
    unsigned = world.services.search.search(TEAM, USER, f"{amount} from:540d")
    assert spend.bank_transaction_id in {t.bank_transaction_id for t in unsigned.rows}
    assert all(t.total == spend.total for t in unsigned.rows)
    out = world.services.search.search(TEAM, USER, f"-{amount} from:540d")
    assert spend.bank_transaction_id in {t.bank_transaction_id for t in out.rows}
    assert all(t.is_spend for t in out.rows)
    money_in = world.services.search.search(TEAM, USER, f"+${amount} from:540d")
    assert all(not t.is_spend for t in money_in.rows)
    assert out.total + money_in.total == unsigned.total


def test_dates_in_the_organisations_own_form(world, mirrored):
    tenant = mirrored.tenant_id
    save_organisation(
        world.db,
        tenant_id=tenant,
        name="x",
        short_code=None,
        country_code="NZ",
        timezone="Pacific/Auckland",
        base_currency="NZD",
    )
    nz = world.services.search.search(TEAM, USER, "from:03/04/2026 to:30/04/2026")
    assert (nz.query.date_from.month, nz.query.date_from.day) == (4, 3)
    assert "03/04/2026 read as 3 Apr 2026" in text_of(blocks.search_message(nz))
    save_organisation(
        world.db,
        tenant_id=tenant,
        name="x",
        short_code=None,
        country_code="US",
        timezone="America/New_York",
        base_currency="USD",
    )
    us = world.services.search.search(TEAM, USER, "from:03/04/2026 to:04/30/2026")
    assert (us.query.date_from.month, us.query.date_from.day) == (3, 4)
    assert "03/04/2026 read as 4 Mar 2026" in text_of(blocks.search_message(us))
    # a page re-reads the cursor's query the organisation's way too
    if us.next_cursor:
        assert world.services.search.page(TEAM, USER, us.next_cursor).query.date_from == us.query.date_from
    iso = world.services.search.search(TEAM, USER, "from:2026-04-03")
    assert iso.query.readings == ()


class Recording:
    """A keeper that cannot reach Xero: it records what search asked and reports the state the
    real sync service reads from the database, as it stood."""

    def __init__(self, sync, error: str | None = "Xero is not responding") -> None:
        self.inner = sync
        self.asked: list[tuple[str, float, float]] = []
        self.error = error

    def freshness(self, tenant_id: str) -> Freshness:
        return self.inner.freshness(tenant_id)

    def ensure_fresh(self, tenant_id: str, *, max_age: float, wait: float) -> Freshness:
        self.asked.append((tenant_id, max_age, wait))
        return replace(self.inner.freshness(tenant_id), error=self.error)


def service(world, keeper, **kw) -> SearchService:
    s = world.services
    return SearchService(s.xero, s.tokens, s.connect, db=world.db, mirror=keeper, now=world.bot_now, **kw)


def test_a_stale_mirror_is_caught_up_first_and_else_answers_with_its_age(world, org):
    synced = world.bot_now() - timedelta(minutes=7)
    fill_from_sandbox(world.db, world.sb, org.tenant_id, at=synced)
    keeper = Recording(world.services.sync)
    world.sb.faults.fail_next(40, status=503)  # Xero is down
    world.sb.clear_requests()
    result = service(world, keeper).search(TEAM, USER, "coffee from:540d")
    world.sb.faults.clear()
    assert keeper.asked == [(org.tenant_id, 60.0, 2.0)]
    assert result.from_mirror and result.rows and result.as_of == synced
    assert xero_calls(world) == 0
    facts = OrgFacts(zone="Pacific/Auckland")
    shown = text_of(blocks.search_message(result, facts))
    local = synced.astimezone(ZoneInfo("Pacific/Auckland"))
    assert f"as of {local:%H:%M}" in shown


def test_a_fresh_mirror_is_not_caught_up(world, mirrored):
    keeper = Recording(world.services.sync)
    result = service(world, keeper).search(TEAM, USER, "from:540d")
    assert keeper.asked == [] and result.as_of is None
    assert "as of" not in text_of(blocks.search_message(result))


def test_max_age_comes_from_the_settings(world, org):
    fill_from_sandbox(world.db, world.sb, org.tenant_id, at=world.bot_now() - timedelta(seconds=30))
    keeper = Recording(world.services.sync)
    service(world, keeper, max_age=10).search(TEAM, USER, "from:540d")
    service(world, keeper, max_age=60).search(TEAM, USER, "from:540d")
    assert [a[1] for a in keeper.asked] == [10]


def test_until_the_first_sync_completes_search_is_live_and_says_so(world, org):
    mark_synced(world.db, org.tenant_id, at=None, complete=False, rows=12_000, expected=50_000)
    world.sb.clear_requests()
    result = world.services.search.search(TEAM, USER, "from:180d type:spend")
    assert not result.from_mirror and result.xero_calls >= 1 and xero_calls(world) >= 1
    assert result.filling is not None and result.total is None
    shown = text_of(blocks.search_message(result))
    assert "still filling (12,000 of about 50,000 read)" in shown and "live from Xero" in shown
