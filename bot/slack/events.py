"""Events API listeners: the App Home tab.

Bolt acks events before the listener runs, so nothing here can delay an ack; the Home is built
from the database only (no Xero call), so it runs right here on the listener thread. If it
can't be built (the database is down), the tab says so instead of staying blank while Bolt
logs the error.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.slack import blocks, replies
from bot.slack.home import publish_home

log = logging.getLogger(__name__)


def on_app_home_opened(services: Any, *, event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
    """Publish the Home tab when it is opened (the event also fires for the Messages tab: ignore that)."""
    if event.get("tab", "home") != "home":
        return
    user_id = event.get("user") or ""
    team_id = body.get("team_id") or (event.get("view") or {}).get("team_id") or ""
    if not user_id:
        return
    try:
        publish_home(services, client, team_id, user_id)
    except Exception as exc:  # noqa: BLE001 - the user sees why in the tab itself
        failure = replies.describe(exc, changed_nothing=True, where="app home")
        try:
            client.views_publish(user_id=user_id, view=blocks.home_trouble_view(failure.text))
        except Exception:
            log.exception("the Home tab of %s could not be published at all", user_id)


def register(app: App, services: Any) -> None:
    @app.event("app_home_opened")
    def app_home_opened(event, body, client) -> None:
        on_app_home_opened(services, event=event, body=body, client=client)
