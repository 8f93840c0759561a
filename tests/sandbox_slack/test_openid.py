"""The stand-in's Sign in with Slack behaves like Slack's, and Recon's client speaks it.

Browsers are ``requests.Session``s; the Web API side is called with slack_sdk, as the bot does.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import ManualClock, SlackSandbox
from bot.signin import SlackSignIn, SlackSignInError

REDIRECT = "https://recon.example.com/connect/slack"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ss(clock: ManualClock) -> Iterator[SlackSandbox]:
    with SlackSandbox(clock=clock, team_name="Harbour Books") as sandbox:
        sandbox.add_user("U0ALICE", "alice", real_name="Alice Ng", email="alice@example.com")
        sandbox.add_user("U0BOB", "bob", real_name="Bob Tane")
        sandbox.register_redirect_url(REDIRECT)
        yield sandbox


def browser(ss: SlackSandbox, user_id: str | None = "U0ALICE") -> requests.Session:
    session = requests.Session()
    if user_id:
        ss.sign_in(session, user_id)
    return session


def authorize(ss: SlackSandbox, session: requests.Session, **changes: str | None) -> requests.Response:
    params: dict[str, str | None] = {
        "response_type": "code",
        "scope": "openid profile",
        "client_id": ss.client_id,
        "redirect_uri": REDIRECT,
        "state": "S" * 43,
        "nonce": "N" * 43,
        "team": ss.team.team_id,
    }
    params.update(changes)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return session.get(f"{ss.openid_authorize_url}?{query}", allow_redirects=False, timeout=5)


def back(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(ss: SlackSandbox, issued: str, **changes: str | None):
    args = {
        "client_id": ss.client_id,
        "client_secret": ss.client_secret,
        "code": issued,
        "redirect_uri": REDIRECT,
    }
    args.update(changes)
    return WebClient(base_url=ss.api_url).openid_connect_token(**args)


# ------------------------------------------------------------------ authorize
def test_a_signed_in_browser_comes_back_with_a_code_and_the_state(ss: SlackSandbox):
    query = back(authorize(ss, browser(ss)))
    assert query["state"] == "S" * 43 and query["code"]
    assert ss.openid.visits[-1].user_id == "U0ALICE" and ss.openid.visits[-1].outcome == "code"


def test_a_browser_not_signed_in_gets_slacks_sign_in_page_and_can_sign_in(ss: SlackSandbox):
    session = browser(ss, None)
    page = authorize(ss, session)
    assert page.status_code == 200 and "Sign in to Slack" in page.text and "Bob Tane (@bob)" in page.text
    next_path = urlsplit(page.url).path + "?" + urlsplit(page.url).query
    signed = session.post(
        f"{ss.url}/sandbox/signin",
        data={"user": "U0BOB", "next": next_path},
        allow_redirects=False,
        timeout=5,
    )
    assert signed.status_code == 302 and signed.headers["Location"] == next_path
    query = back(session.get(ss.url + next_path, allow_redirects=False, timeout=5))
    assert query["code"] and ss.openid.visits[-1].user_id == "U0BOB"


def test_only_the_apps_client_id_and_registered_redirect_urls_are_accepted(ss: SlackSandbox):
    session = browser(ss)
    assert authorize(ss, session, client_id="999.999").status_code == 400
    assert authorize(ss, session, redirect_uri="https://evil.example/connect/slack").status_code == 400
    assert authorize(ss, session, redirect_uri=REDIRECT + "#x").status_code == 400
    assert back(authorize(ss, session, redirect_uri=REDIRECT + "/deeper"))["code"]  # a subdirectory is fine


@pytest.mark.parametrize("scope", ["profile", "openid chat:write", ""])
def test_sign_in_scopes_only_and_always_openid(ss: SlackSandbox, scope: str):
    assert back(authorize(ss, browser(ss), scope=scope)) == {"error": "invalid_scope", "state": "S" * 43}


def test_a_link_for_another_workspace_does_not_sign_in(ss: SlackSandbox):
    assert authorize(ss, browser(ss), team="T0ELSEWHERE").status_code == 400


def test_in_prompt_mode_cancel_comes_back_with_access_denied(ss: SlackSandbox):
    ss.openid.consent = "prompt"
    session = browser(ss)
    page = authorize(ss, session)
    assert page.status_code == 200 and "Alice Ng" in page.text and "Harbour Books" in page.text
    request_id = page.text.split("name='request_id' value='")[1].split("'")[0]
    denied = session.post(
        f"{ss.url}/openid/connect/authorize/consent",
        data={"request_id": request_id, "decision": "deny"},
        allow_redirects=False,
        timeout=5,
    )
    assert back(denied) == {"error": "access_denied", "state": "S" * 43}
    # The request is gone: Allow afterwards does nothing.
    again = session.post(
        f"{ss.url}/openid/connect/authorize/consent", data={"request_id": request_id, "decision": "allow"}
    )
    assert again.status_code == 400


# ------------------------------------------------------------------ openid.connect.token
def test_the_exchange_uses_http_basic_and_returns_an_id_token_with_slacks_claims(ss: SlackSandbox):
    code = back(authorize(ss, browser(ss), scope="openid profile email"))["code"]
    answer = exchange(ss, code)
    assert answer["ok"] and answer["token_type"] == "Bearer" and answer["access_token"].startswith("xoxp-")
    claims = jwt.decode(answer["id_token"], ss.client_secret, algorithms=["HS256"], audience=ss.client_id)
    assert claims["iss"] == "https://slack.com" and claims["sub"] == "U0ALICE"
    assert claims["https://slack.com/user_id"] == "U0ALICE"
    assert claims["https://slack.com/team_id"] == ss.team.team_id
    assert claims["nonce"] == "N" * 43 and claims["exp"] - claims["iat"] == 300
    assert claims["name"] == "Alice Ng" and claims["https://slack.com/team_name"] == "Harbour Books"
    assert claims["email"] == "alice@example.com"
    (call,) = ss.calls_to("openid.connect.token")
    assert call.client_auth == "basic" and call.token is None and "client_secret" not in call.params


def test_without_profile_there_are_no_names(ss: SlackSandbox):
    code = back(authorize(ss, browser(ss), scope="openid"))["code"]
    claims = jwt.decode(exchange(ss, code)["id_token"], options={"verify_signature": False})
    assert "name" not in claims and "https://slack.com/team_name" not in claims and "email" not in claims


def test_a_code_works_once(ss: SlackSandbox):
    code = back(authorize(ss, browser(ss)))["code"]
    exchange(ss, code)
    with pytest.raises(SlackApiError) as err:
        exchange(ss, code)
    assert err.value.response["error"] == "invalid_code"


def test_a_code_expires_after_ten_minutes(ss: SlackSandbox, clock: ManualClock):
    code = back(authorize(ss, browser(ss)))["code"]
    clock.advance(601)
    with pytest.raises(SlackApiError) as err:
        exchange(ss, code)
    assert err.value.response["error"] == "invalid_code"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"client_secret": "wrong"}, "bad_client_secret"),
        ({"client_id": "999.999"}, "invalid_client_id"),
        ({"redirect_uri": "https://recon.example.com/other"}, "bad_redirect_uri"),
        ({"code": "made-up"}, "invalid_code"),
        ({"grant_type": "refresh_token"}, "invalid_grant_type"),
    ],
)
def test_the_exchange_refuses_what_slack_refuses(ss: SlackSandbox, changes, error):
    code = back(authorize(ss, browser(ss)))["code"]
    with pytest.raises(SlackApiError) as err:
        exchange(ss, code, **changes)
    assert err.value.response["error"] == error


def test_client_credentials_may_also_come_as_form_fields(ss: SlackSandbox):
    code = back(authorize(ss, browser(ss)))["code"]
    form = {
        "client_id": ss.client_id,
        "client_secret": ss.client_secret,
        "code": code,
        "redirect_uri": REDIRECT,
    }
    answer = requests.post(f"{ss.api_url}openid.connect.token", data=form, timeout=5).json()
    assert answer["ok"] and answer["id_token"]
    assert ss.calls_to("openid.connect.token")[-1].client_auth == "post"


def test_the_id_tokens_clock_can_follow_the_harness(ss: SlackSandbox):
    ss.openid.id_token_clock = lambda: 2_000_000_000.0
    code = back(authorize(ss, browser(ss)))["code"]
    claims = jwt.decode(exchange(ss, code)["id_token"], options={"verify_signature": False})
    assert claims["iat"] == 2_000_000_000


# ------------------------------------------------------------------ Recon's client against it
def signin_client(ss: SlackSandbox, **changes) -> SlackSignIn:
    options = {
        "client_id": ss.client_id,
        "client_secret": ss.client_secret,
        "redirect_uri": REDIRECT,
        "authorize_url": ss.openid_authorize_url,
        "api_url": ss.api_url,
    }
    options.update(changes)
    return SlackSignIn(**options)


def test_recons_client_builds_the_authorize_url_and_exchanges_the_code(ss: SlackSandbox):
    client = signin_client(ss)
    session = browser(ss)
    url = client.authorize_url(state="S" * 43, nonce="N" * 43, team=ss.team.team_id)
    query = back(session.get(url, allow_redirects=False, timeout=5))
    claims = jwt.decode(client.exchange(query["code"]), options={"verify_signature": False})
    assert claims["https://slack.com/user_id"] == "U0ALICE" and claims["nonce"] == "N" * 43
    assert claims["https://slack.com/team_name"] == "Harbour Books"  # profile was asked for
    assert client._client_secret not in repr(client)


def test_recons_client_reports_slacks_error_and_an_unreachable_slack(ss: SlackSandbox):
    with pytest.raises(SlackSignInError) as err:
        signin_client(ss).exchange("made-up")
    assert err.value.code == "invalid_code"
    with pytest.raises(SlackSignInError) as err:
        signin_client(ss, client_secret="wrong").exchange("made-up")
    assert err.value.code == "bad_client_secret"
    gone = signin_client(ss, api_url="http://127.0.0.1:9/api/")
    with pytest.raises(SlackSignInError) as err:
        gone.exchange("x")
    assert err.value.code == "unreachable"
