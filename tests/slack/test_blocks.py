"""The block builders: what users see, that Slack would accept it, and that Xero data stays inert."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.slack import blocks
from bot.slack.refs import ACTION_EDIT, ACTION_EDIT_RELOAD, VIEW_EDIT, EditMeta, EditRef
from tests.slack.fakes import (
    BANK_ID,
    HOSTILE,
    SHORT_CODE,
    TENANT_A,
    TENANT_B,
    TXN_ID,
    UPDATED,
    all_text,
    assert_slack_accepts,
    org,
    search_result,
    txn,
)

META = EditMeta(TENANT_A, TXN_ID, UPDATED, "https://hooks.slack.com/actions/x", "CURSOR1")


def _buttons(payload):
    found = []
    for block in payload.get("blocks", []):
        found += [e for e in block.get("elements", []) if isinstance(e, dict) and e.get("type") == "button"]
        if (block.get("accessory") or {}).get("type") == "button":
            found.append(block["accessory"])
    return found


FACTS = blocks.OrgFacts(short_code=SHORT_CODE, zone="Pacific/Auckland")


def _rows(message):
    """Each result row as (headline section, details context)."""
    found = message["blocks"]
    return [
        (b, found[i + 1])
        for i, b in enumerate(found)
        if b["type"] == "section" and found[i + 1 : i + 2] and found[i + 1]["type"] == "context"
    ]


def _row_texts(message):
    return [all_text(head) + " " + all_text(details) for head, details in _rows(message)]


def _plain_texts(payload):
    """Every plain_text string in a payload."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "plain_text":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return found


# ------------------------------------------------------------------ search results
def test_a_result_row_shows_date_contact_signed_amount_reference_account_and_state():
    message = blocks.search_message(search_result(), FACTS)
    assert_slack_accepts(message)
    row = _row_texts(message)[0]
    assert "12 Nov 2026" in row
    assert "Zephyr Plumbing Ltd" in row
    assert "−1,234.56 NZD" in row  # spend is negative, with a real minus sign
    assert "ZP-4471" in row and "Business Bank Account" in row and "not reconciled" in row
    assert "Open in Xero" in row
    # Xero's values are plain text: shown exactly, never parsed as formatting.
    head, details = _rows(message)[0]
    assert head["text"]["type"] == "plain_text"
    assert details["elements"][0]["type"] == "plain_text"


def test_open_in_xero_is_xeros_deep_link_into_the_right_organisation():
    message = blocks.search_message(search_result(), FACTS)
    _head, details = _rows(message)[0]
    link = details["elements"][1]["text"]
    url = link[1 : link.index("|")].replace("&amp;", "&")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "go.xero.com",
        "/organisationlogin/default.aspx",
    )
    query = parse_qs(parts.query)
    assert query["shortcode"] == [SHORT_CODE]
    assert query["redirecturl"] == [
        f"/Bank/ViewTransaction.aspx?bankTransactionID={TXN_ID}&accountID={BANK_ID}"
    ]
    # The inner address is encoded, so its own ? and & stay inside redirecturl.
    assert "redirecturl=%2FBank%2FViewTransaction.aspx%3FbankTransactionID%3D" in url
    assert "&accountID=" not in url


def test_without_a_shortcode_the_link_still_opens_the_transaction():
    url = blocks.xero_link(txn())
    assert (
        url == f"https://go.xero.com/Bank/ViewTransaction.aspx?bankTransactionID={TXN_ID}&accountID={BANK_ID}"
    )


def test_header_names_the_organisation_and_the_query():
    header = blocks.search_message(search_result())["blocks"][0]["text"]
    assert header["type"] == "plain_text"
    assert "Harbour Coffee Roasters" in header["text"] and "zephyr from:30d" in header["text"]
    assert "1 transaction found" in header["text"]


def test_receive_is_positive_and_reconciled_is_marked():
    row = _row_texts(blocks.search_message(search_result([txn(Type="RECEIVE", IsReconciled=True)])))[0]
    assert "· 1,234.56 NZD" in row and "✓ reconciled" in row


def test_edit_button_only_on_editable_rows_and_it_carries_tenant_txn_and_cursor():
    rows = [txn(), txn(Type="SPEND-TRANSFER", BankTransactionID="a0000000-0000-4000-8000-000000000001")]
    message = blocks.search_message(search_result(rows))
    assert_slack_accepts(message)
    edits = [b for b in _buttons(message) if b["action_id"] == ACTION_EDIT]
    assert len(edits) == 1
    assert EditRef.decode(edits[0]["value"]) == EditRef(TENANT_A, TXN_ID, "CURSOR1")
    assert "spend transfer" in _row_texts(message)[1]


def test_prev_and_next_carry_their_cursors_and_the_page_is_shown():
    message = blocks.search_message(
        search_result(
            page=2, has_prev=True, has_next=True, prev_cursor="P1", next_cursor="P3", this_cursor="P2"
        )
    )
    assert_slack_accepts(message)
    values = {b["text"]["text"]: b.get("value") for b in _buttons(message) if b["action_id"] != ACTION_EDIT}
    assert values == {"‹ Prev": "P1", "Next ›": "P3"}
    assert "page 2" in all_text(message) and "showing 11–11" in all_text(message)


def test_a_full_page_of_ten_rows_fits_in_a_message():
    rows = [txn(BankTransactionID=f"a0000000-0000-4000-8000-{i:012d}") for i in range(10)]
    message = blocks.search_message(search_result(rows, has_next=True, next_cursor="N" * 1900))
    assert_slack_accepts(message)
    assert len(message["blocks"]) <= 50


def test_no_results_say_so_and_suggest_widening():
    message = blocks.search_message(search_result([]))
    assert_slack_accepts(message)
    text = all_text(message)
    assert "No transactions match" in text and "from:365d" in text


def test_hostile_xero_data_is_plain_text_exactly_as_xero_has_it():
    evil = txn(Contact={"ContactID": "c", "Name": HOSTILE}, Reference=HOSTILE)
    result = search_result([evil], org=org(name="<!here> Org & Co"))
    message = blocks.search_message(result)
    assert_slack_accepts(message)
    one_line = HOSTILE.replace("\n", " ")
    plain = _plain_texts(message)
    assert any(one_line in t for t in plain)  # contact and reference: every character kept
    assert any("<!here> Org & Co" in t for t in plain)
    # Nothing of it reaches a mrkdwn object, where it could ping or link.
    mrkdwn = [b["text"]["text"] for b in message["blocks"] if b.get("text", {}).get("type") == "mrkdwn"]
    mrkdwn += [
        e["text"] for b in message["blocks"] for e in b.get("elements", []) if e.get("type") == "mrkdwn"
    ]
    for dangerous in ("<!channel>", "<!here>", "<https://evil.example|bank>", "&lt;!channel"):
        assert all(dangerous not in t for t in mrkdwn)
    assert "\u200b" not in json.dumps(message)
    # The notification text is mrkdwn: there the name is escaped.
    assert "<!here>" not in message["text"] and "&lt;!here&gt;" in message["text"]


def test_a_very_long_contact_or_reference_is_cut_not_rejected():
    long = txn(Contact={"ContactID": "c", "Name": "<" * 3000}, Reference="&" * 3000)
    message = blocks.search_message(search_result([long]))
    assert_slack_accepts(message)


# ------------------------------------------------------------------ help, consent, orgs
def test_help_lists_every_subcommand_and_the_syntax():
    message = blocks.help_message()
    assert_slack_accepts(message)
    text = all_text(message)
    for sub in ("connect", "orgs", "use", "search", "edit", "digest", "disconnect", "from:2024-01-01"):
        assert sub in text


def test_unknown_subcommand_is_named_safely():
    message = blocks.help_message(unknown="<!channel>")
    assert_slack_accepts(message)
    assert "I don't know `&lt;!channel&gt;`" in all_text(message)


@pytest.mark.parametrize("reconnect", [False, True])
def test_consent_message_is_a_url_button(reconnect):
    url = "https://login.xero.com/identity/connect/authorize?state=abc&scope=x"
    message = blocks.consent_message(url, reconnect=reconnect)
    assert_slack_accepts(message)
    (button,) = _buttons(message)
    assert button["url"] == url
    assert button["text"]["text"] == ("Reconnect to Xero" if reconnect else "Connect to Xero")
    assert button["action_id"].startswith("recon_link_")


def test_orgs_marks_the_default_and_offers_make_default_for_others():
    orgs = [org(), org("Kestrel <Design>", TENANT_B, is_default=False, grant_status="needs_reconnect")]
    message = blocks.orgs_message(orgs, consent_url="https://x.example/c")
    assert_slack_accepts(message)
    text = all_text(message)
    assert "Harbour Coffee Roasters · connected · default" in text
    assert "Kestrel <Design> · ⚠ needs reconnecting" in _plain_texts(message)
    make_default = [b for b in _buttons(message) if b["action_id"].startswith("recon_make_default")]
    assert [b["value"] for b in make_default] == [TENANT_B]


def test_consent_dm_names_the_organisations_with_make_default_buttons_when_several():
    orgs = [org(), org("Kestrel Design Studio", TENANT_B, is_default=False)]
    message = blocks.consent_success_dm(orgs)
    assert_slack_accepts(message)
    assert "Harbour Coffee Roasters and Kestrel Design Studio" in all_text(message)
    buttons = _buttons(message)
    assert [b["value"] for b in buttons] == [TENANT_B]
    single = blocks.consent_success_dm([org()])
    assert _buttons(single) == []


def test_many_organisations_still_make_a_valid_message():
    orgs = [org(f"Org {i}", f"t{i:04d}", is_default=i == 0) for i in range(80)]
    for message in (blocks.orgs_message(orgs, "https://x.example"), blocks.consent_success_dm(orgs)):
        assert_slack_accepts(message)


def test_disconnect_asks_with_a_confirm_dialog():
    message = blocks.disconnect_confirm_message("Acme & Co", ["Acme & Co"])
    assert_slack_accepts(message)
    danger = _buttons(message)[0]
    assert danger["style"] == "danger" and danger["confirm"]["confirm"]["text"] == "Disconnect"
    assert json.loads(danger["value"]) == {"o": "Acme & Co", "all": False}
    assert "digest" not in danger["confirm"]["text"]["text"]


def test_the_disconnect_dialog_names_the_digests_and_channels_it_removes():
    digests = [
        SimpleNamespace(tenant_name="Acme & Co", channel_id="C0BOOKS"),
        SimpleNamespace(tenant_name="Acme & Co", channel_id="C0FINANCE"),
    ]
    message = blocks.disconnect_confirm_message("Acme & Co", ["Acme & Co"], digests)
    assert_slack_accepts(message)
    dialog = _buttons(message)[0]["confirm"]["text"]["text"]
    assert "Daily digests stop: Acme &amp; Co in <#C0BOOKS> and Acme &amp; Co in <#C0FINANCE>." in dialog
    assert len(dialog) <= 300
    assert "<#C0FINANCE>" in all_text(message["blocks"][1])  # and in the message, before any press
    many = [SimpleNamespace(tenant_name=f"Org {i} " + "x" * 40, channel_id=f"C{i:08d}") for i in range(30)]
    assert_slack_accepts(blocks.disconnect_confirm_message(None, ["a"], many))


# ------------------------------------------------------------------ modal views
def test_loading_view_is_a_valid_modal():
    assert_slack_accepts(blocks.loading_view(), "modal")


def test_edit_view_prefills_raw_values_and_carries_the_version_seen():
    form = blocks.edit_view(txn(Reference="A & B <x>"), org(), META, FACTS)
    assert_slack_accepts(form, "modal")
    assert form["callback_id"] == VIEW_EDIT and form["submit"]["text"] == "Save"
    inputs = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert set(inputs) == {"reference", "url", "note"}
    # Input values are raw: escaping them would write "&amp;" back to Xero on save.
    assert inputs["reference"]["initial_value"] == "A & B <x>"
    assert inputs["url"]["initial_value"] == "https://docs.example.com/zp-4471"
    meta = EditMeta.decode(form["private_metadata"])
    assert meta.updated == UPDATED and meta.tenant_id == TENANT_A and meta.cursor == "CURSOR1"
    context = all_text(form["blocks"][2])
    assert "Harbour Coffee Roasters" in context
    # Xero's UpdatedDateUTC (09:30 UTC) in the organisation's zone.
    assert "last changed in Xero 20 Nov 2026 22:30 NZDT" in context


def test_edit_view_after_a_conflict_shows_what_was_typed_beside_xeros_values():
    typed = {"reference": "MINE *x*", "url": "https://example.com/mine", "note": "see invoice"}
    form = blocks.edit_view(txn(Reference="THEIRS"), org(), META.with_typed(typed), FACTS)
    assert_slack_accepts(form, "modal")
    assert any("Your edit, not saved: Reference MINE *x* · Source link https://example.com/mine" in t
               for t in _plain_texts(form))  # fmt: skip
    inputs = {b["block_id"]: b["element"] for b in form["blocks"] if b["type"] == "input"}
    assert inputs["reference"]["initial_value"] == "THEIRS"


def _outcome(kind, before=None, after=None, message="", history=False):
    return SimpleNamespace(kind=kind, before=before, after=after, message=message, history_added=history)


def test_saved_view_shows_before_and_after():
    before, after = txn(Reference="OLD-1"), txn(Reference="NEW-2")
    view = blocks.saved_view(
        _outcome("saved", before, after, "Saved: the reference was updated."), org(), META
    )
    assert_slack_accepts(view, "modal")
    text = all_text(view)
    assert "OLD-1 → NEW-2" in text and "Source link: https://docs.example.com/zp-4471 (unchanged)" in text


def test_saved_view_with_warnings_still_says_saved():
    view = blocks.saved_view(
        _outcome("saved", txn(Reference="OLD"), txn(Reference="NEW")), org(), META, FACTS, ["audit log lost"]
    )
    assert_slack_accepts(view, "modal")
    text = all_text(view)
    assert "✅ Saved in Harbour Coffee Roasters." in text and "⚠ audit log lost" in text
    assert "Nothing was changed" not in text


def test_conflict_view_shows_both_versions_changes_nothing_and_offers_a_reload():
    now = txn(Reference="THEIRS")
    view = blocks.conflict_view(
        _outcome("conflict", None, now), {"reference": "MINE", "url": ""}, META, FACTS
    )
    assert_slack_accepts(view, "modal")
    text = all_text(view)
    assert "nothing was changed" in text and "MINE" in text and "THEIRS" in text
    assert "Changed in Xero at 20 Nov 2026 22:30 NZDT" in text
    assert EditMeta.decode(view["private_metadata"]).typed == {"reference": "MINE", "url": "", "note": ""}
    assert [b["action_id"] for b in _buttons(view)] == [ACTION_EDIT_RELOAD]
    assert "submit" not in view


def test_message_view_escapes():
    view = blocks.message_view("Not editable: " + "<!channel>")
    assert_slack_accepts(view, "modal")


# ------------------------------------------------------------------ home
def test_home_for_a_new_user_offers_connect():
    view = blocks.home_view([], consent_url="https://x.example/c", needs_reconnect=False)
    assert_slack_accepts(view, "home")
    assert [b["text"]["text"] for b in _buttons(view)] == ["Connect to Xero"]


def test_home_shows_status_default_reconnect_and_digest_section():
    orgs = [org(grant_status="needs_reconnect"), org("Other", TENANT_B, is_default=False)]
    digest = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Daily digests*"}}]
    view = blocks.home_view(
        orgs, consent_url="https://x.example/c", needs_reconnect=True, digest_blocks=digest
    )
    assert_slack_accepts(view, "home")
    text = all_text(view)
    assert "needs reconnecting" in text and "· default" in text and "*Daily digests*" in text
    assert "Reconnect to Xero" in [b["text"]["text"] for b in _buttons(view)]


def test_home_with_a_huge_digest_section_stays_within_100_blocks():
    digest = [{"type": "divider"}] * 200
    orgs = [org(f"Org {i}", f"t{i:04d}", is_default=i == 0) for i in range(40)]
    view = blocks.home_view(
        orgs, consent_url="https://x.example/c", needs_reconnect=False, digest_blocks=digest
    )
    assert_slack_accepts(view, "home")


def test_a_search_cut_short_says_so_and_how_to_see_more():
    message = blocks.search_message(search_result(truncated=True))
    footer = message["blocks"][-1]["elements"][0]["text"]
    assert "stopped reading after 10,000 transactions" in footer and "narrow the search" in footer
    assert "stopped reading" not in str(blocks.search_message(search_result()))
