"""Modal submissions (view_submission): the edit form."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.slack import editing, replies
from bot.slack.handoff import Handoff
from bot.slack.refs import VIEW_EDIT

log = logging.getLogger(__name__)


def on_edit_submitted(
    services: Any, handoff: Handoff, *, ack: Any, body: Any, view: Any, client: Any, context: Any
) -> None:
    """The submission, with any failure before the ack shown in the modal itself."""
    acked = False

    def ack_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal acked
        acked = True
        return ack(*args, **kwargs)

    try:
        editing.handle_submission(
            services, handoff, ack=ack_once, body=body, view=view, client=client, context=context
        )
    except Exception as exc:  # noqa: BLE001 - the modal says what happened
        failure = replies.describe(exc, changed_nothing=True, where="edit submission")
        if not acked:
            ack(response_action="update", view=replies.failure_view(failure))
            return
        try:  # "Saving…" is showing: replace it with what happened
            editing.show_failure(client, (view or {}).get("id") or "", exc)
        except Exception:
            log.exception("edit submission failed after its ack and the modal could not say so")


def register(app: App, services: Any, handoff: Handoff) -> None:
    @app.view(VIEW_EDIT)
    def edit_submitted(ack, body, view, client, context) -> None:
        on_edit_submitted(services, handoff, ack=ack, body=body, view=view, client=client, context=context)
