"""The sign-in steps on a real database, with Slack's side played by a stub that answers with
crafted ID tokens (the stand-in always answers truthfully; these are the answers it never gives).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from unittest.mock import Mock
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from bot.services.connect import ConnectService
from bot.services.errors import ConsentFailed
from bot.services.signin import SignInService
from bot.signin import SlackSignIn, SlackSignInError
from bot.xero.oauth import XeroOAuth

CLIENT_ID = "1000000001.2000000002"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
XERO_AUTHORIZE = "https://login.test/identity/connect/authorize"


class StubSlack(SlackSignIn):
    """Real authorize URLs; ``exchange`` answers with whatever token the test makes from the nonce."""

    def __init__(self) -> None:
        super().__init__(
            client_id=CLIENT_ID,
            client_secret="s" * 32,
            redirect_uri="https://recon.example.com/connect/slack",
            authorize_url="https://slack.test/openid/connect/authorize",
            api_url="http://127.0.0.1:9/api/",
        )
        self.claims: dict[str, Any] = {}
        self.failure: SlackSignInError | None = None
        self.codes: list[str] = []

    def exchange(self, code: str) -> str:
        self.codes.append(code)
        if self.failure:
            raise self.failure
        return jwt.encode(self.claims, "k" * 32, algorithm="HS256")


@pytest.fixture
def slack() -> StubSlack:
    return StubSlack()


@pytest.fixture
def flow(db, slack):
    oauth = XeroOAuth(
        client_id="xero-client",
        client_secret="xero-secret",
        redirect_uri="https://recon.example.com/xero/callback",
        scopes=("openid", "offline_access"),
        authorize_url=XERO_AUTHORIZE,
    )
    connect = ConnectService(
        db,
        oauth,
        Mock(name="xero"),
        Mock(name="tokens"),
        client_id="xero-client",
        start_url="https://recon.example.com/connect/start",
        now=lambda: NOW,
    )
    return connect, SignInService(db, slack, connect, now=lambda: NOW)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def to_slack(flow, user: str = "U0ALICE", browser: str | None = None):
    connect, signin = flow
    link = connect.consent_url("T0RECON", user)
    assert link.startswith("https://recon.example.com/connect/start?state=")
    step = signin.start(state=query(link)["state"], browser=browser)
    return step, query(step.location)


def signed_in_as(slack: StubSlack, sent: dict[str, str], **changes: Any) -> None:
    now = int(NOW.timestamp())
    slack.claims = {
        "iss": "https://slack.com",
        "sub": "U0ALICE",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "nonce": sent["nonce"],
        "https://slack.com/user_id": "U0ALICE",
        "https://slack.com/team_id": "T0RECON",
        "name": "Alice Ng",
        "https://slack.com/team_name": "Recon Demo",
        **changes,
    }


def back(flow, sent: dict[str, str], browser: str, **changes: Any):
    _connect, signin = flow
    return signin.finish(
        code=changes.get("code", "CODE"),
        state=changes.get("state", sent["state"]),
        error=None,
        browser=browser,
    )


def test_the_owner_goes_on_to_xero_bound_to_the_same_browser(flow, slack):
    step, sent = to_slack(flow)
    assert sent["team"] == "T0RECON" and sent["scope"] == "openid profile" and len(sent["nonce"]) == 43
    assert sent["redirect_uri"] == "https://recon.example.com/connect/slack"
    signed_in_as(slack, sent)
    onward = back(flow, sent, step.browser)
    assert onward.location.startswith(XERO_AUTHORIZE) and onward.browser == step.browser
    assert slack.codes == ["CODE"]


def test_a_browser_that_has_a_binding_keeps_it_and_one_that_has_none_gets_a_fresh_one(flow):
    kept, _ = to_slack(flow, browser="K" * 43)
    fresh, _ = to_slack(flow, browser="not-a-binding")
    assert kept.browser == "K" * 43 and fresh.browser != "not-a-binding" and len(fresh.browser) == 43


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"https://slack.com/user_id": "U0BOB", "sub": "U0BOB"}, "other_user"),
        ({"https://slack.com/team_id": "T0OTHER"}, "other_user"),
        ({"nonce": "x" * 43}, "slack_error"),
        ({"aud": "someone-else"}, "slack_error"),
        ({"iss": "https://evil.example"}, "slack_error"),
        ({"exp": int(NOW.timestamp()) - 3600, "iat": int(NOW.timestamp()) - 3900}, "slack_error"),
        ({"https://slack.com/user_id": None}, "slack_error"),
    ],
)
def test_a_token_that_fails_any_check_goes_nowhere(flow, slack, changes, reason):
    step, sent = to_slack(flow)
    signed_in_as(slack, sent, **changes)
    with pytest.raises(ConsentFailed) as err:
        back(flow, sent, step.browser)
    assert err.value.reason == reason
    if reason == "other_user":
        assert str(err.value) == "This link was made for another Slack user — run `/recon connect` yourself."
    # The step is spent: coming back again is "already used", and Slack is not asked twice.
    with pytest.raises(ConsentFailed) as again:
        back(flow, sent, step.browser)
    assert again.value.reason == "used" and slack.codes == ["CODE"]


def test_another_browser_is_refused_before_slack_is_asked(flow, slack):
    for browser in (None, "Z" * 43):
        _step, sent = to_slack(flow)
        signed_in_as(slack, sent)
        with pytest.raises(ConsentFailed) as err:
            back(flow, sent, browser)
        assert err.value.reason == "other_browser"
    assert slack.codes == []


@pytest.mark.parametrize(
    ("error", "reason"), [("access_denied", "slack_cancelled"), ("invalid_scope", "slack_error")]
)
def test_slacks_error_answers_spend_the_step(flow, error, reason):
    _connect, signin = flow
    step, sent = to_slack(flow)
    with pytest.raises(ConsentFailed) as err:
        signin.finish(code=None, state=sent["state"], error=error, browser=step.browser)
    assert err.value.reason == reason
    with pytest.raises(ConsentFailed) as again:
        signin.finish(code="CODE", state=sent["state"], error=None, browser=step.browser)
    assert again.value.reason == "used"


@pytest.mark.parametrize(
    ("code", "reason"), [("invalid_code", "slack_error"), ("unreachable", "slack_error")]
)
def test_a_failed_exchange_is_a_clear_refusal(flow, slack, code, reason):
    step, sent = to_slack(flow)
    slack.failure = SlackSignInError(code)
    with pytest.raises(ConsentFailed) as err:
        back(flow, sent, step.browser)
    assert err.value.reason == reason and "/recon connect" in str(err.value)


def test_the_connect_links_state_is_spent_by_the_start_and_works_nowhere_else(flow):
    connect, signin = flow
    state = query(connect.consent_url("T0RECON", "U0ALICE"))["state"]
    with pytest.raises(ConsentFailed) as err:
        signin.finish(code="CODE", state=state, error=None, browser="B" * 43)  # not a sign-in state
    assert err.value.reason == "invalid"
    with pytest.raises(ConsentFailed) as err:
        connect.complete_consent(code="CODE", state=state, error=None, browser="B" * 43)  # nor Xero's
    assert err.value.reason == "invalid"
    signin.start(state=state, browser=None)
    with pytest.raises(ConsentFailed) as err:
        signin.start(state=state, browser=None)
    assert err.value.reason == "used"


def test_an_expired_connect_link_says_so(db, flow):
    connect, _ = flow
    state = query(connect.consent_url("T0RECON", "U0ALICE"))["state"]
    later = SignInService(db, StubSlack(), connect, now=lambda: datetime(2026, 12, 1, 9, 11, tzinfo=UTC))
    with pytest.raises(ConsentFailed) as err:
        later.start(state=state, browser=None)
    assert err.value.reason == "expired" and "10 minutes" in str(err.value)
