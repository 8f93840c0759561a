"""What a digest counts, and how many Xero calls reading it takes."""

from __future__ import annotations

from datetime import date

from bot.services.digest import MAX_PAGES, ORDER, PAGE_SIZE, UNRECONCILED, fetch_unreconciled, summarise
from bot.xero.models import Page
from bot.xero.where import build_where
from tests.clock.test_blocks import txn


class PagedXero:
    """Serves ``total`` unreconciled transactions in pages, recording what was asked."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.asked: list[tuple[int, int, str]] = []

    def list_bank_transactions(self, auth, f, *, page, page_size, order):
        assert f == UNRECONCILED
        self.asked.append((page, page_size, order))
        start = (page - 1) * page_size
        rows = tuple(txn(i) for i in range(start, min(self.total, start + page_size)))
        return Page(rows, page, page_count=max(1, -(-self.total // page_size)), item_count=self.total)


def test_the_filter_asks_xero_for_every_type_that_is_live_and_unreconciled():
    assert build_where(UNRECONCILED) == 'Status=="AUTHORISED" AND IsReconciled==false'


def test_one_call_per_thousand_items_oldest_first():
    xero = PagedXero(1500)
    fetched = fetch_unreconciled(xero, auth=None)
    assert xero.asked == [(1, PAGE_SIZE, ORDER), (2, PAGE_SIZE, ORDER)]
    assert fetched.calls == 2 and fetched.complete and len(fetched.transactions) == 1500
    assert fetch_unreconciled(PagedXero(0), auth=None).calls == 1


def test_beyond_the_page_cap_the_figures_say_at_least():
    xero = PagedXero(PAGE_SIZE * MAX_PAGES + 1)
    fetched = fetch_unreconciled(xero, auth=None)
    assert fetched.calls == MAX_PAGES and not fetched.complete
    content = summarise(
        fetched.transactions,
        tenant_id="t",
        org_name="O",
        local_date=date(2026, 1, 1),
        complete=fetched.complete,
    )
    assert not content.is_clear and content.count == PAGE_SIZE * MAX_PAGES


def test_every_live_unreconciled_type_counts_and_nothing_else():
    from dataclasses import replace

    keep = txn(1)
    transfer = replace(txn(4), type="SPEND-TRANSFER")
    overpayment = replace(txn(5), type="RECEIVE-OVERPAYMENT")
    rows = [
        keep,
        replace(txn(2), is_reconciled=True),
        replace(txn(3), status="VOIDED"),
        transfer,
        overpayment,
        replace(txn(6), type="RECEIVE-TRANSFER"),
    ]
    content = summarise(rows, tenant_id="t", org_name="O", local_date=date(2026, 1, 1))
    assert content.count == 4 and content.oldest[:3] == (keep, transfer, overpayment)
    (account,) = content.accounts
    assert dict(account.kinds) == {"spent": 1, "transfer": 2, "overpayment": 1}
    assert sum(n for _, n in account.kinds) == account.count


def test_a_digest_posted_before_kinds_were_counted_still_redraws():
    """Messages posted by the previous version keep their snapshot (v1: spend/receive counts)."""
    import json
    from decimal import Decimal

    from bot.services.digest.content import from_snapshot

    v1 = {
        "v": 1,
        "tenant_id": "t",
        "org_name": "O",
        "local_date": "2026-11-30",
        "accounts": [["a", "Business Bank Account", "090", "NZD", 5, 3, 2, "-12.50", "2026-10-01"]],
        "oldest": [],
        "count": 5,
        "complete": True,
    }
    (account,) = from_snapshot(json.dumps(v1)).accounts
    assert account.count == 5 and account.kinds == (("spent", 3), ("received", 2))
    assert account.total == Decimal("-12.50")
