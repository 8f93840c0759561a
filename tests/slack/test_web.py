"""The WSGI app's own routes (the consent callback pages, health, Socket Mode) and start-up checks."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

import pytest
from slack_sdk import WebClient
from sqlalchemy import create_engine
from werkzeug.test import Client

from bot.sandbox.slack import SlackSandbox
from bot.services.errors import ConsentFailed
from bot.slack.app import Identity
from bot.web import MAX_SLACK_BODY, ReconWeb, _check_slack
from tests.slack.fakes import TENANT_B, org, services


def web(svc=None, bolt=None, client=None) -> tuple[Client, ReconWeb]:
    app = ReconWeb(svc or services(), bolt, client or Mock(name="client"))
    return Client(app), app


def consent_result():
    grant = SimpleNamespace(slack_team_id="T1", slack_user_id="U1")
    tenants = [org(), org("Kestrel & Sons", TENANT_B, is_default=False)]
    return SimpleNamespace(grant=grant, tenants=tenants, added=tenants, created=True)


def test_success_page_names_the_organisations_and_dms_the_user():
    svc = services()
    svc.connect.complete_consent.return_value = consent_result()
    svc.connect.organisations.return_value = consent_result().tenants
    svc.connect.grants.return_value = []
    svc.connect.consent_url.return_value = "https://x.example/c"
    client = Mock()
    http, _ = web(svc, client=client)
    page = http.get("/xero/callback?code=THE-CODE&state=THE-STATE")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Harbour Coffee Roasters" in text and "Kestrel &amp; Sons" in text
    assert "You can close this tab and return to Slack" in text and "slack://open?team=T1" in text
    assert "THE-CODE" not in text and "THE-STATE" not in text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    svc.connect.complete_consent.assert_called_once_with(code="THE-CODE", state="THE-STATE", error=None)
    dm = client.chat_postMessage.call_args.kwargs
    assert dm["channel"] == "U1" and "Kestrel" in dm["text"]
    client.views_publish.assert_called_once()


@pytest.mark.parametrize(
    ("reason", "status", "title"),
    [
        ("cancelled", 200, "Nothing was connected"),
        ("expired", 400, "This link has expired"),
        ("used", 400, "This link was already used"),
        ("invalid", 400, "This link isn"),
        ("xero_error", 502, "Xero couldn"),
    ],
)
def test_failed_consent_pages(reason, status, title):
    svc = services()
    svc.connect.complete_consent.side_effect = ConsentFailed(reason, "It didn't work. Run `/recon connect`.")
    http, _ = web(svc)
    page = http.get("/xero/callback?code=c&state=<script>")
    text = page.get_data(as_text=True)
    assert page.status_code == status and title in text
    assert "<code>/recon connect</code>" in text and "<script>" not in text


def test_an_unexpected_callback_failure_is_a_page_not_a_traceback():
    svc = services()
    svc.connect.complete_consent.side_effect = RuntimeError("db down: password=hunter2")
    http, _ = web(svc)
    page = http.get("/xero/callback?code=c&state=s")
    assert page.status_code == 500 and "hunter2" not in page.get_data(as_text=True)


def test_health_reports_the_database(tmp_path):
    http, _ = web(services(db=SimpleNamespace(engine=create_engine(f"sqlite:///{tmp_path / 'ok.db'}"))))
    assert http.get("/healthz").json == {"status": "ok"}
    missing = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    http, _ = web(services(db=SimpleNamespace(engine=missing)))
    answer = http.get("/healthz")
    assert answer.status_code == 503 and answer.json["status"] == "unavailable"


def test_socket_mode_serves_no_slack_endpoint():
    http, _ = web(bolt=None)
    assert http.post("/slack/events", data="x").status_code == 404


def test_oversized_slack_bodies_are_refused_unread():
    bolt = Mock()
    http, _ = web(bolt=bolt)
    answer = http.post("/slack/events", data=b"x" * (MAX_SLACK_BODY + 1))
    assert answer.status_code == 413
    bolt.dispatch.assert_not_called()


def test_a_head_request_does_not_spend_the_consent_link():
    svc = services()
    http, _ = web(svc)
    assert http.head("/xero/callback?code=c&state=s").status_code == 200
    svc.connect.complete_consent.assert_not_called()


def test_wrong_methods_and_paths():
    http, _ = web(bolt=Mock())
    assert http.get("/slack/events").status_code == 405
    assert http.post("/xero/callback").status_code == 405
    assert http.get("/").status_code == 404


def test_start_up_check_names_a_rejected_token_and_an_unreachable_slack():
    with SlackSandbox() as slack:
        wrong = Identity(WebClient(token="xoxb-wrong", base_url=slack.api_url))
        problem = _check_slack(wrong, SimpleNamespace(slack_api_url=slack.api_url))
        assert problem is not None and "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in problem
        right = Identity(WebClient(token=slack.bot_token, base_url=slack.api_url))
        assert _check_slack(right, SimpleNamespace(slack_api_url=slack.api_url)) is None
        assert right.get().user_id == slack.team.bot_user_id
    gone = Identity(WebClient(token="xoxb-x", base_url=slack.api_url, timeout=2))
    problem = _check_slack(gone, SimpleNamespace(slack_api_url=slack.api_url))
    assert problem is not None and "can't reach Slack" in problem
