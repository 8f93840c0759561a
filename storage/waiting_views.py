"""Open modals waiting for their user to connect to Xero.

A modal that had to say "You haven't connected Recon to Xero yet" is remembered here (which
view, and what it was opened for), so the process that completes the consent — any web
process — can fill it in. Taken exactly once: :func:`take_waiting` deletes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import ViewAwaitingConnection, utcnow

KEEP_FOR = timedelta(hours=1)  # a modal left open longer than this is not worth resurrecting


@dataclass(frozen=True)
class WaitingView:
    view_id: str
    payload: str
    created_at: datetime


def remember_waiting(
    db: Database,
    slack_team_id: str,
    slack_user_id: str,
    view_id: str,
    payload: str,
    *,
    now: Callable[[], datetime] = utcnow,
) -> None:
    with db.session() as session:
        session.execute(
            delete(ViewAwaitingConnection).where(
                ViewAwaitingConnection.slack_team_id == slack_team_id,
                ViewAwaitingConnection.slack_user_id == slack_user_id,
                ViewAwaitingConnection.view_id == view_id,
            )
        )
        session.add(
            ViewAwaitingConnection(
                slack_team_id=slack_team_id,
                slack_user_id=slack_user_id,
                view_id=view_id,
                payload=payload,
                created_at=now(),
            )
        )


def take_waiting(
    db: Database, slack_team_id: str, slack_user_id: str, *, now: Callable[[], datetime] = utcnow
) -> list[WaitingView]:
    """The user's waiting views younger than :data:`KEEP_FOR`, removed as they are returned
    (older ones are dropped too). Two processes taking at once get each view at most once."""
    moment = now()
    with db.locked_session() as session:
        rows = session.scalars(
            select(ViewAwaitingConnection)
            .where(
                ViewAwaitingConnection.slack_team_id == slack_team_id,
                ViewAwaitingConnection.slack_user_id == slack_user_id,
            )
            .order_by(ViewAwaitingConnection.id)
            .with_for_update()
        ).all()
        found = [WaitingView(r.view_id, r.payload, r.created_at) for r in rows]
        if rows:
            session.execute(
                delete(ViewAwaitingConnection).where(ViewAwaitingConnection.id.in_([r.id for r in rows]))
            )
    return [w for w in found if w.created_at + KEEP_FOR >= moment]


def forget_waiting(db: Database, slack_team_id: str, slack_user_id: str, view_id: str) -> None:
    with db.session() as session:
        session.execute(
            delete(ViewAwaitingConnection).where(
                ViewAwaitingConnection.slack_team_id == slack_team_id,
                ViewAwaitingConnection.slack_user_id == slack_user_id,
                ViewAwaitingConnection.view_id == view_id,
            )
        )
