"""Button presses and the edit modal, with plain mocks: who acts, what opens, what the user sees."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from slack_sdk.errors import SlackApiError

from bot.services.errors import NotConnected, NotEditable, ServiceError
from bot.slack import actions, blocks, editing, events, kit
from bot.slack.handoff import AFTER_RESPONSE, Handoff
from bot.slack.mirror_blocks import with_progress
from bot.slack.refs import BLOCK_DM_DEFAULTS, DisconnectRef, EditMeta, EditRef
from tests.slack.fakes import (
    TENANT_A,
    TENANT_B,
    TXN_ID,
    UPDATED,
    all_text,
    assert_slack_accepts,
    org,
    search_result,
    services,
    txn,
)

CONSENT = "https://login.xero.example/authorize?state=s2"


def press(
    value="", *, user="U2", action_id="x", block_id="b", response_url="https://hooks.slack.com/a/1", view=None
):
    body = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "trigger_id": "trig-9",
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value}],
    }
    if response_url:
        body["response_url"] = response_url
    if view is not None:
        body["view"] = view
    return body


def client_with_view(view_id="V1", view_hash="h1"):
    client = Mock(name="client")
    client.views_open.return_value = {"view": {"id": view_id, "hash": view_hash}}
    return client


# ------------------------------------------------------------------ paging
def test_next_page_replaces_the_results_using_the_pressers_grant():
    svc = services()
    svc.search.page.return_value = search_result(page=2, has_prev=True, prev_cursor="P1")
    ack, respond = Mock(), Mock()
    actions.on_page(svc, Handoff(svc.executor), ack=ack, body=press("CUR2"), respond=respond)
    ack.assert_called_once_with()
    svc.search.page.assert_called_once_with("T1", "U2", "CUR2")
    reply = respond.call_args.kwargs
    assert reply["replace_original"] is True and "page 2" in all_text(reply)


def test_a_failed_page_leaves_the_results_and_says_why():
    svc = services()
    svc.search.page.side_effect = ServiceError("That page link is damaged — run the search again.")
    respond = Mock()
    actions.on_page(svc, Handoff(svc.executor), ack=Mock(), body=press("junk"), respond=respond)
    reply = respond.call_args.kwargs
    assert reply["replace_original"] is False and "damaged" in all_text(reply)


# ------------------------------------------------------------------ edit button
def test_edit_button_opens_at_once_and_loads_with_the_pressers_own_grant():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.load.return_value = SimpleNamespace(txn=txn(), org=org())
    client = client_with_view()
    value = EditRef(TENANT_A, TXN_ID, "CUR1").encode()
    actions.on_edit(
        svc, Handoff(svc.executor), ack=Mock(), body=press(value, user="U2"), client=client, respond=Mock()
    )
    client.views_open.assert_called_once()
    assert client.views_open.call_args.kwargs["trigger_id"] == "trig-9"
    svc.edit.load.assert_called_once_with("T1", "U2", TENANT_A, TXN_ID)
    update = client.views_update.call_args.kwargs
    meta = EditMeta.decode(update["view"]["private_metadata"])
    assert meta == EditMeta(TENANT_A, TXN_ID, UPDATED, "https://hooks.slack.com/a/1", "CUR1")
    assert_slack_accepts(update["view"], "modal")


def test_edit_button_without_a_connection_gets_consent_in_the_modal_which_waits_for_it():
    svc = services()
    svc.edit.load.side_effect = NotConnected(CONSENT)
    client = client_with_view()
    value = EditRef(TENANT_A, TXN_ID).encode()
    actions.on_edit(svc, Handoff(svc.executor), ack=Mock(), body=press(value), client=client, respond=Mock())
    view = client.views_update.call_args.kwargs["view"]
    assert_slack_accepts(view, "modal")
    assert CONSENT in all_text(view) and "I've connected" in all_text(view)
    # Remembered, so the consent callback can fill this very modal in.
    team, user, view_id, payload = svc.connect.wait_for_connection.call_args.args
    assert (team, user, view_id) == ("T1", "U2", "V1")
    assert EditMeta.decode(payload).txn_id == TXN_ID


def test_not_editable_is_said_in_the_modal_not_as_an_error_dialog():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.load.side_effect = NotEditable("This transaction is voided in Xero, so it can't be edited.")
    client = client_with_view()
    actions.on_edit(
        svc,
        Handoff(svc.executor),
        ack=Mock(),
        body=press(EditRef(TENANT_A, TXN_ID).encode()),
        client=client,
        respond=Mock(),
    )
    assert "voided" in all_text(client.views_update.call_args.kwargs["view"])


def test_a_tampered_edit_button_is_refused_without_opening_anything():
    svc = services()
    client, respond = client_with_view(), Mock()
    actions.on_edit(
        svc, Handoff(svc.executor), ack=Mock(), body=press('{"t":"x"}'), client=client, respond=respond
    )
    client.views_open.assert_not_called()
    assert "out of date or damaged" in all_text(respond.call_args.kwargs)


def test_an_expired_trigger_is_reported():
    svc = services()
    client, respond = Mock(), Mock()
    client.views_open.side_effect = SlackApiError(
        "trigger_expired", {"ok": False, "error": "trigger_expired"}
    )
    actions.on_edit(
        svc,
        Handoff(svc.executor),
        ack=Mock(),
        body=press(EditRef(TENANT_A, TXN_ID).encode()),
        client=client,
        respond=respond,
    )
    assert "Something went wrong" in all_text(respond.call_args.kwargs)


# ------------------------------------------------------------------ make default, disconnect
def test_make_default_from_the_dm_rebuilds_the_dm():
    svc = services()
    svc.connect.organisations.return_value = [
        org(is_default=False),
        org("Kestrel", TENANT_B, is_default=True),
    ]
    respond = Mock()
    body = press(TENANT_B, action_id="recon_make_default_0", block_id=BLOCK_DM_DEFAULTS)
    actions.on_make_default(svc, Handoff(svc.executor), ack=Mock(), body=body, client=Mock(), respond=respond)
    svc.connect.set_default.assert_called_once_with("T1", "U2", TENANT_B)
    reply = respond.call_args.kwargs
    assert reply["replace_original"] is True and "default organisation is Kestrel" in all_text(reply)


def test_make_default_on_a_connect_dm_keeps_how_far_the_first_read_got():
    """Pressed after the read finished: the DM's "✅ Read …" lines stay under the new default."""
    svc = services()
    svc.connect.organisations.return_value = [
        org(is_default=False),
        org("Kestrel", TENANT_B, is_default=True),
    ]
    read = kit.message("Read", [kit.section(kit.plain("✅ Read 1,500 transactions from Harbour."))])
    body = press(TENANT_B, action_id="recon_make_default_0", block_id=BLOCK_DM_DEFAULTS)
    before = blocks.consent_success_dm([org(), org("Kestrel", TENANT_B)])
    body["message"] = with_progress(before, read["blocks"])
    respond = Mock()
    actions.on_make_default(svc, Handoff(svc.executor), ack=Mock(), body=body, client=Mock(), respond=respond)
    text = all_text(respond.call_args.kwargs)
    assert "default organisation is Kestrel" in text and "✅ Read 1,500 transactions from Harbour." in text
    assert text.count("✅ Read") == 1


def test_make_default_from_home_republishes_home():
    svc = services()
    svc.connect.organisations.return_value = [org()]
    svc.connect.grants.return_value = []
    svc.connect.consent_url.return_value = CONSENT
    client = Mock()
    body = press(TENANT_A, response_url=None, view={"type": "home", "id": "VH"})
    actions.on_make_default(svc, Handoff(svc.executor), ack=Mock(), body=body, client=client, respond=Mock())
    assert client.views_publish.call_args.kwargs["user_id"] == "U2"


def test_make_default_of_an_org_that_is_not_yours_is_refused():
    svc = services()
    svc.connect.set_default.side_effect = ServiceError("That organisation isn't connected for you.")
    respond = Mock()
    actions.on_make_default(
        svc, Handoff(svc.executor), ack=Mock(), body=press(TENANT_B), client=Mock(), respond=respond
    )
    assert "isn't connected for you" in all_text(respond.call_args.kwargs)


def test_confirmed_disconnect_runs_and_reports_the_names():
    svc = services()
    svc.connect.disconnect.return_value = ["Harbour Coffee Roasters"]
    respond = Mock()
    body = press(DisconnectRef("Harbour").encode())
    actions.on_disconnect(svc, Handoff(svc.executor), ack=Mock(), body=body, respond=respond)
    svc.connect.disconnect.assert_called_once_with("T1", "U2", "Harbour")
    assert "Disconnected Harbour Coffee Roasters" in all_text(respond.call_args.kwargs)


def test_link_buttons_are_acked_and_ignored():
    ack = Mock()
    actions.on_link(ack)
    ack.assert_called_once_with()


# ------------------------------------------------------------------ the modal submission
def submission(reference="NEW-1", url="https://example.com/new", note="", meta=None):
    meta = meta or EditMeta(TENANT_A, TXN_ID, UPDATED, "https://hooks.slack.com/a/1", "CUR1")
    view = {
        "id": "V1",
        "hash": "h2",
        "type": "modal",
        "private_metadata": meta.encode(),
        "state": {
            "values": {
                "reference": {"reference": {"type": "plain_text_input", "value": reference}},
                "url": {"url": {"type": "plain_text_input", "value": url}},
                "note": {"note": {"type": "plain_text_input", "value": note or None}},
            }
        },
    }
    body = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U1", "username": "alice", "name": "alice"},
    }
    return body, view


def test_invalid_input_is_reported_in_the_ack_keyed_by_block_id():
    svc = services()
    body, view = submission(url="ftp://nope")
    ack = Mock()
    editing.handle_submission(
        svc, Handoff(svc.executor), ack=ack, body=body, view=view, client=Mock(), context=None
    )
    kwargs = ack.call_args.kwargs
    assert kwargs["response_action"] == "errors" and set(kwargs["errors"]) == {"url"}
    svc.edit.save.assert_not_called()


def outcome(kind, before=None, after=None, message="", history=False, warnings=()):
    return SimpleNamespace(
        kind=kind, before=before, after=after, message=message, history_added=history, warnings=warnings
    )


def test_valid_input_acks_saving_then_saves_with_the_version_seen_and_shows_the_result():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.save.return_value = outcome("saved", txn(Reference="OLD"), txn(Reference="NEW-1"), "Saved.")
    svc.search.page.return_value = search_result()
    body, view = submission(note="checked with supplier")
    ack, client, hooks = Mock(), Mock(), []
    editing.handle_submission(
        svc,
        Handoff(svc.executor),
        ack=ack,
        body=body,
        view=view,
        client=client,
        context={AFTER_RESPONSE: hooks},
    )
    assert ack.call_args.kwargs["response_action"] == "update"
    assert "Saving" in all_text(ack.call_args.kwargs["view"])
    svc.edit.save.assert_not_called()  # only once the ack is out
    hooks[0]()
    args, kwargs = svc.edit.save.call_args
    assert args == ("T1", "U1", "alice", TENANT_A, TXN_ID)
    assert kwargs == {
        "expected_updated": UPDATED,
        "reference": "NEW-1",
        "url": "https://example.com/new",
        "note": "checked with supplier",
    }
    final = client.views_update.call_args.kwargs
    assert final["view_id"] == "V1" and "OLD → NEW-1" in all_text(final["view"])
    # The fix is shown in the digests that list it, as the one who saved it.
    svc.digest.show_fix.assert_called_once()
    assert svc.digest.show_fix.call_args.kwargs["fixed_by"] == "U1"
    assert svc.digest.show_fix.call_args.kwargs["reference"] == "NEW-1"


def test_after_saving_the_search_message_is_refreshed_via_its_response_url(monkeypatch):
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.save.return_value = outcome("saved", txn(Reference="OLD"), txn(Reference="NEW-1"))
    svc.search.page.return_value = search_result()
    sent = []

    class Hook:
        def __init__(self, url):
            self.url = url

        def send(self, **kw):
            sent.append((self.url, kw))
            return SimpleNamespace(status_code=200)

    monkeypatch.setattr(editing, "WebhookClient", Hook)
    body, view = submission()
    editing.handle_submission(
        svc, Handoff(svc.executor), ack=Mock(), body=body, view=view, client=Mock(), context=None
    )
    svc.search.page.assert_called_once_with("T1", "U1", "CUR1")
    ((url, kw),) = sent
    assert url == "https://hooks.slack.com/a/1" and kw["replace_original"] is True


def test_conflict_changes_nothing_and_shows_both_versions():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.save.return_value = outcome("conflict", None, txn(Reference="THEIRS"), "Someone changed it.")
    body, view = submission(reference="MINE")
    client = Mock()
    editing.handle_submission(
        svc, Handoff(svc.executor), ack=Mock(), body=body, view=view, client=client, context=None
    )
    shown = client.views_update.call_args.kwargs["view"]
    text = all_text(shown)
    assert "MINE" in text and "THEIRS" in text and "nothing was changed" in text
    svc.search.page.assert_not_called()
    svc.digest.show_fix.assert_not_called()
    # What was typed travels with the conflict view, for "Reopen with Xero's current values".
    assert EditMeta.decode(shown["private_metadata"]).typed["reference"] == "MINE"
    # The time is the organisation's, not UTC.
    assert "NZDT" in text and "UTC" not in text


def test_a_failed_save_says_nothing_was_changed():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.save.side_effect = RuntimeError("boom")
    body, view = submission()
    client = Mock()
    editing.handle_submission(
        svc, Handoff(svc.executor), ack=Mock(), body=body, view=view, client=client, context=None
    )
    assert "Nothing was changed" in all_text(client.views_update.call_args.kwargs["view"])


def test_reload_fills_the_same_modal_with_xeros_current_values_beside_what_was_typed():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.load.return_value = SimpleNamespace(txn=txn(Reference="THEIRS"), org=org())
    typed = {"reference": "MINE", "url": "https://example.com/mine", "note": "matched to the invoice"}
    meta = EditMeta(TENANT_A, TXN_ID, UPDATED, None, None, typed)
    client = Mock()
    body = press(
        view={"id": "V1", "hash": "h3", "type": "modal", "private_metadata": meta.encode()}, response_url=None
    )
    actions.on_edit_reload(svc, Handoff(svc.executor), ack=Mock(), body=body, client=client)
    view = client.views_update.call_args.kwargs["view"]
    assert_slack_accepts(view, "modal")
    assert view["submit"]["text"] == "Save"
    assert "THEIRS" in [b["element"].get("initial_value") for b in view["blocks"] if b["type"] == "input"]
    text = all_text(view)
    assert "MINE" in text and "https://example.com/mine" in text and "matched to the invoice" in text
    # The form's own metadata no longer carries the old typing (a new save starts afresh).
    assert EditMeta.decode(view["private_metadata"]).typed is None


def test_a_reload_press_with_damaged_metadata_is_answered_in_the_modal():
    # Before: EditMeta.decode raised in the listener, Bolt logged it and the modal stayed put.
    svc = services()
    client = Mock()
    body = press(view={"id": "V1", "type": "modal", "private_metadata": "{not json"}, response_url=None)
    actions.on_edit_reload(svc, Handoff(svc.executor), ack=Mock(), body=body, client=client)
    view = client.views_update.call_args.kwargs["view"]
    assert client.views_update.call_args.kwargs["view_id"] == "V1"
    assert "out of date or damaged" in all_text(view)
    svc.edit.load.assert_not_called()


# ------------------------------------------------------------------ home
@pytest.mark.parametrize(("tab", "published"), [("home", True), ("messages", False)])
def test_home_is_published_only_for_the_home_tab(tab, published):
    svc = services()
    svc.connect.organisations.return_value = []
    svc.connect.grants.return_value = []
    svc.connect.consent_url.return_value = CONSENT
    client = Mock()
    events.on_app_home_opened(svc, event={"user": "U1", "tab": tab}, body={"team_id": "T1"}, client=client)
    assert client.views_publish.called is published
    if published:
        view = client.views_publish.call_args.kwargs["view"]
        assert_slack_accepts(view, "home")
        assert CONSENT in all_text(view)


def test_a_home_that_cannot_be_built_says_so_in_the_tab():
    # Before: the database error escaped the event listener; Bolt logged it and the tab stayed blank.
    svc = services()
    svc.connect.organisations.side_effect = RuntimeError("database is locked")
    client = Mock()
    events.on_app_home_opened(svc, event={"user": "U1", "tab": "home"}, body={"team_id": "T1"}, client=client)
    view = client.views_publish.call_args.kwargs["view"]
    assert_slack_accepts(view, "home")
    assert client.views_publish.call_args.kwargs["user_id"] == "U1"
    assert "Something went wrong on Recon's side (reference" in all_text(view)


def test_a_submission_that_fails_before_its_ack_is_answered_in_the_modal():
    # A view without an id (or any surprise before the ack) used to escape to Bolt's log.
    from bot.slack import views

    svc = services()
    body, view = submission()
    del view["id"]
    ack = Mock()
    views.on_edit_submitted(
        svc, Handoff(svc.executor), ack=ack, body=body, view=view, client=Mock(), context=None
    )
    kwargs = ack.call_args.kwargs
    assert kwargs["response_action"] == "update"
    assert_slack_accepts(kwargs["view"], "modal")
    assert "Something went wrong on Recon's side" in all_text(kwargs["view"])
    svc.edit.save.assert_not_called()


def test_saved_stays_saved_when_the_modal_notes_fail_afterwards():
    svc = services()
    svc.connect.require_tenant.return_value = org()
    svc.edit.save.return_value = outcome(
        "saved", txn(Reference="OLD"), txn(Reference="NEW-1"), "Saved.", warnings=("audit row lost",)
    )
    svc.digest.show_fix.side_effect = RuntimeError("slack down")
    body, view = submission(meta=EditMeta(TENANT_A, TXN_ID, UPDATED, None, None))
    client = Mock()
    editing.handle_submission(
        svc, Handoff(svc.executor), ack=Mock(), body=body, view=view, client=client, context=None
    )
    shown = [all_text(c.kwargs["view"]) for c in client.views_update.call_args_list]
    assert all("Nothing was changed" not in text for text in shown)
    assert "✅ Saved" in shown[-1] and "audit row lost" in shown[-1]
    assert "daily digest that lists this transaction couldn't be updated" in shown[-1]
