from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
import responses

from bot.xero.errors import InvalidGrant, OAuthError, XeroUnauthorized, XeroUnavailable
from bot.xero.oauth import XeroOAuth, id_token_claims

IDENTITY = "https://identity.test"
API = "https://api.test"
TOKEN_URL = f"{IDENTITY}/connect/token"
REVOKE_URL = f"{IDENTITY}/connect/revocation"
CONN_URL = f"{API}/connections"
NOW = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)
CLIENT_ID = "CLIENTID0123456789ABCDEF01234567"
CLIENT_SECRET = "client-SECRET-value"
REFRESH = "refresh-TOKEN-SECRET-1"
CODE = "auth-CODE-SECRET"
SCOPES = ("openid", "profile", "email", "offline_access", "accounting.banktransactions")


def token_response(n: int = 2) -> dict:
    return {
        "access_token": f"access-TOKEN-SECRET-{n}",
        "refresh_token": f"refresh-TOKEN-SECRET-{n}",
        "expires_in": 1800,
        "token_type": "Bearer",
        "scope": " ".join(SCOPES),
        "id_token": "id-TOKEN-SECRET",
    }


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def oauth(sleeps):
    return XeroOAuth(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri="https://recon.example.com/xero/callback",
        scopes=SCOPES,
        authorize_url="https://login.test/identity/connect/authorize",
        identity_url=IDENTITY,
        api_url=API,
        session=requests.Session(),
        sleep=sleeps.append,
        now=lambda: NOW,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def _form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def _basic(call) -> tuple[str, str]:
    scheme, value = call.request.headers["Authorization"].split(" ", 1)
    assert scheme == "Basic"
    user, _, pw = base64.b64decode(value).decode().partition(":")
    return user, pw


# ---------------------------------------------------------------- consent URL


def test_authorize_url_has_every_parameter(oauth):
    url = oauth.authorize_url_for("state-abc")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://login.test/identity/connect/authorize"
    q = parse_qs(parts.query)
    assert q == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": ["https://recon.example.com/xero/callback"],
        "scope": [" ".join(SCOPES)],
        "state": ["state-abc"],
    }
    assert "%20" in parts.query and "+" not in parts.query  # spaces encoded unambiguously


def test_authorize_url_keeps_an_existing_query(oauth):
    oauth.authorize_url = "http://127.0.0.1:9/authorize?tenant=demo"
    q = parse_qs(urlsplit(oauth.authorize_url_for("s")).query)
    assert q["tenant"] == ["demo"] and q["state"] == ["s"]


# ---------------------------------------------------------------- code exchange & refresh


def test_exchange_code_uses_basic_auth_and_form(oauth, rsps):
    rsps.post(TOKEN_URL, json=token_response())
    ts = oauth.exchange_code(CODE)
    (call,) = rsps.calls
    assert _basic(call) == (CLIENT_ID, CLIENT_SECRET)
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert _form(call) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": "https://recon.example.com/xero/callback",
    }
    assert "client_secret" not in call.request.body
    assert call.request.req_kwargs["timeout"] == (3.05, 15.0)
    assert ts.access_token == "access-TOKEN-SECRET-2"
    assert ts.refresh_token == "refresh-TOKEN-SECRET-2"
    assert ts.expires_at == NOW + timedelta(seconds=1800)
    assert ts.scope == SCOPES
    assert ts.id_token == "id-TOKEN-SECRET"


def test_exchange_code_expired_code_is_invalid_grant(oauth, rsps):
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(InvalidGrant, match="start again"):
        oauth.exchange_code(CODE)


def test_exchange_code_is_not_retried_after_a_lost_response(oauth, rsps):
    rsps.post(TOKEN_URL, body=requests.ReadTimeout("lost"))
    with pytest.raises(XeroUnavailable):
        oauth.exchange_code(CODE)
    assert len(rsps.calls) == 1  # the code may already be spent


def test_exchange_code_retried_when_it_never_left(oauth, rsps):
    rsps.post(TOKEN_URL, body=requests.ConnectTimeout("no route"))
    rsps.post(TOKEN_URL, json=token_response())
    assert oauth.exchange_code(CODE).access_token == "access-TOKEN-SECRET-2"


def test_missing_refresh_token_means_offline_access_missing(oauth, rsps):
    body = token_response()
    del body["refresh_token"]
    rsps.post(TOKEN_URL, json=body)
    with pytest.raises(OAuthError, match="offline_access"):
        oauth.exchange_code(CODE)


def test_refresh_sends_grant_with_basic_auth(oauth, rsps):
    rsps.post(TOKEN_URL, json=token_response())
    ts = oauth.refresh(REFRESH)
    (call,) = rsps.calls
    assert _basic(call) == (CLIENT_ID, CLIENT_SECRET)
    assert _form(call) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert ts.refresh_token == "refresh-TOKEN-SECRET-2"


@pytest.mark.parametrize(
    "failure",
    [requests.ReadTimeout("lost"), requests.ConnectionError("connection reset by peer")],
)
def test_lost_refresh_is_retried_with_the_same_refresh_token(oauth, rsps, sleeps, failure):
    rsps.post(TOKEN_URL, body=failure)
    rsps.post(TOKEN_URL, json=token_response())
    ts = oauth.refresh(REFRESH)
    assert [_form(c)["refresh_token"] for c in rsps.calls] == [REFRESH, REFRESH]
    assert ts.refresh_token == "refresh-TOKEN-SECRET-2"
    assert len(sleeps) == 1


def test_refresh_5xx_retried_then_unavailable(oauth, rsps, sleeps):
    rsps.post(TOKEN_URL, status=503)
    with pytest.raises(XeroUnavailable):
        oauth.refresh(REFRESH)
    assert len(rsps.calls) == 3  # 1 + max_retries (2)
    assert {_form(c)["refresh_token"] for c in rsps.calls} == {REFRESH}


def test_refresh_invalid_grant(oauth, rsps):
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": REFRESH})
    with pytest.raises(InvalidGrant) as info:
        oauth.refresh(REFRESH)
    assert "reconnect" in str(info.value)
    assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (400, {"error": "invalid_client"}, "invalid_client"),
        (401, {"error": "unauthorized_client"}, "unauthorized_client"),
        (400, {"error": "<script>"}, "unknown_error"),
        (400, "not json", "unknown_error"),
    ],
)
def test_other_token_errors(oauth, rsps, status, body, code):
    if isinstance(body, dict):
        rsps.post(TOKEN_URL, status=status, json=body)
    else:
        rsps.post(TOKEN_URL, status=status, body=body)
    with pytest.raises(OAuthError) as info:
        oauth.refresh(REFRESH)
    assert info.value.error == code
    assert not isinstance(info.value, InvalidGrant)


def test_revoke(oauth, rsps):
    rsps.post(REVOKE_URL, status=200)
    oauth.revoke(REFRESH)
    (call,) = rsps.calls
    assert _basic(call) == (CLIENT_ID, CLIENT_SECRET)
    assert _form(call)["token"] == REFRESH


def test_revoke_of_a_dead_token_is_fine(oauth, rsps):
    rsps.post(REVOKE_URL, status=400, json={"error": "invalid_grant"})
    oauth.revoke(REFRESH)


# ---------------------------------------------------------------- connections


CONNECTIONS = [
    {
        "id": "e1eede29-f875-4a5d-8470-17f6a29a88b1",
        "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
        "tenantId": "70784a63-d24b-46a9-a4db-0e70a274b056",
        "tenantType": "ORGANISATION",
        "tenantName": "Maple Florists Inc",
        "createdDateUtc": "2019-07-09T23:40:30.1833130",
        "updatedDateUtc": "2020-05-15T01:35:13.8491980",
    },
    {
        "id": "32587c85-a9b3-4306-ac30-b416e8f2c841",
        "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
        "tenantId": "e0da6937-de07-4a14-adee-37abfac298ce",
        "tenantType": "ORGANISATION",
        "tenantName": "Adam Demo Company (NZ)",
        "createdDateUtc": "2020-03-23T02:24:22.2328510",
        "updatedDateUtc": "2020-05-13T09:43:40.7689720",
    },
]


def test_connections_parsed(oauth, rsps):
    rsps.get(CONN_URL, json=CONNECTIONS)
    conns = oauth.connections("access-TOKEN-SECRET", auth_event_id="d99ecdfe-391d-43d2-b834-17636ba90e8d")
    assert [c.tenant_name for c in conns] == ["Maple Florists Inc", "Adam Demo Company (NZ)"]
    assert conns[0].tenant_id == "70784a63-d24b-46a9-a4db-0e70a274b056"
    call = rsps.calls[0]
    assert call.request.headers["Authorization"] == "Bearer access-TOKEN-SECRET"
    assert parse_qs(urlsplit(call.request.url).query)["authEventId"] == [
        "d99ecdfe-391d-43d2-b834-17636ba90e8d"
    ]


def test_connections_401(oauth, rsps):
    rsps.get(CONN_URL, status=401, json={"Title": "Unauthorized"})
    with pytest.raises(XeroUnauthorized):
        oauth.connections("access-TOKEN-SECRET")


def test_connections_retried_on_5xx(oauth, rsps):
    rsps.get(CONN_URL, status=502)
    rsps.get(CONN_URL, json=CONNECTIONS[:1])
    assert len(oauth.connections("access-TOKEN-SECRET")) == 1


@pytest.mark.parametrize("status", [204, 404])
def test_delete_connection_done_or_already_gone(oauth, rsps, status):
    conn_id = CONNECTIONS[0]["id"]
    rsps.delete(f"{CONN_URL}/{conn_id}", status=status)
    oauth.delete_connection("access-TOKEN-SECRET", conn_id)
    assert rsps.calls[0].request.method == "DELETE"


def test_delete_connection_refuses_junk_id(oauth, rsps):
    with pytest.raises(ValueError):
        oauth.delete_connection("access-TOKEN-SECRET", "../../connect/token")
    assert not rsps.calls


# ---------------------------------------------------------------- id token


def _id_token(**claims) -> str:
    base = {
        "iss": "https://identity.xero.com",
        "aud": CLIENT_ID,
        "exp": int((NOW + timedelta(minutes=5)).timestamp()),
        "xero_userid": "b27a42a3-2bd1-4bb2-9d70-5d1b1c24d4ac",
        "email": "ann@example.com",
    }
    base.update(claims)
    return jwt.encode(base, "some-other-key-we-never-check-0123456789", algorithm="HS256")


def test_id_token_claims():
    claims = id_token_claims(_id_token(), client_id=CLIENT_ID, now=NOW, issuer="https://identity.xero.com")
    assert claims["xero_userid"] == "b27a42a3-2bd1-4bb2-9d70-5d1b1c24d4ac"


def test_id_token_audience_list_accepted():
    assert id_token_claims(_id_token(aud=["x", CLIENT_ID]), client_id=CLIENT_ID, now=NOW)


@pytest.mark.parametrize(
    ("token_kwargs", "check_kwargs", "needle"),
    [
        ({"aud": "another-app"}, {}, "different app"),
        ({"exp": int((NOW - timedelta(minutes=5)).timestamp())}, {}, "expired"),
        ({"exp": "tomorrow"}, {}, "expired"),
        ({"iss": "https://evil.example"}, {"issuer": "https://identity.xero.com"}, "issuer"),
    ],
)
def test_id_token_rejected(token_kwargs, check_kwargs, needle):
    with pytest.raises(OAuthError, match=needle):
        id_token_claims(_id_token(**token_kwargs), client_id=CLIENT_ID, now=NOW, **check_kwargs)


def test_id_token_garbage():
    with pytest.raises(OAuthError):
        id_token_claims("not.a.jwt", client_id=CLIENT_ID, now=NOW)


# ---------------------------------------------------------------- secrecy


def test_no_secret_in_errors_logs_or_reprs(oauth, rsps, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": f"bad {REFRESH}"})
    rsps.post(REVOKE_URL, body=requests.ConnectionError(f"reset while sending {REFRESH}"))
    rsps.get(CONN_URL, status=500, body="access-TOKEN-SECRET")
    errors = []
    for call in (
        lambda: oauth.refresh(REFRESH),
        lambda: oauth.exchange_code(CODE),
        lambda: oauth.revoke(REFRESH),
        lambda: oauth.connections("access-TOKEN-SECRET"),
    ):
        with pytest.raises(Exception) as info:
            call()
        errors.append(info.value)
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [repr(oauth)]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records
    for text in texts:
        for secret in ("SECRET", CLIENT_SECRET, CODE):
            assert secret not in text, text
    # Nor hidden in the exception chain that a traceback would print.
    for e in errors:
        for link in _printed_chain(e):
            assert "SECRET" not in str(link), repr(link)


def _printed_chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
