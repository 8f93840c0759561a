"""Identity: consent, codes, token rotation and expiry, revocation, connections."""

from __future__ import annotations

import base64
import hashlib
import json

import jwt
import pytest
import requests

from bot.sandbox.xero import XeroSandbox

from .conftest import (
    REDIRECT,
    SCOPES,
    Api,
    authorize,
    connect,
    exchange,
    frozen_clock,
    get_code,
    query_of,
    refresh,
    token_request,
)

MINUTE = 60
DAY = 86_400


# --- authorize + consent ------------------------------------------------------------------


def test_consent_redirects_back_with_code_and_state(sb: XeroSandbox) -> None:
    response = authorize(sb)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "state-123"
    assert len(params["code"]) >= 20


def test_authorize_keeps_a_query_already_on_the_redirect_uri(sb: XeroSandbox) -> None:
    sb.register_redirect_uri("http://127.0.0.1:4000/cb?team=T1")
    response = authorize(sb, redirect_uri="http://127.0.0.1:4000/cb?team=T1")
    params = query_of(response.headers["Location"])
    assert params["team"] == "T1" and params["code"]


def test_unknown_client_gets_an_error_page_not_a_redirect(sb: XeroSandbox) -> None:
    response = authorize(sb, client_id="someone-else")
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]


def test_unregistered_redirect_uri_is_never_redirected_to(sb: XeroSandbox) -> None:
    for uri in (
        "http://127.0.0.1:3000/xero/callback/",
        "http://evil.example/cb",
        "http://127.0.0.1:3001/xero/callback",
    ):
        response = authorize(sb, redirect_uri=uri)
        assert response.status_code == 400, uri
        assert "Location" not in response.headers


def test_redirect_uri_registered_later_is_accepted(sb: XeroSandbox) -> None:
    sb.register_redirect_uri("http://127.0.0.1:5555/xero/callback")
    assert authorize(sb, redirect_uri="http://127.0.0.1:5555/xero/callback").status_code == 302


def test_missing_state_is_refused(sb: XeroSandbox) -> None:
    response = authorize(sb, state=None)
    assert response.status_code == 400
    assert "state" in response.text


def test_wrong_response_type_redirects_with_an_error(sb: XeroSandbox) -> None:
    response = authorize(sb, response_type="token")
    params = query_of(response.headers["Location"])
    assert params == {
        "error": "unsupported_response_type",
        "error_description": params["error_description"],
        "state": "state-123",
    }


def test_unknown_scope_redirects_with_invalid_scope(sb: XeroSandbox) -> None:
    response = authorize(sb, scope="openid accounting.everything")
    assert query_of(response.headers["Location"])["error"] == "invalid_scope"


def test_without_offline_access_there_is_no_refresh_token(sb: XeroSandbox) -> None:
    tokens = connect(sb, scope="openid profile email accounting.transactions")
    assert "refresh_token" not in tokens
    assert tokens["access_token"]


def test_prompt_consent_shows_a_form_and_allow_issues_a_code(sb: XeroSandbox) -> None:
    sb.consent = "prompt"
    page = authorize(sb)
    assert page.status_code == 200
    assert "<form" in page.text and "Harbour Coffee Roasters" in page.text
    request_id = page.text.split("name='request_id' value='")[1].split("'")[0]
    first_tenant = sb.tenants[0]["tenant_id"]
    answer = requests.post(
        f"{sb.url}/identity/connect/authorize/consent",
        data={
            "request_id": request_id,
            "decision": "allow",
            "tenant": first_tenant,
            "user": sb.user["xero_user_id"],
        },
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    params = query_of(answer.headers["Location"])
    assert params["state"] == "state-123"
    tokens = exchange(sb, params["code"]).json()
    connections = requests.get(
        f"{sb.url}/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5
    ).json()
    assert [c["tenantId"] for c in connections] == [first_tenant]


def test_prompt_consent_deny_redirects_with_access_denied(sb: XeroSandbox) -> None:
    sb.consent = "prompt"
    page = authorize(sb)
    request_id = page.text.split("name='request_id' value='")[1].split("'")[0]
    answer = requests.post(
        f"{sb.url}/identity/connect/authorize/consent",
        data={"request_id": request_id, "decision": "deny"},
        allow_redirects=False,
        timeout=5,
    )
    assert query_of(answer.headers["Location"]) == {"error": "access_denied", "state": "state-123"}
    assert sb.connections() == []


# --- codes ---------------------------------------------------------------------------------


def test_code_exchange_returns_xero_shaped_tokens(sb: XeroSandbox) -> None:
    response = exchange(sb, get_code(sb))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1800
    assert set(body["scope"].split()) == set(SCOPES.split())
    assert body["access_token"] and body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_id_token_names_the_user(sb: XeroSandbox) -> None:
    body = connect(sb)
    claims = jwt.decode(
        body["id_token"],
        sb.client_secret,
        algorithms=["HS256"],
        audience=sb.client_id,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    user = sb.user
    assert claims["xero_userid"] == user["xero_user_id"]
    assert claims["email"] == user["email"]
    assert claims["given_name"] == user["given_name"] and claims["family_name"] == user["family_name"]
    assert claims["aud"] == sb.client_id
    assert claims["iss"] == sb.url
    assert claims["sub"] and claims["exp"] > claims["iat"]


def test_code_works_once(sb: XeroSandbox) -> None:
    code = get_code(sb)
    assert exchange(sb, code).status_code == 200
    again = exchange(sb, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_code_expires_after_five_minutes(sb: XeroSandbox) -> None:
    code = get_code(sb)
    sb.clock.advance(5 * MINUTE + 1)
    response = exchange(sb, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_code_still_good_just_before_five_minutes(sb: XeroSandbox) -> None:
    code = get_code(sb)
    sb.clock.advance(5 * MINUTE - 5)
    assert exchange(sb, code).status_code == 200


def test_code_exchange_needs_the_same_redirect_uri(sb: XeroSandbox) -> None:
    sb.register_redirect_uri("http://127.0.0.1:4000/other")
    response = exchange(sb, get_code(sb), redirect_uri="http://127.0.0.1:4000/other")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_client_secret_may_come_in_the_form(sb: XeroSandbox) -> None:
    code = get_code(sb)
    response = token_request(
        sb, {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}, basic=False
    )
    assert response.status_code == 200


def test_wrong_client_secret_is_invalid_client(sb: XeroSandbox) -> None:
    code = get_code(sb)
    response = requests.post(
        f"{sb.url}/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(sb.client_id, "not-the-secret"),
        timeout=5,
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert exchange(sb, code).status_code == 200  # a failed client auth does not burn the code


def test_unknown_grant_type(sb: XeroSandbox) -> None:
    response = token_request(sb, {"grant_type": "password"})
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"


def test_pkce_verifier_must_match(sb: XeroSandbox) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = get_code(sb, code_challenge=challenge, code_challenge_method="S256")
    bad = token_request(
        sb,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": "w" * 50,
        },
    )
    assert bad.status_code == 400
    code = get_code(sb, code_challenge=challenge, code_challenge_method="S256")
    good = token_request(
        sb,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert good.status_code == 200


# --- refresh -----------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(sb: XeroSandbox, tokens: dict) -> None:
    first = refresh(sb, tokens["refresh_token"])
    assert first.status_code == 200
    body = first.json()
    assert body["refresh_token"] != tokens["refresh_token"]
    assert body["access_token"] != tokens["access_token"]
    second = refresh(sb, body["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] not in (tokens["refresh_token"], body["refresh_token"])


def test_superseded_refresh_token_works_within_the_grace_period(sb: XeroSandbox, tokens: dict) -> None:
    old = tokens["refresh_token"]
    first = refresh(sb, old).json()
    sb.clock.advance(29 * MINUTE)
    retry = refresh(sb, old)
    assert retry.status_code == 200
    pair = retry.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert refresh(sb, pair["refresh_token"]).status_code == 200  # the retried pair is a live one


def test_superseded_refresh_token_dies_after_the_grace_period(sb: XeroSandbox, tokens: dict) -> None:
    old = tokens["refresh_token"]
    new = refresh(sb, old).json()["refresh_token"]
    sb.clock.advance(30 * MINUTE + 1)
    dead = refresh(sb, old)
    assert dead.status_code == 400
    assert dead.json()["error"] == "invalid_grant"
    assert refresh(sb, new).status_code == 200  # the newest token is unaffected


def test_refresh_token_unused_for_sixty_days_expires(sb: XeroSandbox, tokens: dict) -> None:
    sb.clock.advance(60 * DAY + 1)
    response = refresh(sb, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_refresh_token_used_within_sixty_days_keeps_the_chain_alive(sb: XeroSandbox, tokens: dict) -> None:
    token = tokens["refresh_token"]
    for _ in range(3):
        sb.clock.advance(59 * DAY)
        response = refresh(sb, token)
        assert response.status_code == 200
        token = response.json()["refresh_token"]


def test_unknown_refresh_token_is_invalid_grant(sb: XeroSandbox) -> None:
    response = refresh(sb, "0" * 64)
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_refresh_keeps_the_id_token_and_scopes(sb: XeroSandbox, tokens: dict) -> None:
    body = refresh(sb, tokens["refresh_token"]).json()
    assert body["scope"] == tokens["scope"]
    assert body["id_token"]
    assert body["expires_in"] == 1800


# --- revocation + connections ---------------------------------------------------------------


def _connections(sb: XeroSandbox, access_token: str, **params: str) -> requests.Response:
    return requests.get(
        f"{sb.url}/connections", params=params, headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )


def test_connections_list_every_consented_organisation(sb: XeroSandbox, tokens: dict) -> None:
    response = _connections(sb, tokens["access_token"])
    assert response.status_code == 200
    connections = response.json()
    assert {c["tenantName"] for c in connections} == {"Harbour Coffee Roasters", "Kestrel Design Studio"}
    for c in connections:
        assert c["tenantType"] == "ORGANISATION"
        assert c["authEventId"] and c["id"] and c["createdDateUtc"] and c["updatedDateUtc"]


def test_connections_filter_by_auth_event(sb: XeroSandbox, tokens: dict) -> None:
    event = _connections(sb, tokens["access_token"]).json()[0]["authEventId"]
    assert len(_connections(sb, tokens["access_token"], authEventId=event).json()) == 2
    other = "00000000-0000-0000-0000-000000000000"
    assert _connections(sb, tokens["access_token"], authEventId=other).json() == []


def test_reconsent_keeps_connection_ids_with_a_new_auth_event(sb: XeroSandbox, tokens: dict) -> None:
    before = {c["tenantId"]: c for c in _connections(sb, tokens["access_token"]).json()}
    sb.clock.advance(MINUTE)
    again = connect(sb)
    after = {c["tenantId"]: c for c in _connections(sb, again["access_token"]).json()}
    assert after.keys() == before.keys()
    for tenant, conn in after.items():
        assert conn["id"] == before[tenant]["id"]
        assert conn["authEventId"] != before[tenant]["authEventId"]
        assert conn["createdDateUtc"] == before[tenant]["createdDateUtc"]
        assert conn["updatedDateUtc"] > before[tenant]["updatedDateUtc"]


def test_delete_connection_disconnects_one_tenant(sb: XeroSandbox, tokens: dict) -> None:
    first, second = _connections(sb, tokens["access_token"]).json()
    response = requests.delete(
        f"{sb.url}/connections/{first['id']}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert response.status_code == 204
    assert [c["id"] for c in _connections(sb, tokens["access_token"]).json()] == [second["id"]]
    assert Api(sb, tokens["access_token"], first["tenantId"]).get("Organisation").status_code == 403
    assert Api(sb, tokens["access_token"], second["tenantId"]).get("Organisation").status_code == 200


def test_delete_unknown_connection_is_404(sb: XeroSandbox, tokens: dict) -> None:
    response = requests.delete(
        f"{sb.url}/connections/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=5,
    )
    assert response.status_code == 404


def test_revocation_kills_the_refresh_token_and_every_connection(sb: XeroSandbox, tokens: dict) -> None:
    response = requests.post(
        f"{sb.url}/connect/revocation",
        data={"token": tokens["refresh_token"]},
        auth=(sb.client_id, sb.client_secret),
        timeout=5,
    )
    assert response.status_code == 200
    assert refresh(sb, tokens["refresh_token"]).json() == {"error": "invalid_grant"}
    assert _connections(sb, tokens["access_token"]).json() == []
    assert Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"]).get("Organisation").status_code == 403


def test_revocation_needs_client_authentication(sb: XeroSandbox, tokens: dict) -> None:
    response = requests.post(
        f"{sb.url}/connect/revocation", data={"token": tokens["refresh_token"]}, timeout=5
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"
    assert refresh(sb, tokens["refresh_token"]).status_code == 200


def test_revoke_user_from_xero_side(sb: XeroSandbox, tokens: dict) -> None:
    assert sb.revoke_user(sb.user["xero_user_id"]) == 2
    assert refresh(sb, tokens["refresh_token"]).status_code == 400
    assert _connections(sb, tokens["access_token"]).json() == []


def test_users_see_only_their_own_connections(sb: XeroSandbox, tokens: dict) -> None:
    other = sb.add_user("sam@kestrel.example", "Sam", "Okafor", [sb.tenants[1]["tenant_id"]])
    sb.login_as(other["xero_user_id"])
    sams = connect(sb)
    names = [c["tenantName"] for c in _connections(sb, sams["access_token"]).json()]
    assert names == ["Kestrel Design Studio"]
    assert Api(sb, sams["access_token"], sb.tenants[0]["tenant_id"]).get("Organisation").status_code == 403
    assert len(_connections(sb, tokens["access_token"]).json()) == 2


# --- access tokens at the API ---------------------------------------------------------------


def test_access_token_expires_after_thirty_minutes(sb: XeroSandbox, api: Api) -> None:
    sb.clock.advance(29 * MINUTE)
    assert api.get("Organisation").status_code == 200
    sb.clock.advance(MINUTE + 1)
    response = api.get("Organisation")
    assert response.status_code == 401
    body = response.json()
    assert body["Title"] == "Unauthorized" and body["Status"] == 401 and body["Type"] is None
    assert body["Detail"].startswith("TokenExpired: token expired at ")
    assert body["Extensions"] == {} and body["Instance"]
    assert _connections(sb, api.token).status_code == 401


def test_unknown_or_missing_token_is_401(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    assert Api(sb, "not-a-token", tenant).get("Organisation").status_code == 401
    response = requests.get(
        f"{sb.url}/api.xro/2.0/Organisation", headers={"xero-tenant-id": tenant}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["Detail"] == "AuthenticationUnsuccessful"


def test_wrong_or_missing_tenant_is_403(sb: XeroSandbox, api: Api) -> None:
    for tenant in ("00000000-0000-0000-0000-000000000000", "", "not-a-guid"):
        response = Api(sb, api.token, tenant).get("BankTransactions")
        assert response.status_code == 403, tenant
        body = response.json()
        assert body["Title"] == "Forbidden" and body["Detail"] == "AuthenticationUnsuccessful"


def test_refreshed_access_token_reaches_every_tenant(sb: XeroSandbox, tokens: dict) -> None:
    fresh = refresh(sb, tokens["refresh_token"]).json()["access_token"]
    for tenant in sb.tenants:
        assert Api(sb, fresh, tenant["tenant_id"]).get("Organisation").status_code == 200


def test_missing_scope_is_401_authorization_unsuccessful(sb: XeroSandbox) -> None:
    tokens = connect(sb, scope="openid offline_access accounting.transactions.read")
    api = Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"])
    assert api.get("BankTransactions").status_code == 200
    settings = api.get("Accounts")
    assert settings.status_code == 401 and settings.json()["Detail"] == "AuthorizationUnsuccessful"
    txn_id = sb.transaction_ids(sb.tenants[0]["tenant_id"])[0]
    write = api.post(f"BankTransactions/{txn_id}", {"Reference": "x"})
    assert write.status_code == 401


def test_granular_banktransactions_scope_is_accepted(sb: XeroSandbox) -> None:
    tokens = connect(sb, scope="openid offline_access accounting.banktransactions accounting.settings.read")
    api = Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"])
    assert api.get("BankTransactions").status_code == 200


def test_access_token_is_a_jwt_naming_the_auth_event(sb: XeroSandbox, tokens: dict) -> None:
    payload = tokens["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    event = _connections(sb, tokens["access_token"]).json()[0]["authEventId"]
    assert claims["authentication_event_id"] == event
    assert claims["xero_userid"] == sb.user["xero_user_id"]


def test_sandboxes_with_the_same_seed_issue_different_tokens() -> None:
    a = XeroSandbox(clock=frozen_clock()).start()
    b = XeroSandbox(clock=frozen_clock()).start()
    try:
        ta, tb = connect(a), connect(b)
        assert Api(b, ta["access_token"], b.tenants[0]["tenant_id"]).get("Organisation").status_code == 401
        assert tb["access_token"] != ta["access_token"]
    finally:
        a.stop()
        b.stop()
