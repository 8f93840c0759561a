"""A Connect link connects only the Slack user it was made for (issue 11 §1), over real sockets.

Each browser here is a real ``requests.Session`` signed in to the Slack stand-in as somebody;
Recon, Slack's OpenID Connect side and Xero's consent talk over 127.0.0.1 exactly as in
production. What counts is what a user would notice: the page they land on, whether Xero was
ever asked (the sandbox's request log), and whether a grant was stored (the database).
"""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from sqlalchemy import text

from bot.demo.browser import parse_page
from bot.demo.stack import Stack
from tests.e2e.helpers import buttons, ephemeral_with

pytestmark = pytest.mark.slow

OTHER_USER = "This link was made for another Slack user — run <code>/recon connect</code> yourself."


def connect_link(stack: Stack, user) -> str:
    user.command("/recon", "connect")
    return buttons(ephemeral_with(stack, user, "Connect to Xero"), "recon_link_connect")[0]["url"]


def xero_consents_asked(stack: Stack) -> int:
    return sum(1 for r in stack.xero.requests if r["path"].endswith("/identity/connect/authorize"))


def stored_grants(stack: Stack, *users) -> int:
    ids = [u.id for u in users]
    with stack.services.db.engine.connect() as conn:
        rows = conn.execute(text("SELECT slack_user_id FROM grants")).scalars().all()
    return sum(1 for r in rows if r in ids)


def walk(browser: requests.Session, url: str, *, until: str) -> str:
    """Follow redirects one hop at a time and stop *before* opening a URL containing ``until``."""
    for _ in range(10):
        answer = browser.get(url, allow_redirects=False, timeout=10)
        assert answer.status_code in (301, 302, 303), (answer.status_code, answer.text[:300])
        url = urljoin(url, answer.headers["Location"])
        if until in url:
            return url
    raise AssertionError(f"never reached {until}")


# ------------------------------------------------------------------ the forwarded link
def test_a_forwarded_connect_link_reaches_neither_xero_nor_a_grant(stack: Stack, person):
    mallory, bookkeeper = person("mallory"), person("keeper")
    link = connect_link(stack, mallory)  # "click to set up Recon"
    asked = xero_consents_asked(stack)

    page = stack.follow_consent(link, bookkeeper)  # opened by a browser signed in as the bookkeeper

    assert page.status_code == 403
    assert "This link was made for someone else" in page.text and OTHER_USER in page.text
    assert urlsplit(page.url).path == "/connect/slack"  # Recon stopped it on Slack's way back
    assert xero_consents_asked(stack) == asked  # nothing reached Xero's consent
    assert stored_grants(stack, mallory, bookkeeper) == 0  # and nothing was stored for anyone
    assert stack.slack.dms(mallory.id) == [] and stack.slack.dms(bookkeeper.id) == []
    # The link is spent: not even its maker can use it now.
    again = stack.follow_consent(link, mallory)
    assert again.status_code == 400 and "already been used" in again.text
    assert xero_consents_asked(stack) == asked and stored_grants(stack, mallory) == 0


def test_the_owners_own_browser_completes_and_the_page_names_who_holds_it(stack: Stack, person):
    owner = person("owner")
    link = connect_link(stack, owner)
    asked = xero_consents_asked(stack)

    page = stack.follow_consent(link, owner)

    assert page.status_code == 200 and urlsplit(page.url).path == "/xero/callback"
    holder = (
        f"Connected for <strong>{owner.user.real_name}</strong> in <strong>{stack.slack.team_name}</strong>"
    )
    assert holder in page.text
    assert [urlsplit(r.url).path for r in page.history] == [
        "/connect/start",
        "/openid/connect/authorize",
        "/connect/slack",
        "/identity/connect/authorize",
    ]
    assert xero_consents_asked(stack) == asked + 1
    assert stored_grants(stack, owner) == 1
    (exchange,) = [c for c in stack.slack.calls_to("openid.connect.token") if c.response.get("ok")][-1:]
    assert exchange.client_auth == "basic" and "client_secret" not in exchange.params
    claims = stack.slack.openid.issued_claims[-1]
    assert claims["https://slack.com/user_id"] == owner.id and claims["nonce"]


def test_slack_is_asked_for_the_owners_workspace_with_a_nonce_and_our_redirect(stack: Stack, person):
    owner = person("owner")
    slack_url = walk(stack.browser(owner), connect_link(stack, owner), until="/openid/connect/authorize")
    query = {k: v[0] for k, v in parse_qs(urlsplit(slack_url).query).items()}
    assert query["response_type"] == "code" and "openid" in query["scope"].split()
    assert query["client_id"] == stack.slack.client_id and query["team"] == stack.slack.team.team_id
    assert query["redirect_uri"] == f"{stack.bot_url}/connect/slack"
    assert len(query["state"]) == 43 and len(query["nonce"]) == 43


# ------------------------------------------------------------------ replays and hand-made URLs
def test_replaying_slacks_callback_is_refused(stack: Stack, person):
    owner = person("owner")
    browser = stack.browser(owner)
    callback = walk(browser, connect_link(stack, owner), until="/connect/slack")
    first = browser.get(callback, allow_redirects=False, timeout=10)
    assert first.status_code == 302 and "/identity/connect/authorize" in first.headers["Location"]
    asked = xero_consents_asked(stack)

    replay = browser.get(callback, allow_redirects=True, timeout=10)

    assert replay.status_code == 400 and "already been used" in replay.text
    assert xero_consents_asked(stack) == asked and stored_grants(stack, owner) == 0


def test_a_sign_in_url_forwarded_to_someone_else_is_refused(stack: Stack, person):
    """Mallory starts her own flow, stops at Slack, and forwards Slack's authorize URL."""
    mallory, keeper = person("mallory"), person("keeper")
    slack_url = walk(stack.browser(mallory), connect_link(stack, mallory), until="/openid/connect/authorize")
    asked = xero_consents_asked(stack)
    page = stack.follow_consent(slack_url, keeper)
    assert page.status_code == 400 and "started in a different browser" in page.text
    assert xero_consents_asked(stack) == asked and stored_grants(stack, mallory, keeper) == 0


def test_slacks_callback_forwarded_to_someone_else_is_refused(stack: Stack, person):
    """Mallory signs in as herself, stops before Recon's callback, and forwards that URL."""
    mallory, keeper = person("mallory"), person("keeper")
    callback = walk(stack.browser(mallory), connect_link(stack, mallory), until="/connect/slack")
    asked = xero_consents_asked(stack)
    page = stack.follow_consent(callback, keeper)
    assert page.status_code == 400 and "started in a different browser" in page.text
    assert xero_consents_asked(stack) == asked and stored_grants(stack, mallory, keeper) == 0


def test_a_xero_consent_url_forwarded_to_someone_else_stores_nothing(stack: Stack, person):
    """Mallory signs in with Slack as herself and forwards the Xero consent URL she was sent to."""
    mallory, keeper = person("mallory"), person("keeper")
    xero_url = walk(stack.browser(mallory), connect_link(stack, mallory), until="/identity/connect/authorize")
    page = stack.follow_consent(xero_url, keeper)  # the keeper consents at Xero with their own login
    assert page.status_code == 400 and "started in a different browser" in page.text
    assert stored_grants(stack, mallory, keeper) == 0
    assert stack.slack.dms(mallory.id) == []


def test_a_connect_links_state_pasted_into_a_xero_consent_url_connects_nothing(stack: Stack, person):
    mallory = person("mallory")
    state = parse_qs(urlsplit(connect_link(stack, mallory)).query)["state"][0]
    hand_made = stack.services.oauth.authorize_url_for(state)  # skips Sign in with Slack
    page = stack.follow_consent(hand_made, person("keeper"))
    assert page.status_code == 400 and "isn't valid" in page.text
    assert stored_grants(stack, mallory) == 0


def test_a_link_checker_probing_with_head_spends_nothing(stack: Stack, person):
    owner = person("owner")
    link = connect_link(stack, owner)
    assert requests.head(link, timeout=5).status_code == 200
    assert stack.follow_consent(link, owner).status_code == 200


# ------------------------------------------------------------------ saying no at Slack
@pytest.fixture
def slack_asks(stack: Stack):
    stack.slack.openid.consent = "prompt"
    yield
    stack.slack.openid.consent = "auto"


def test_cancelling_at_slack_connects_nothing_and_says_so(stack: Stack, person, slack_asks):
    owner = person("owner")
    browser = stack.browser(owner)
    link = connect_link(stack, owner)
    prompt = browser.get(link, timeout=10)
    assert prompt.status_code == 200 and "Sign in with Slack" in prompt.text
    page = parse_page(prompt.url, prompt.status_code, prompt.text)
    cancel = next(c for c in page.controls if c.kind == "submit" and c.label == "Cancel")
    asked = xero_consents_asked(stack)

    form = page.forms[cancel.form]
    answer = browser.post(urljoin(prompt.url, form.action), data=[*form.fields, (cancel.name, cancel.value)])

    assert answer.status_code == 200 and urlsplit(answer.url).path == "/connect/slack"
    assert "You cancelled signing in with Slack, so nothing was connected" in answer.text
    assert xero_consents_asked(stack) == asked and stored_grants(stack, owner) == 0
    assert browser.get(link, timeout=10).status_code == 400  # that link is spent


def test_allowing_at_slack_goes_on_to_xero(stack: Stack, person, slack_asks):
    owner = person("owner")
    browser = stack.browser(owner)
    prompt = browser.get(connect_link(stack, owner), timeout=10)
    page = parse_page(prompt.url, prompt.status_code, prompt.text)
    allow = next(c for c in page.controls if c.kind == "submit" and c.label == "Allow")
    form = page.forms[allow.form]
    answer = browser.post(urljoin(prompt.url, form.action), data=[*form.fields, (allow.name, allow.value)])
    assert answer.status_code == 200 and "Connected for" in answer.text
    assert stored_grants(stack, owner) == 1


def test_a_browser_not_signed_in_to_slack_is_asked_to_sign_in_first(stack: Stack, person):
    owner = person("owner")
    page = requests.get(connect_link(stack, owner), timeout=10)  # a browser with no Slack session
    assert page.status_code == 200 and "Sign in to Slack" in page.text
    assert stored_grants(stack, owner) == 0
