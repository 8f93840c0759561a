"""Button presses (block_actions).

Everyone acts with their own grant: the presser is ``body["user"]["id"]``, never the author of
the message the button is on (digests with Edit buttons are posted in channels). Tenant ids in
button values are checked against the presser's own organisations by the services.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App

from bot.slack import blocks, editing, replies
from bot.slack.facts import org_facts
from bot.slack.handoff import Handoff
from bot.slack.home import publish_home
from bot.slack.mirror_blocks import progress_blocks, with_progress
from bot.slack.refs import (
    ACTION_DISCONNECT,
    ACTION_DISCONNECT_CANCEL,
    ACTION_EDIT,
    ACTION_EDIT_RELOAD,
    ACTION_MAKE_DEFAULT_RE,
    ACTION_PAGE_RE,
    BLOCK_DM_DEFAULTS,
    LINK_PREFIX,
    DisconnectRef,
    EditRef,
)

log = logging.getLogger(__name__)


def presser(body: dict[str, Any]) -> tuple[str, str]:
    """(team id, user id) of whoever pressed the button."""
    user = body.get("user") or {}
    team_id = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    return team_id, user.get("id") or ""


def _first_action(body: dict[str, Any]) -> dict[str, Any]:
    found = body.get("actions") or [{}]
    return found[0]


def _from_home(body: dict[str, Any]) -> bool:
    return (body.get("view") or {}).get("type") == "home"


def _tell(respond: Any, body: dict[str, Any], exc: BaseException, *, changed_nothing: bool = True) -> None:
    """A failure as a new ephemeral message (the message the button was on stays as it was)."""
    message = replies.error_message(exc, changed_nothing=changed_nothing, where="button")
    if body.get("response_url"):
        respond(replace_original=False, response_type="ephemeral", **message)
    else:
        log.warning("could not tell the user about a failed button press (no response_url)")


# ------------------------------------------------------------------ handlers
def on_link(ack: Any) -> None:
    """Link buttons (Connect to Xero, Open in Xero) still send block_actions: ack and do nothing."""
    ack()


def on_page(services: Any, handoff: Handoff, *, ack: Any, body: dict[str, Any], respond: Any) -> None:
    ack()
    team_id, user_id = presser(body)
    cursor = _first_action(body).get("value") or ""

    def job() -> None:
        result = services.search.page(team_id, user_id, cursor)
        facts = org_facts(services, team_id, user_id, result.org.tenant_id)
        respond(replace_original=True, response_type="ephemeral", **blocks.search_message(result, facts))

    handoff.now(
        job, on_error=lambda exc: _tell(respond, body, exc, changed_nothing=False), what="search paging"
    )


def on_edit(
    services: Any, handoff: Handoff, *, ack: Any, body: dict[str, Any], client: Any, respond: Any
) -> None:
    ack()
    team_id, user_id = presser(body)
    try:
        ref = EditRef.decode(_first_action(body).get("value") or "")
        editing.open_editor(
            services,
            handoff,
            client,
            team_id=team_id,
            user_id=user_id,
            trigger_id=body.get("trigger_id") or "",
            tenant_id=ref.tenant_id,
            txn_id=ref.txn_id,
            response_url=body.get("response_url") if ref.cursor else None,
            cursor=ref.cursor,
        )
    except Exception as exc:  # noqa: BLE001 - e.g. a stale button or an expired trigger; the user is told
        _tell(respond, body, exc)


def on_edit_reload(services: Any, handoff: Handoff, *, ack: Any, body: dict[str, Any], client: Any) -> None:
    ack()
    editing.reload_editor(services, handoff, body=body, client=client)


def on_make_default(
    services: Any, handoff: Handoff, *, ack: Any, body: dict[str, Any], client: Any, respond: Any
) -> None:
    """Database only: answer on this thread. Refresh whichever surface the button was on."""
    ack()
    team_id, user_id = presser(body)
    handoff.labels.forget(team_id, user_id)
    action = _first_action(body)
    try:
        services.connect.set_default(team_id, user_id, action.get("value") or "")
        if _from_home(body):
            publish_home(services, client, team_id, user_id)
            return
        orgs = services.connect.organisations(team_id, user_id)
        if action.get("block_id") == BLOCK_DM_DEFAULTS:
            # The connect DM may also show how far the first read got: keep those lines.
            shown = (body.get("message") or {}).get("blocks") or []
            message = with_progress(blocks.consent_success_dm(orgs), progress_blocks(shown))
        else:
            message = blocks.orgs_message(orgs)
        respond(replace_original=True, **message)
    except Exception as exc:  # noqa: BLE001 - the user is told
        if _from_home(body):
            client.chat_postMessage(channel=user_id, **replies.error_message(exc))
        else:
            _tell(respond, body, exc)


def on_disconnect(services: Any, handoff: Handoff, *, ack: Any, body: dict[str, Any], respond: Any) -> None:
    """Confirmed in the dialog; revoking at Xero is a Xero call, so it runs on the executor."""
    ack()
    team_id, user_id = presser(body)
    try:
        ref = DisconnectRef.decode(_first_action(body).get("value") or "")
    except Exception as exc:  # noqa: BLE001 - a stale button; the user is told
        _tell(respond, body, exc)
        return

    def job() -> None:
        handoff.labels.forget(team_id, user_id)
        names = services.connect.disconnect(team_id, user_id, ref.org)
        respond(replace_original=True, response_type="ephemeral", **blocks.disconnected_message(names))

    handoff.now(job, on_error=lambda exc: _tell(respond, body, exc), what="disconnect")


def on_disconnect_cancel(ack: Any, respond: Any) -> None:
    ack()
    respond(replace_original=True, **blocks.note_message("OK — nothing was disconnected."))


# ------------------------------------------------------------------ wiring
def register(app: App, services: Any, handoff: Handoff) -> None:
    app.action(re.compile("^" + re.escape(LINK_PREFIX)))(on_link)

    @app.action(ACTION_PAGE_RE)
    def page(ack, body, respond) -> None:
        on_page(services, handoff, ack=ack, body=body, respond=respond)

    @app.action(ACTION_EDIT)
    def edit(ack, body, client, respond) -> None:
        on_edit(services, handoff, ack=ack, body=body, client=client, respond=respond)

    @app.action(ACTION_EDIT_RELOAD)
    def edit_reload(ack, body, client) -> None:
        on_edit_reload(services, handoff, ack=ack, body=body, client=client)

    @app.action(ACTION_MAKE_DEFAULT_RE)
    def make_default(ack, body, client, respond) -> None:
        on_make_default(services, handoff, ack=ack, body=body, client=client, respond=respond)

    @app.action(ACTION_DISCONNECT)
    def disconnect(ack, body, respond) -> None:
        on_disconnect(services, handoff, ack=ack, body=body, respond=respond)

    app.action(ACTION_DISCONNECT_CANCEL)(on_disconnect_cancel)
