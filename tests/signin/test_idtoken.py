"""The ID token checks that decide whether a Connect link may go on to Xero."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from bot.signin.idtoken import IdTokenProblem, IdTokenRejected, SlackIdentity, check_id_token

CLIENT_ID = "1000000001.2000000002"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NONCE = "n" * 43


def claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    base: dict[str, Any] = {
        "iss": "https://slack.com",
        "sub": "U0ALICE",
        "aud": CLIENT_ID,
        "exp": now + 300,
        "iat": now,
        "auth_time": now,
        "nonce": NONCE,
        "https://slack.com/user_id": "U0ALICE",
        "https://slack.com/team_id": "T0RECON",
        "name": "Alice Ng",
        "https://slack.com/team_name": "Recon Demo",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


def token(**changes: Any) -> str:
    return jwt.encode(claims(**changes), "k" * 32, algorithm="HS256")


def check(id_token: str | None, **overrides: Any) -> SlackIdentity:
    options: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "nonce_ok": lambda n: n == NONCE,
        "user_id": "U0ALICE",
        "team_id": "T0RECON",
        "now": NOW,
    }
    options.update(overrides)
    return check_id_token(id_token, **options)


def refused(id_token: str | None, **overrides: Any) -> IdTokenProblem:
    with pytest.raises(IdTokenRejected) as err:
        check(id_token, **overrides)
    assert not id_token or id_token not in str(err.value)  # never echoes the token
    return err.value.problem


def test_the_owners_fresh_token_for_us_is_accepted_with_the_names_slack_gave():
    assert check(token()) == SlackIdentity("U0ALICE", "T0RECON", "Alice Ng", "Recon Demo")


def test_without_the_profile_scope_there_are_no_names_and_that_is_fine():
    identity = check(token(name=_DROP, **{"https://slack.com/team_name": _DROP}))
    assert (identity.name, identity.team_name) == (None, None)


@pytest.mark.parametrize("aud", ["9999999999.1111111111", [], ["9999999999.1111111111"], None])
def test_a_token_for_another_app_is_refused(aud):
    assert refused(token(aud=aud)) in (IdTokenProblem.AUDIENCE, IdTokenProblem.MISSING)


def test_several_audiences_need_us_as_the_authorised_party():
    assert refused(token(aud=[CLIENT_ID, "other"])) is IdTokenProblem.AUDIENCE
    assert check(token(aud=[CLIENT_ID, "other"], azp=CLIENT_ID)).user_id == "U0ALICE"
    assert check(token(aud=[CLIENT_ID])).user_id == "U0ALICE"


@pytest.mark.parametrize(
    "iss", ["https://evil.example", "https://slack.com/", "http://slack.com", "slack.com"]
)
def test_another_issuer_is_refused(iss):
    assert refused(token(iss=iss)) is IdTokenProblem.ISSUER


def test_an_expired_token_is_refused_and_a_little_clock_skew_forgiven():
    now = int(NOW.timestamp())
    assert refused(token(exp=now - 61, iat=now - 400)) is IdTokenProblem.EXPIRED
    assert check(token(exp=now - 30, iat=now - 330)).user_id == "U0ALICE"


def test_a_token_issued_in_the_future_is_refused():
    now = int(NOW.timestamp())
    assert refused(token(iat=now + 3600, exp=now + 3900)) is IdTokenProblem.NOT_YET_VALID


def test_a_nonce_we_did_not_send_is_refused():
    assert refused(token(nonce="m" * 43)) is IdTokenProblem.NONCE


def test_another_slack_user_is_refused_and_named_for_the_log():
    with pytest.raises(IdTokenRejected) as err:
        check(token(sub="U0BOB", **{"https://slack.com/user_id": "U0BOB"}))
    assert err.value.problem is IdTokenProblem.OTHER_USER and err.value.detail == "T0RECON/U0BOB"


def test_the_same_user_id_in_another_workspace_is_refused():
    assert refused(token(**{"https://slack.com/team_id": "T0OTHER"})) is IdTokenProblem.OTHER_USER


def test_sub_alone_does_not_make_someone_the_owner():
    # Only Slack's own user_id claim counts: a token naming Bob with sub=Alice is still Bob's.
    assert refused(token(**{"https://slack.com/user_id": "U0BOB"})) is IdTokenProblem.OTHER_USER


@pytest.mark.parametrize(
    "name",
    ["iss", "aud", "exp", "iat", "sub", "nonce", "https://slack.com/user_id", "https://slack.com/team_id"],
)
def test_a_missing_claim_is_refused(name):
    assert refused(token(**{name: _DROP})) is IdTokenProblem.MISSING


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": "1999999999"},
        {"exp": True},
        {"iat": None},
        {"https://slack.com/user_id": 42},
        {"https://slack.com/team_id": ["T0RECON"]},
        {"nonce": 7},
    ],
)
def test_claims_of_the_wrong_type_are_refused(changes):
    assert refused(token(**changes)) is IdTokenProblem.MISSING


def _segment(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "not-a-jwt",
        "a.b.c",
        _segment(b'{"alg":"HS256"}') + "." + _segment(b"[1, 2]") + ".sig",  # payload not an object
        _segment(b'{"alg":"HS256"}') + "." + _segment(b"{not json") + ".sig",
    ],
)
def test_a_malformed_token_is_refused(bad):
    assert refused(bad) is IdTokenProblem.MALFORMED


def test_the_check_reads_claims_not_the_header():
    # An unsigned token is as good as a signed one here: the signature is not what we rely on
    # (it came from Slack's token endpoint over TLS). What it says is still checked in full.
    header = _segment(json.dumps({"alg": "none"}).encode())
    body = _segment(json.dumps(claims(**{"https://slack.com/user_id": "U0BOB"})).encode())
    assert refused(f"{header}.{body}.") is IdTokenProblem.OTHER_USER
