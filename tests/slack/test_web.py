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


def web(svc=None, bolt=None, client=None, *, secure_cookies=False) -> tuple[Client, ReconWeb]:
    app = ReconWeb(svc or services(), bolt, client or Mock(name="client"), secure_cookies=secure_cookies)
    return Client(app), app


def consent_result(**names):
    grant = SimpleNamespace(slack_team_id="T1", slack_user_id="U1")
    tenants = [org(), org("Kestrel & Sons", TENANT_B, is_default=False)]
    holder = {"slack_user_name": "Alice <Ng>", "slack_team_name": "Recon Demo", **names}
    return SimpleNamespace(grant=grant, tenants=tenants, added=tenants, created=True, **holder)


def test_success_page_names_the_organisations_and_dms_the_user():
    svc = services()
    svc.connect.complete_consent.return_value = consent_result()
    svc.connect.organisations.return_value = consent_result().tenants
    svc.connect.grants.return_value = []
    svc.connect.consent_url.return_value = "https://x.example/c"
    client = Mock()
    http, _ = web(svc, client=client)
    http.set_cookie("recon_connect", "THE-BROWSER")
    page = http.get("/xero/callback?code=THE-CODE&state=THE-STATE")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Connected for <strong>Alice &lt;Ng&gt;</strong> in <strong>Recon Demo</strong>" in text
    assert "Harbour Coffee Roasters" in text and "Kestrel &amp; Sons" in text
    assert "You can close this tab and return to Slack" in text and "slack://open?team=T1" in text
    assert "THE-CODE" not in text and "THE-STATE" not in text
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    assert "THE-BROWSER" not in text
    svc.connect.complete_consent.assert_called_once_with(
        code="THE-CODE", state="THE-STATE", error=None, browser="THE-BROWSER"
    )
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


def test_the_success_page_names_the_slack_ids_when_slack_sent_no_names():
    svc = services()
    svc.connect.complete_consent.return_value = consent_result(slack_user_name=None, slack_team_name=None)
    http, _ = web(svc)
    text = http.get("/xero/callback?code=c&state=s").get_data(as_text=True)
    assert "Connected for <strong>Slack user U1</strong> in <strong>workspace T1</strong>" in text


@pytest.mark.parametrize(
    "path", ["/connect/start?state=s", "/connect/slack?code=c&state=s", "/xero/callback?code=c&state=s"]
)
def test_a_head_request_does_not_spend_the_consent_link(path):
    svc = services()
    http, _ = web(svc)
    assert http.head(path).status_code == 200
    svc.connect.complete_consent.assert_not_called()
    svc.signin.start.assert_not_called()
    svc.signin.finish.assert_not_called()


def test_wrong_methods_and_paths():
    http, _ = web(bolt=Mock())
    assert http.get("/slack/events").status_code == 405
    assert http.post("/xero/callback").status_code == 405
    assert http.post("/connect/start").status_code == 405
    assert http.put("/connect/slack").status_code == 405
    assert http.get("/").status_code == 404


# ---------------------------------------------------------------------- Sign in with Slack
def test_the_start_route_sends_the_browser_to_slack_with_its_binding_cookie():
    svc = services()
    svc.signin.start.return_value = SimpleNamespace(
        location="https://slack.test/authorize?x=1", browser="B" * 43
    )
    http, _ = web(svc)
    answer = http.get("/connect/start?state=S1")
    assert answer.status_code == 302 and answer.headers["Location"] == "https://slack.test/authorize?x=1"
    svc.signin.start.assert_called_once_with(state="S1", browser=None)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("recon_connect=" + "B" * 43)
    assert (
        "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie and "Max-Age=1800" in cookie
    )
    assert (
        answer.headers["Referrer-Policy"] == "no-referrer" and answer.headers["Cache-Control"] == "no-store"
    )


def test_on_https_the_cookie_is_secure_host_only_and_survives_a_cross_site_post():
    svc = services()
    svc.signin.start.return_value = SimpleNamespace(location="https://slack.test/a", browser="B" * 43)
    http, _ = web(svc, secure_cookies=True)
    cookie = http.get("/connect/start?state=S1").headers["Set-Cookie"]
    assert cookie.startswith("__Host-recon_connect=") and "Secure" in cookie and "SameSite=None" in cookie
    assert "Domain" not in cookie


def test_a_browser_that_already_has_a_binding_keeps_it():
    svc = services()
    svc.signin.start.return_value = SimpleNamespace(location="https://slack.test/a", browser="C" * 43)
    http, _ = web(svc)
    http.set_cookie("recon_connect", "C" * 43)
    http.get("/connect/start?state=S1")
    svc.signin.start.assert_called_once_with(state="S1", browser="C" * 43)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_slacks_callback_passes_code_state_and_cookie_and_goes_on_to_xero(method):
    svc = services()
    svc.signin.finish.return_value = SimpleNamespace(
        location="https://xero.test/authorize?s=3", browser="B" * 43
    )
    http, _ = web(svc)
    http.set_cookie("recon_connect", "B" * 43)
    if method == "GET":
        answer = http.get("/connect/slack?code=CODE&state=S2")
    else:
        answer = http.post("/connect/slack", data={"code": "CODE", "state": "S2"})
    assert answer.status_code == 302 and answer.headers["Location"] == "https://xero.test/authorize?s=3"
    svc.signin.finish.assert_called_once_with(code="CODE", state="S2", error=None, browser="B" * 43)


@pytest.mark.parametrize(
    ("reason", "status", "title"),
    [
        ("other_user", 403, "This link was made for someone else"),
        ("other_browser", 400, "Open the link in the browser you started in"),
        ("slack_cancelled", 200, "Nothing was connected"),
        ("slack_error", 502, "Slack couldn"),
        ("used", 400, "This link was already used"),
    ],
)
def test_sign_in_refusals_are_pages_that_say_why_and_go_nowhere(reason, status, title):
    svc = services()
    message = "This link was made for another Slack user — run `/recon connect` yourself."
    svc.signin.finish.side_effect = ConsentFailed(reason, message)
    svc.signin.start.side_effect = ConsentFailed(reason, message)
    http, _ = web(svc)
    for answer in (http.get("/connect/slack?code=c&state=<b>"), http.get("/connect/start?state=<b>")):
        text = answer.get_data(as_text=True)
        assert answer.status_code == status and title in text
        assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers
        assert "another Slack user — run <code>/recon connect</code> yourself" in text and "<b>" not in text


def test_an_unexpected_sign_in_failure_is_a_page_not_a_traceback():
    svc = services()
    svc.signin.finish.side_effect = RuntimeError("secret=hunter2")
    http, _ = web(svc)
    answer = http.get("/connect/slack?code=c&state=s")
    assert answer.status_code == 500 and "hunter2" not in answer.get_data(as_text=True)


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
