"""Modal submissions (view_submission): the edit form."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack import editing
from bot.slack.handoff import Handoff
from bot.slack.refs import VIEW_EDIT


def register(app: App, services: Any, handoff: Handoff) -> None:
    @app.view(VIEW_EDIT)
    def edit_submitted(ack, body, view, client, context) -> None:
        editing.handle_submission(
            services, handoff, ack=ack, body=body, view=view, client=client, context=context
        )
