"""OAuth ``state`` values: 256 random bits, stored hashed, bound to a Slack user, single use.

A Connect link takes three of them, one per step, and each step accepts only its own kind:

* ``connect`` — carried by the Connect button to Recon's start route;
* ``slack`` — the round trip through Sign in with Slack, with the nonce sent there and the
  browser that started it (both only as hashes);
* ``xero`` — the round trip through Xero's consent, issued only once Slack has proven the
  browser belongs to the state's owner, with the names Slack gave for the success page.

A state of one kind presented at another step is unknown there, so a Connect link's state
pasted into a hand-made Xero consent URL connects nothing.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from storage.db import Database
from storage.models import OAuthState, utcnow

STATE_TTL = timedelta(minutes=10)
_STATE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, url-safe base64 without padding

PURPOSE_CONNECT = "connect"
PURPOSE_SLACK = "slack"
PURPOSE_XERO = "xero"
PURPOSES = frozenset({PURPOSE_CONNECT, PURPOSE_SLACK, PURPOSE_XERO})


class StateProblem(enum.Enum):
    MALFORMED = "malformed"  # not a value we could have issued: tampered or truncated
    UNKNOWN = "unknown"  # well-formed, but never issued for this step (or already cleaned up)
    EXPIRED = "expired"
    USED = "used"


class StateRejected(Exception):
    def __init__(self, problem: StateProblem) -> None:
        super().__init__(f"consent link rejected: {problem.value}")
        self.problem = problem


@dataclass(frozen=True)
class StateOwner:
    """Who a state was issued to, and what the step that issued it wants checked on return."""

    slack_team_id: str
    slack_user_id: str
    nonce_hash: str | None = None
    browser_hash: str | None = None
    slack_user_name: str | None = None
    slack_team_name: str | None = None


def new_secret() -> str:
    """256 random bits, url-safe: states, nonces and browser bindings all look like this."""
    return secrets.token_urlsafe(32)


def is_secret_shaped(value: str | None) -> bool:
    return bool(value) and bool(_STATE_SHAPE.match(value or ""))


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _label(value: str | None) -> str | None:
    return value[:255] if value else None


def matches(stored_hash: str | None, value: str | None) -> bool:
    """Whether ``value`` is the secret whose hash was stored (constant time; None never matches)."""
    if not stored_hash or not value:
        return False
    return hmac.compare_digest(stored_hash, _hash(value))


def create_state(
    db: Database,
    slack_team_id: str,
    slack_user_id: str,
    *,
    purpose: str,
    nonce: str | None = None,
    browser: str | None = None,
    slack_user_name: str | None = None,
    slack_team_name: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> str:
    """Issue a new state for this Slack user and step; only hashes of it and its secrets are stored."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown state purpose {purpose!r}")
    state = new_secret()
    issued = now()
    with db.session() as session:
        session.add(
            OAuthState(
                state_hash=_hash(state),
                slack_team_id=slack_team_id,
                slack_user_id=slack_user_id,
                created_at=issued,
                expires_at=issued + STATE_TTL,
                purpose=purpose,
                nonce_hash=_hash(nonce) if nonce else None,
                browser_hash=_hash(browser) if browser else None,
                slack_user_name=_label(slack_user_name),
                slack_team_name=_label(slack_team_name),
            )
        )
    return state


def consume_state(
    db: Database, state: str | None, *, purpose: str, now: Callable[[], datetime] = utcnow
) -> StateOwner:
    """Return who started this step, marking the state used; raise :class:`StateRejected`.

    The ``UPDATE … WHERE used_at IS NULL`` makes consumption atomic: two callbacks racing with
    the same state cannot both succeed. On SQLite the write lock is taken up front, because a
    read that later upgrades to a write fails at once with "database is locked" when another
    request got there first (a double-click), where it should just find the state used.
    """
    if not is_secret_shaped(state):
        raise StateRejected(StateProblem.MALFORMED)
    assert state is not None
    digest = _hash(state)
    moment = now()
    with db.locked_session() as session:
        row = session.scalar(
            select(OAuthState).where(OAuthState.state_hash == digest, OAuthState.purpose == purpose)
        )
        if row is None:
            raise StateRejected(StateProblem.UNKNOWN)
        if row.used_at is not None:
            raise StateRejected(StateProblem.USED)
        if row.expires_at <= moment:
            raise StateRejected(StateProblem.EXPIRED)
        claimed = session.execute(
            update(OAuthState)
            .where(OAuthState.id == row.id, OAuthState.used_at.is_(None))
            .values(used_at=moment)
        ).rowcount
        if claimed != 1:
            raise StateRejected(StateProblem.USED)
        return StateOwner(
            row.slack_team_id,
            row.slack_user_id,
            nonce_hash=row.nonce_hash,
            browser_hash=row.browser_hash,
            slack_user_name=row.slack_user_name,
            slack_team_name=row.slack_team_name,
        )


def purge_expired_states(
    db: Database, *, older_than: timedelta = timedelta(days=1), now: Callable[[], datetime] = utcnow
) -> int:
    """Delete states that can no longer be used; kept a day so a late click says "expired"."""
    with db.session() as session:
        return session.execute(delete(OAuthState).where(OAuthState.expires_at < now() - older_than)).rowcount
