"""OAuth ``state`` values: 256 random bits, stored hashed, bound to a Slack user, single use."""

from __future__ import annotations

import enum
import hashlib
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


class StateProblem(enum.Enum):
    MALFORMED = "malformed"  # not a value we could have issued: tampered or truncated
    UNKNOWN = "unknown"  # well-formed, but never issued (or already cleaned up)
    EXPIRED = "expired"
    USED = "used"


class StateRejected(Exception):
    def __init__(self, problem: StateProblem) -> None:
        super().__init__(f"consent link rejected: {problem.value}")
        self.problem = problem


@dataclass(frozen=True)
class StateOwner:
    slack_team_id: str
    slack_user_id: str


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def create_state(
    db: Database, slack_team_id: str, slack_user_id: str, *, now: Callable[[], datetime] = utcnow
) -> str:
    """Issue a new state for this Slack user; only its hash is stored."""
    state = secrets.token_urlsafe(32)
    issued = now()
    with db.session() as session:
        session.add(
            OAuthState(
                state_hash=_hash(state),
                slack_team_id=slack_team_id,
                slack_user_id=slack_user_id,
                created_at=issued,
                expires_at=issued + STATE_TTL,
            )
        )
    return state


def consume_state(db: Database, state: str | None, *, now: Callable[[], datetime] = utcnow) -> StateOwner:
    """Return who started the consent, marking the state used; raise :class:`StateRejected`.

    The ``UPDATE … WHERE used_at IS NULL`` makes consumption atomic: two callbacks racing with
    the same state cannot both succeed.
    """
    if not state or not _STATE_SHAPE.match(state):
        raise StateRejected(StateProblem.MALFORMED)
    digest = _hash(state)
    moment = now()
    with db.session() as session:
        row = session.scalar(select(OAuthState).where(OAuthState.state_hash == digest))
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
        return StateOwner(row.slack_team_id, row.slack_user_id)


def purge_expired_states(
    db: Database, *, older_than: timedelta = timedelta(days=1), now: Callable[[], datetime] = utcnow
) -> int:
    """Delete states that can no longer be used; kept a day so a late click says "expired"."""
    with db.session() as session:
        return session.execute(delete(OAuthState).where(OAuthState.expires_at < now() - older_than)).rowcount
