"""The digest's Block Kit stays within Slack's limits and shows hostile Xero text as text."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from bot.sandbox.slack.validate import problems
from bot.services.digest import SubscriptionStatus, search_query, summarise
from bot.services.query import parse_query
from bot.slack.digest_blocks import ACTION_REMOVE, ACTION_SHOW_ALL, digest_message, home_section
from bot.slack.refs import ACTION_EDIT
from bot.xero.models import BankTransaction
from storage.digests import Subscription

TODAY = date(2026, 11, 30)
HOSTILE = "<!channel> *URGENT* _x_ <https://evil.example|bank> & Co"


def txn(
    i: int, *, account: int = 0, spend: bool = True, total: str = "12.34", name: str = "Zephyr"
) -> BankTransaction:
    return BankTransaction.from_xero(
        {
            "BankTransactionID": str(uuid.UUID(int=i + 1)),
            "Type": "SPEND" if spend else "RECEIVE",
            "Status": "AUTHORISED",
            "DateString": (TODAY - timedelta(days=400 - i % 400)).isoformat() + "T00:00:00",
            "Contact": {"ContactID": str(uuid.UUID(int=10**6 + i)), "Name": name},
            "BankAccount": {
                "AccountID": str(uuid.UUID(int=10**9 + account)),
                "Code": f"{90 + account:03d}",
                "Name": f"{HOSTILE} account {account}",
            },
            "Reference": HOSTILE,
            "LineItems": [{"LineItemID": str(uuid.UUID(int=10**12 + i)), "LineAmount": total}],
            "Total": total,
            "CurrencyCode": "NZD" if account % 2 == 0 else "USD",
            "IsReconciled": False,
        }
    )


def content(n: int, accounts: int = 2, *, complete: bool = True):
    rows = [txn(i, account=i % accounts, spend=i % 3 != 0) for i in range(n)]
    return summarise(rows, tenant_id="ten-1", org_name=HOSTILE, local_date=TODAY, complete=complete)


@pytest.mark.parametrize(("n", "accounts"), [(1, 1), (27, 2), (5000, 30)])
def test_any_amount_of_items_fits_slacks_limits(n, accounts):
    message = digest_message(content(n, accounts, complete=n < 5000))
    assert problems(message) == []
    assert len(message["blocks"]) <= 50
    assert len(json.dumps(message)) < 40_000


def shown_text(message) -> str:
    """Every string Slack renders (text objects), not button values."""
    found = [message["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                found.append(node["text"])
            for key, value in node.items():
                if key != "value":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return "\n".join(found)


def mrkdwn_text(message) -> str:
    found = [message["text"]]

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for key, value in node.items():
                if key != "value":
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return "\n".join(found)


def test_hostile_text_pings_nobody_and_links_nowhere():
    message = digest_message(content(5))
    # In mrkdwn (where a mention would ping) Xero's text never appears unescaped…
    raw = mrkdwn_text(message)
    assert "<!channel>" not in raw
    assert "<https://evil.example" not in raw
    # …it is in plain_text objects, exactly as Xero has it, with nothing invisible added.
    assert HOSTILE in shown_text(message)
    assert "\u200b" not in json.dumps(message)


def test_counts_totals_and_oldest_per_account():
    rows = [
        txn(1, account=0, spend=True, total="100.00"),
        txn(2, account=0, spend=False, total="30.50"),
        txn(3, account=1, spend=True, total="1234.56"),
    ]
    c = summarise(rows, tenant_id="t", org_name="Org", local_date=TODAY)
    by = {a.code: a for a in c.accounts}
    assert (by["090"].count, by["090"].total) == (2, Decimal("-69.50"))
    assert by["090"].kinds == (("spent", 1), ("received", 1))
    assert by["091"].total == Decimal("-1234.56") and by["091"].currency == "USD"
    assert by["090"].oldest == rows[0].date
    text = json.dumps(digest_message(c), ensure_ascii=False)
    assert "−69.50 NZD" in text and "−1,234.56 USD" in text


def test_edit_buttons_are_the_search_results_own_and_show_all_runs_a_valid_search():
    c = content(27)
    message = digest_message(c)
    edits = [
        b["accessory"] for b in message["blocks"] if b.get("accessory", {}).get("action_id") == ACTION_EDIT
    ]
    assert len(edits) == 10
    shows = [
        b["accessory"]
        for b in message["blocks"]
        if b.get("accessory", {}).get("action_id") == ACTION_SHOW_ALL
    ]
    assert shows and shows[-1]["text"]["text"] == "Show all 27"
    oldest = [a.oldest for a in c.accounts] + [c.oldest_date]
    assert [parse_query(b["value"], today=TODAY).date_from for b in shows] == oldest
    assert all(parse_query(b["value"], today=TODAY).reconciled is False for b in shows)
    # In the digest's own order, so its first row is the digest's first item.
    assert all(parse_query(b["value"], today=TODAY).oldest_first for b in shows)
    assert search_query(c, c.accounts[0]).startswith("status:unreconciled sort:oldest account:09")


def test_nothing_unreconciled_is_a_short_all_clear():
    message = digest_message(summarise([], tenant_id="t", org_name="Harbour", local_date=TODAY))
    assert problems(message) == []
    assert len(message["blocks"]) == 2 and "Nothing waiting" in message["blocks"][0]["text"]["text"]


def test_home_section_lists_subscriptions_with_remove_buttons():
    from datetime import UTC, datetime

    subs = [
        Subscription(
            i,
            "T",
            f"C{i:08d}",
            "U1",
            "ten",
            HOSTILE,
            "09:00",
            "Pacific/Auckland",
            True,
            False,
            None,
            datetime(2026, 1, 1, tzinfo=UTC),
        )
        for i in range(30)
    ]
    blocks = home_section([SubscriptionStatus(s, None, None) for s in subs[:2]] + subs[2:])
    assert problems({"type": "home", "blocks": blocks}, surface="home") == []
    removes = [
        b["accessory"]["value"] for b in blocks if b.get("accessory", {}).get("action_id") == ACTION_REMOVE
    ]
    assert removes == [str(i) for i in range(20)]
    assert "10 more" in blocks[-1]["elements"][0]["text"]
    assert home_section([])[1]["type"] == "context"
