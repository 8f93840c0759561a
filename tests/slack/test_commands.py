"""/recon routing and each subcommand, with plain mocks for Bolt's ack/respond and the services."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

import pytest

from bot.services.connect import DisconnectPreview
from bot.services.errors import NotConnected, OrgAmbiguous
from bot.slack import commands
from bot.slack.commands import Command, handle_recon
from bot.slack.handoff import AFTER_RESPONSE, Handoff
from bot.xero.errors import RateLimited
from tests.slack.fakes import TENANT_B, TXN_ID, all_text, assert_slack_accepts, org, search_result, services

CONSENT = "https://login.xero.example/authorize?state=s1"


def make(svc=None, **kw) -> Command:
    svc = svc or services()
    return Command(
        services=svc,
        handoff=Handoff(svc.executor),
        ack=Mock(name="ack"),
        respond=Mock(name="respond"),
        client=Mock(name="client"),
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        trigger_id="trig-1",
        **kw,
    )


def acked(cmd: Command) -> dict:
    cmd.ack.assert_called_once()
    return cmd.ack.call_args.kwargs


def responded(cmd: Command) -> dict:
    cmd.respond.assert_called_once()
    return cmd.respond.call_args.kwargs


@pytest.mark.parametrize("text", ["", "help", "HELP", "   "])
def test_help_is_the_default(text):
    cmd = make()
    handle_recon(cmd, text)
    reply = acked(cmd)
    assert_slack_accepts(reply)
    assert "/recon search" in all_text(reply) and reply["response_type"] == "ephemeral"


def test_unknown_subcommand_says_so_and_shows_help():
    cmd = make()
    handle_recon(cmd, "frobnicate &lt;now&gt;")
    text = all_text(acked(cmd))
    assert "I don't know `frobnicate`" in text and "/recon search" in text


def test_connect_answers_with_a_fresh_consent_button_after_the_ack():
    svc = services()
    svc.connect.organisations.return_value = []
    svc.connect.consent_url.return_value = CONSENT
    cmd = make(svc)
    handle_recon(cmd, "connect")
    assert cmd.ack.call_args.kwargs == {}  # empty ack first: the state is written after it
    reply = responded(cmd)
    assert_slack_accepts(reply)
    assert CONSENT in all_text(reply) and "Connect to Xero" in all_text(reply)


def test_connect_offers_reconnect_when_the_grant_needs_it():
    svc = services()
    svc.connect.organisations.return_value = [org(grant_status="needs_reconnect")]
    svc.connect.consent_url.return_value = CONSENT
    cmd = make(svc)
    handle_recon(cmd, "connect")
    assert "Reconnect to Xero" in all_text(responded(cmd))


def test_orgs_without_connection_gives_the_consent_button():
    svc = services()
    svc.connect.organisations.return_value = []
    svc.connect.consent_url.return_value = CONSENT
    cmd = make(svc)
    handle_recon(cmd, "orgs")
    assert CONSENT in all_text(responded(cmd))


def test_use_matches_names_as_typed_not_as_slack_escaped_them():
    svc = services()
    svc.connect.use_org.return_value = org("Smith & Co", is_default=True)
    cmd = make(svc)
    handle_recon(cmd, 'use "Smith &amp; Co"')
    svc.connect.use_org.assert_called_once_with("T1", "U1", "Smith & Co")
    assert "✓ Smith & Co is now your default" in all_text(responded(cmd))


def test_use_ambiguous_lists_the_matches():
    svc = services()
    svc.connect.use_org.side_effect = OrgAmbiguous("de", [org("Demo A"), org("Demo B", TENANT_B)])
    cmd = make(svc)
    handle_recon(cmd, "use de")
    text = all_text(responded(cmd))
    assert "Demo A" in text and "Demo B" in text and "Type more of the name" in text


def test_use_without_a_name_explains_the_usage():
    cmd = make()
    handle_recon(cmd, "use")
    assert "/recon use <organisation name>" in all_text(acked(cmd)).replace("&lt;", "<").replace("&gt;", ">")


def test_search_acks_with_the_org_then_replaces_it_with_results():
    svc = services()
    svc.connect.default_org.return_value = org()
    svc.search.search.return_value = search_result()
    cmd = make(svc)
    handle_recon(cmd, "search zephyr from:30d")
    assert "Searching Harbour Coffee Roasters" in all_text(acked(cmd))
    svc.search.search.assert_called_once_with("T1", "U1", "zephyr from:30d")
    reply = responded(cmd)
    assert reply["replace_original"] is True
    assert_slack_accepts(reply)
    assert "Search results" in all_text(reply)


def test_search_work_waits_for_the_response_to_be_sent_when_the_web_layer_asks():
    svc = services()
    svc.connect.default_org.return_value = org()
    svc.search.search.return_value = search_result()
    hooks: list = []
    cmd = make(svc, context={AFTER_RESPONSE: hooks})
    handle_recon(cmd, "search zephyr")
    svc.search.search.assert_not_called()  # nothing runs before the ack has gone out
    assert len(hooks) == 1
    hooks[0]()
    svc.search.search.assert_called_once()


def test_search_syntax_error_is_answered_in_the_ack_with_the_syntax():
    svc = services()
    cmd = make(svc)
    handle_recon(cmd, "search from:2024-13-45")
    text = all_text(acked(cmd))
    assert "from:2024-13-45" in text and "Search syntax" in text
    svc.search.search.assert_not_called()


def test_search_without_a_connection_answers_with_the_consent_button():
    svc = services()
    svc.connect.default_org.return_value = None
    svc.search.search.side_effect = NotConnected(CONSENT)
    cmd = make(svc)
    handle_recon(cmd, "search zephyr")
    assert "Checking your Xero connection" in all_text(acked(cmd))
    reply = responded(cmd)
    assert CONSENT in all_text(reply) and reply["replace_original"] is True


def test_search_rate_limited_says_how_long_to_wait():
    svc = services()
    svc.connect.default_org.return_value = org()
    svc.search.search.side_effect = RateLimited(37)
    cmd = make(svc)
    handle_recon(cmd, "search zephyr")
    assert "try again in 37 s" in all_text(responded(cmd))


def test_search_with_an_org_that_is_not_one_of_yours_says_so_instead_of_searching_it():
    svc = services()
    svc.connect.organisations.return_value = [org(), org("Kestrel Design Studio", TENANT_B)]
    svc.connect.find_orgs.return_value = []
    cmd = make(svc)
    handle_recon(cmd, "search org:acme zephyr")
    text = all_text(acked(cmd))
    assert "Searching" not in text
    assert "No connected organisation matches “acme”" in text and "Kestrel Design Studio" in text
    svc.search.search.assert_not_called()


def test_a_database_failure_before_the_ack_is_answered_in_the_ack():
    # Before: _org_label's read raised inside the listener; Slack showed "dispatch_failed".
    svc = services()
    svc.connect.default_org.side_effect = RuntimeError("could not connect to server")
    cmd = make(svc)
    commands.run_guarded(cmd, "search zephyr")
    reply = acked(cmd)
    assert_slack_accepts(reply)
    assert "Something went wrong on Recon's side (reference" in all_text(reply)
    assert "could not connect" not in all_text(reply)
    svc.search.search.assert_not_called()


def test_any_failure_of_a_subcommand_is_answered(monkeypatch):
    # Before the ack: in the ack. After it: through the response_url. Never left for Bolt to log.
    def broken(cmd, args):
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.SUBCOMMANDS, "orgs", broken)
    cmd = make()
    commands.run_guarded(cmd, "orgs")
    assert "Something went wrong" in all_text(acked(cmd))

    def after_ack(cmd, args):
        cmd.ack()
        raise RuntimeError("boom")

    monkeypatch.setitem(commands.SUBCOMMANDS, "orgs", after_ack)
    cmd = make()
    commands.run_guarded(cmd, "orgs")
    cmd.ack.assert_called_once_with()
    assert "Something went wrong" in all_text(responded(cmd))


def test_edit_with_org_opens_the_modal_for_that_organisation():
    svc = services()
    svc.connect.resolve_org.return_value = org("Kestrel Design Studio", TENANT_B)
    svc.edit.load.return_value = Mock(txn=search_result().rows[0], org=org("Kestrel Design Studio", TENANT_B))
    cmd = make(svc)
    cmd.client.views_open.return_value = {"view": {"id": "V1", "hash": "h1"}}
    handle_recon(cmd, f'edit {TXN_ID} org:"Kestrel Design"')
    svc.connect.resolve_org.assert_called_once_with("T1", "U1", "Kestrel Design")
    svc.edit.load.assert_called_once_with("T1", "U1", TENANT_B, TXN_ID)


def test_search_with_org_names_the_matching_org_in_the_ack():
    svc = services()
    svc.connect.find_orgs.return_value = [org("Kestrel Design Studio", TENANT_B)]
    svc.search.search.return_value = search_result()
    cmd = make(svc)
    handle_recon(cmd, 'search org:"kes" zephyr')
    assert "Searching Kestrel Design Studio" in all_text(acked(cmd))


def test_unexpected_errors_reach_the_user_with_a_reference_and_no_internals():
    svc = services()
    svc.connect.default_org.return_value = org()
    svc.search.search.side_effect = KeyError("secret-internal-detail")
    cmd = make(svc)
    handle_recon(cmd, "search zephyr")
    text = all_text(responded(cmd))
    assert "Something went wrong on Recon's side" in text and "secret-internal-detail" not in text


@pytest.mark.parametrize("arg", ["", "12345", "not-a-guid"])
def test_edit_needs_a_transaction_id(arg):
    cmd = make()
    handle_recon(cmd, f"edit {arg}")
    assert "BankTransactionID" in all_text(acked(cmd))
    cmd.client.views_open.assert_not_called()


def test_edit_opens_the_modal_before_touching_xero_then_fills_it():
    svc = services()
    order: list[str] = []
    cmd = make(svc)
    cmd.client.views_open.side_effect = lambda **kw: (
        order.append("views.open") or {"view": {"id": "V1", "hash": "h1"}}
    )
    form = Mock(txn=search_result().rows[0], org=org())
    svc.edit.load.side_effect = lambda *a: order.append("xero") or form
    handle_recon(cmd, f"edit {TXN_ID.upper()}")
    assert order == ["views.open", "xero"]
    # No organisation named: the service looks in the default, then in the user's others.
    svc.edit.load.assert_called_once_with("T1", "U1", None, TXN_ID)
    update = cmd.client.views_update.call_args.kwargs
    assert update["view_id"] == "V1" and update["hash"] == "h1"
    assert_slack_accepts(update["view"], "modal")


def test_disconnect_asks_for_confirmation_first_naming_the_digests_it_removes():
    svc = services()
    svc.connect.organisations.return_value = [org()]
    digests = [SimpleNamespace(tenant_name="Harbour Coffee Roasters", channel_id="C0BOOKS")]
    svc.connect.disconnect_preview.return_value = DisconnectPreview(
        "Harbour Coffee Roasters", ["Harbour Coffee Roasters"], digests
    )
    cmd = make(svc)
    handle_recon(cmd, "disconnect harbour")
    svc.connect.disconnect_preview.assert_called_once_with("T1", "U1", "harbour")
    reply = responded(cmd)
    assert_slack_accepts(reply)
    assert "Disconnect Harbour Coffee Roasters from Recon?" in all_text(reply)
    dialog = reply["blocks"][-1]["elements"][0]["confirm"]["text"]["text"]
    assert "Daily digest stops: Harbour Coffee Roasters in <#C0BOOKS>." in dialog
    svc.connect.disconnect.assert_not_called()


def test_disconnect_with_nothing_connected_says_so():
    svc = services()
    svc.connect.organisations.return_value = []
    svc.connect.grants.return_value = []
    cmd = make(svc)
    handle_recon(cmd, "disconnect")
    assert "no Xero connection to remove" in all_text(responded(cmd))


def test_digest_is_delegated_when_the_module_exists(monkeypatch):
    module = Mock()
    monkeypatch.setattr(commands.importlib, "import_module", lambda name: module)
    svc = services()
    cmd = make(svc)
    handle_recon(cmd, "digest on #books 08:30")
    kwargs = module.handle_digest_command.call_args.kwargs
    assert kwargs["args"] == "on #books 08:30" and kwargs["channel_id"] == "C1" and kwargs["user_id"] == "U1"


def test_digest_without_the_module_answers_honestly(monkeypatch):
    def missing(name):
        raise ImportError(name)

    monkeypatch.setattr(commands.importlib, "import_module", missing)
    cmd = make()
    handle_recon(cmd, "digest on")
    assert "aren't available" in all_text(acked(cmd))
