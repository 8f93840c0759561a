"""The checks on Slack's ID token that decide whether a Connect link may go on to Xero.

Pure: a token string in, a :class:`SlackIdentity` or an :class:`IdTokenRejected` out.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt

SLACK_ISSUER = "https://slack.com"
USER_ID_CLAIM = "https://slack.com/user_id"
TEAM_ID_CLAIM = "https://slack.com/team_id"
TEAM_NAME_CLAIM = "https://slack.com/team_name"
LEEWAY_S = 60.0  # clock skew between Slack and us that we forgive on exp/iat
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "nonce", USER_ID_CLAIM, TEAM_ID_CLAIM)


class IdTokenProblem(enum.Enum):
    MALFORMED = "malformed"  # not a JWT with a JSON object inside
    MISSING = "missing"  # a claim we rely on is absent or of the wrong type
    ISSUER = "issuer"
    AUDIENCE = "audience"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"  # issued in the future
    NONCE = "nonce"
    OTHER_USER = "other_user"  # a valid sign-in, by someone other than the link's owner


class IdTokenRejected(Exception):
    """Why the token was refused. ``detail`` names claims (or, for another user, their Slack ids)
    for the operator's log; nothing here ever holds the token itself."""

    def __init__(self, problem: IdTokenProblem, detail: str = "") -> None:
        super().__init__(f"ID token refused: {problem.value}")
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class SlackIdentity:
    """Who Slack says signed in. The names come with the ``profile`` scope and may be absent."""

    user_id: str
    team_id: str
    name: str | None = None
    team_name: str | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:255] or None


def check_id_token(
    id_token: str | None,
    *,
    client_id: str,
    nonce_ok: Callable[[str], bool],
    user_id: str,
    team_id: str,
    now: datetime,
    issuer: str = SLACK_ISSUER,
    leeway: float = LEEWAY_S,
) -> SlackIdentity:
    """The signed-in Slack user, if the token is for us, fresh, ours by nonce, and the owner's.

    The signature is not checked: the token came straight from Slack's token endpoint in the
    code exchange, over TLS, which OIDC Core §3.1.3.7 (step 6) accepts in place of the
    signature. Everything else that section asks is checked: the issuer exactly, our client id
    among the audiences (and as ``azp`` when there are several), expiry and issue time against
    our clock, and the nonce we sent. Then the user and team must be exactly the link's owner.
    """
    try:
        claims = jwt.decode(id_token or "", options={"verify_signature": False})
    except jwt.PyJWTError:
        raise IdTokenRejected(IdTokenProblem.MALFORMED) from None
    if not isinstance(claims, dict):
        raise IdTokenRejected(IdTokenProblem.MALFORMED)
    missing = [name for name in REQUIRED_CLAIMS if claims.get(name) in (None, "", [])]
    if missing:
        raise IdTokenRejected(IdTokenProblem.MISSING, ", ".join(missing))
    exp, iat = _number(claims["exp"]), _number(claims["iat"])
    strings = ("iss", "sub", "nonce", USER_ID_CLAIM, TEAM_ID_CLAIM)
    wrong_type = [name for name in strings if not isinstance(claims[name], str)]
    if exp is None or iat is None or wrong_type:
        raise IdTokenRejected(IdTokenProblem.MISSING, "wrong type: " + ", ".join(wrong_type or ["exp/iat"]))
    if claims["iss"] != issuer:
        raise IdTokenRejected(IdTokenProblem.ISSUER)
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise IdTokenRejected(IdTokenProblem.AUDIENCE)
    moment = now.timestamp()
    if moment >= exp + leeway:
        raise IdTokenRejected(IdTokenProblem.EXPIRED)
    if iat > moment + leeway:
        raise IdTokenRejected(IdTokenProblem.NOT_YET_VALID)
    if not nonce_ok(claims["nonce"]):
        raise IdTokenRejected(IdTokenProblem.NONCE)
    identity = SlackIdentity(
        user_id=claims[USER_ID_CLAIM],
        team_id=claims[TEAM_ID_CLAIM],
        name=_text(claims.get("name")) or _text(claims.get("given_name")),
        team_name=_text(claims.get(TEAM_NAME_CLAIM)),
    )
    if identity.user_id != user_id or identity.team_id != team_id:
        raise IdTokenRejected(IdTokenProblem.OTHER_USER, f"{identity.team_id}/{identity.user_id}")
    return identity
