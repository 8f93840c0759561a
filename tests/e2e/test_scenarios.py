"""What a bookkeeper does, end to end: real WSGI app, real sockets, signed requests, offline Xero.

Marked ``slow`` only in the sense of "over real sockets"; the module runs in a few seconds.
"""

from __future__ import annotations

import time

import pytest
import requests

from bot.demo.stack import Stack
from bot.slack import blocks
from storage.audit import audit_for_transaction
from tests.e2e.helpers import (
    buttons,
    edit_form,
    ephemeral_with,
    message_text,
    metadata,
    text_of,
    top_view_with,
    xero_changed,
)

pytestmark = pytest.mark.slow


def connected(stack: Stack, person, name: str):
    user = person(name)
    stack.connect(user)
    return user


def search(stack: Stack, user, query: str):
    user.command("/recon", f"search {query}")
    return ephemeral_with(stack, user, "Search results")


# ------------------------------------------------------------------ connecting
def test_connect_shows_a_success_page_and_dms_the_organisations(stack: Stack, person):
    alice = person("alice")
    alice.command("/recon", "connect")
    message = ephemeral_with(stack, alice, "Connect to Xero")
    (connect_button,) = buttons(message, "recon_link_connect")
    page = stack.follow_consent(connect_button["url"], alice)
    assert page.status_code == 200
    assert (
        f"Connected for <strong>{alice.user.real_name}</strong> in <strong>{stack.slack.team_name}"
        in page.text
    )
    names = [t["name"] for t in stack.xero.tenants]
    for name in names:
        assert name in page.text
    assert "You can close this tab and return to Slack" in page.text
    assert "slack://" in page.text
    code = page.url.split("code=")[1].split("&")[0]
    assert code not in page.text and "state=" not in page.text
    dm = stack.slack.wait_for(lambda: stack.slack.dms(alice.id))[-1]
    assert all(name in message_text(dm) for name in names)
    assert len(buttons(dm, "recon_make_default")) == len(names) - 1


def test_make_default_from_the_dm(stack: Stack, person):
    alice = connected(stack, person, "alice")
    dm = stack.slack.dms(alice.id)[-1]
    (make_default,) = buttons(dm, "recon_make_default")
    other = next(t["name"] for t in stack.xero.tenants if t["tenant_id"] == make_default["value"])
    alice.press(make_default["action_id"], on=dm)
    stack.slack.wait_for(
        lambda: f"default organisation is {other}" in message_text(stack.slack.dms(alice.id)[-1])
    )
    assert stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_name == other


def test_the_same_consent_link_cannot_be_used_twice(stack: Stack, person):
    bob = person("bob")
    bob.command("/recon", "connect")
    url = buttons(ephemeral_with(stack, bob, "Connect to Xero"), "recon_link_connect")[0]["url"]
    browser = stack.browser(bob)
    first = stack.follow_consent(url, bob, browser=browser)
    assert first.status_code == 200
    again = browser.get(first.url, timeout=5)  # the browser's back button: same code, same state
    assert again.status_code == 400 and "already been used" in again.text
    once_more = browser.get(url, timeout=5)  # the Connect button pressed again
    assert once_more.status_code == 400 and "already been used" in once_more.text


def test_a_forged_callback_gets_a_friendly_page_that_echoes_nothing(stack: Stack):
    page = requests.get(f"{stack.bot_url}/xero/callback?code=SECRETCODE&state=madeup", timeout=5)
    assert page.status_code == 400 and "isn't valid" in page.text
    assert "SECRETCODE" not in page.text and "madeup" not in page.text
    cancelled = requests.get(f"{stack.bot_url}/xero/callback?error=access_denied&state=madeup", timeout=5)
    assert cancelled.status_code == 200 and "cancelled" in cancelled.text


def test_no_grant_gets_the_consent_button(stack: Stack, person):
    carol = person("carol")
    carol.command("/recon", "search zephyr")
    message = ephemeral_with(stack, carol, "Connect to Xero")
    assert buttons(message, "recon_link_connect")[0]["url"].startswith(
        f"{stack.bot_url}/connect/start?state="
    )


def test_unknown_subcommand_gets_help(stack: Stack, person):
    dave = person("dave")
    delivery = dave.command("/recon", "frobnicate")
    assert delivery.ok
    message = ephemeral_with(stack, dave, "I don't know")
    assert "/recon search" in message_text(message)


# ------------------------------------------------------------------ searching
def test_search_pages_forward_and_back(stack: Stack, person):
    alice = connected(stack, person, "alice")
    delivery = alice.command("/recon", "search from:365d")
    assert "Searching" in delivery.body  # the ack, shown at once
    first = ephemeral_with(stack, alice, "Search results")
    assert "page 1" in message_text(first)
    rows = [b for b in first.blocks if b["type"] == "section"][1:]
    assert len(rows) == 10
    (next_button,) = buttons(first, "recon_page_next")
    alice.press(next_button["action_id"], on=first)
    second = ephemeral_with(stack, alice, "page 2")
    assert second.ts == first.ts  # replaced in place, not a new message
    alice.press(buttons(second, "recon_page_prev")[0]["action_id"], on=second)
    ephemeral_with(stack, alice, "page 1")


def test_a_bad_query_names_the_token_and_shows_the_syntax(stack: Stack, person):
    alice = connected(stack, person, "alice")
    alice.command("/recon", "search from:2024-13-45")
    message = ephemeral_with(stack, alice, "Search syntax")
    assert "from:2024-13-45" in message_text(message)


def test_hostile_xero_data_is_shown_as_text(stack: Stack, person):
    from bot.sandbox.slack.render import render_message

    alice = connected(stack, person, "alice")
    tenant = stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_id
    txn_id = _editable_txn(stack, tenant)
    stack.xero.modify_transaction(tenant, txn_id, Reference="<!channel> *PAY NOW*")
    xero_changed(stack, tenant)
    message = search(stack, alice, "channel status:any from:2000-01-01")
    shown = render_message(message).text
    assert "<!channel> *PAY NOW*" in shown  # as Xero has it: literal, pinging nobody
    assert "@channel" not in shown


# ------------------------------------------------------------------ editing
def _editable_txn(stack: Stack, tenant_id: str) -> str:
    for txn_id in stack.xero.transaction_ids(tenant_id):
        t = stack.xero.get_transaction(tenant_id, txn_id)
        if t["Type"] in ("SPEND", "RECEIVE") and t["Status"] == "AUTHORISED":
            return txn_id
    raise LookupError("no editable transaction in the sandbox")


def _open_edit_from_search(stack: Stack, user):
    """Search, press the first row's Edit button, wait for the filled form."""
    results = search(stack, user, "from:365d")
    row = next(b for b in results.blocks if (b.get("accessory") or {}).get("action_id") == "recon_edit")
    user.press("recon_edit", on=results, block_id=row["block_id"])
    return results, edit_form(stack, user)


def test_edit_saves_in_xero_records_the_audit_and_refreshes_the_list(stack: Stack, person):
    alice = connected(stack, person, "alice")
    results, view = _open_edit_from_search(stack, alice)
    meta = metadata(view)
    tenant, txn_id = meta["t"], meta["x"]
    delivery = alice.submit(
        view,
        {
            "reference": {"reference": "INV-NEW-0042"},
            "url": {"url": "https://docs.example.com/inv-0042"},
            "note": {"note": "Matched to the supplier invoice"},
        },
    )
    assert delivery.ok
    done = top_view_with(stack, alice, "Saved")
    assert "INV-NEW-0042" in text_of(done.blocks) and "→" in text_of(done.blocks)
    stored = stack.xero.get_transaction(tenant, txn_id)
    assert stored["Reference"] == "INV-NEW-0042" and stored["Url"] == "https://docs.example.com/inv-0042"
    history = " ".join(str(h) for h in stack.xero.history(tenant, txn_id))
    assert "Matched to the supplier invoice" in history
    audit = audit_for_transaction(stack.services.db, tenant, txn_id)
    assert {(a.field, a.after, a.outcome) for a in audit} >= {("reference", "INV-NEW-0042", "success")}
    assert all(a.slack_user_id == alice.id for a in audit)
    stack.slack.wait_for(
        lambda: (
            "INV-NEW-0042"
            in message_text(next(m for m in stack.slack.ephemerals(alice.id) if m.ts == results.ts))
        )
    )


def test_invalid_input_is_shown_on_the_field_and_nothing_is_saved(stack: Stack, person):
    alice = connected(stack, person, "alice")
    _results, view = _open_edit_from_search(stack, alice)
    meta = metadata(view)
    before = stack.xero.get_transaction(meta["t"], meta["x"])
    alice.submit(view, {"url": {"url": "javascript:alert(1)"}})
    shown = stack.slack.view(view.id)
    assert "url" in shown.errors and not shown.closed
    assert stack.xero.get_transaction(meta["t"], meta["x"])["UpdatedDateUTC"] == before["UpdatedDateUTC"]


def test_a_conflict_changes_nothing_and_offers_xeros_current_values(stack: Stack, person):
    alice = connected(stack, person, "alice")
    _results, view = _open_edit_from_search(stack, alice)
    meta = metadata(view)
    stack.xero.modify_transaction(meta["t"], meta["x"], Reference="CHANGED-IN-XERO")
    alice.submit(view, {"reference": {"reference": "MY-EDIT"}})
    conflict = top_view_with(stack, alice, "nothing was changed")
    text = text_of(conflict.blocks)
    assert "MY-EDIT" in text and "CHANGED-IN-XERO" in text
    assert stack.xero.get_transaction(meta["t"], meta["x"])["Reference"] == "CHANGED-IN-XERO"
    alice.press("recon_edit_reload", on=conflict)
    reopened = edit_form(stack, alice)
    values = [b["element"].get("initial_value") for b in reopened.blocks if b["type"] == "input"]
    assert "CHANGED-IN-XERO" in values
    # What Alice typed is still there to copy, beside Xero's current values.
    assert "Your edit, not saved: Reference MY-EDIT" in text_of(reopened.blocks)


def test_edit_command_opens_the_modal_for_the_default_org(stack: Stack, person):
    alice = connected(stack, person, "alice")
    tenant = stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_id
    txn_id = _editable_txn(stack, tenant)
    alice.command("/recon", f"edit {txn_id}")
    view = edit_form(stack, alice)
    assert metadata(view)["x"] == txn_id


def test_someone_elses_edit_button_uses_the_pressers_own_grant(stack: Stack, person):
    alice = connected(stack, person, "alice")
    tenant = stack.services.connect.default_org(stack.slack.team.team_id, alice.id).tenant_id
    txn_id = _editable_txn(stack, tenant)
    stack.slack.add_channel("C0BOOKS", "bookkeeping", members=[])
    # A digest-like message in a channel, posted by the bot, with an Edit button on it.
    stack.web.client.chat_postMessage(
        channel="C0BOOKS",
        text="Unreconciled",
        blocks=[
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "Oldest item"},
                "accessory": blocks.edit_button(tenant, txn_id),
            }
        ],
    )
    posted = stack.slack.messages("C0BOOKS")[-1]

    erin = person("erin")  # not connected at all
    erin.press("recon_edit", on=posted)
    assert "Connect to Xero" in text_of(top_view_with(stack, erin, "Connect to Xero").blocks)

    # Frank connects with his own Xero login, which can only see the other organisation.
    other = next(t["tenant_id"] for t in stack.xero.tenants if t["tenant_id"] != tenant)
    frank_xero = stack.xero.add_user("frank@example.com", "Frank", "Field", [other])
    stack.xero.login_as(frank_xero["xero_user_id"])
    try:
        frank = connected(stack, person, "frank")
    finally:
        stack.xero.login_as(stack.xero.users[0]["xero_user_id"])
    frank.press("recon_edit", on=posted)
    refusal = top_view_with(stack, frank, "isn't connected to your Xero login")
    assert "Reference" not in [b.get("label", {}).get("text") for b in refusal.blocks]

    gina = connected(stack, person, "gina")  # her own grant, same organisation: she may edit
    gina.press("recon_edit", on=posted)
    assert metadata(edit_form(stack, gina))["x"] == txn_id


# ------------------------------------------------------------------ home, disconnect
def test_home_tab_is_published_with_status_and_default(stack: Stack, person):
    alice = connected(stack, person, "alice")
    alice.open_home()
    home = stack.slack.wait_for(lambda: stack.slack.home(alice.id))
    text = text_of(home.blocks)
    assert "· default" in text and "connected" in text
    assert buttons(home, "recon_make_default")


def test_disconnect_after_confirming(stack: Stack, person):
    hank_xero = stack.xero.add_user("hank@example.com", "Hank", "Hill")
    stack.xero.login_as(hank_xero["xero_user_id"])
    try:
        hank = connected(stack, person, "hank")
    finally:
        stack.xero.login_as(stack.xero.users[0]["xero_user_id"])
    hank.command("/recon", "disconnect")
    confirm = ephemeral_with(stack, hank, "Disconnect all your Xero organisations")
    hank.press("recon_disconnect", on=confirm)
    ephemeral_with(stack, hank, "Disconnected")
    assert stack.services.connect.organisations(stack.slack.team.team_id, hank.id) == []


# ------------------------------------------------------------------ the HTTP edge
def test_forged_signature_is_rejected(stack: Stack, person):
    mallory = person("mallory")
    delivery = mallory.command("/recon", "help", signature="v0=" + "0" * 64)
    assert delivery.status == 401


def test_replayed_old_timestamp_is_rejected(stack: Stack, person):
    mallory = person("mallory")
    delivery = mallory.command("/recon", "help", timestamp=int(time.time()) - 6 * 60)
    assert delivery.status == 401


def test_health(stack: Stack):
    response = requests.get(f"{stack.bot_url}/healthz", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert requests.get(f"{stack.bot_url}/nope", timeout=5).status_code == 404
