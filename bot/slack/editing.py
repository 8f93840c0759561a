"""The edit-a-transaction flow, shared by the Edit button, ``/recon edit <id>`` and the modal.

Order matters here because of Slack's clocks:

1. ``views.open`` with a loading view first — the trigger_id dies 3 s after the click, and
   Xero may take longer than that.
2. Load the transaction on the executor with the *presser's* grant, then ``views.update``
   (with the hash from step 1, so a user who already closed the modal isn't resurrected).
3. On submit: validate in the ack, ack with a "Saving…" view, save on the executor, then update
   the modal with the outcome and refresh the search message the Edit button was on.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.slack import blocks, replies
from bot.slack import text as tx
from bot.slack.handoff import Handoff
from bot.slack.kit import section
from bot.slack.refs import EditMeta, RefError, is_slack_response_url

log = logging.getLogger(__name__)

FIELDS = (blocks.BLOCK_REFERENCE, blocks.BLOCK_URL, blocks.BLOCK_NOTE)


def open_editor(
    services: Any,
    handoff: Handoff,
    client: WebClient,
    *,
    team_id: str,
    user_id: str,
    trigger_id: str,
    tenant_id: str | None,
    txn_id: str,
    response_url: str | None = None,
    cursor: str | None = None,
) -> None:
    """Open the modal now (loading), fill it on the executor. Runs in the listener, after ``ack()``."""
    opened = client.views_open(trigger_id=trigger_id, view=blocks.loading_view())
    view = opened["view"]
    meta = EditMeta(tenant_id or "", txn_id, None, response_url, cursor)
    handoff.now(
        lambda: fill_editor(services, client, view["id"], view.get("hash"), team_id, user_id, meta),
        on_error=lambda exc: _show_failure(client, view["id"], exc, changed_nothing=True),
        what="loading the edit form",
    )


def fill_editor(
    services: Any,
    client: WebClient,
    view_id: str,
    view_hash: str | None,
    team_id: str,
    user_id: str,
    meta: EditMeta,
) -> None:
    """Load with the presser's own grant and put the form (or the reason there is none) in the modal."""
    tenant = services.connect.require_tenant(team_id, user_id, meta.tenant_id or None)
    form = services.edit.load(team_id, user_id, tenant.tenant_id, meta.txn_id)
    meta = EditMeta(tenant.tenant_id, meta.txn_id, None, meta.response_url, meta.cursor)
    view = blocks.edit_view(form.txn, form.org, meta)
    _update(client, view_id, view, view_hash)


def _update(client: WebClient, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> None:
    try:
        if view_hash:
            client.views_update(view_id=view_id, hash=view_hash, view=view)
        else:
            client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:
        if exc.response.get("error") in ("hash_conflict", "not_found"):
            # The user closed or changed the modal meanwhile; there is nobody to show this to.
            log.info("edit modal %s went away before it could be updated", view_id)
            return
        raise


def _show_failure(client: WebClient, view_id: str, exc: BaseException, *, changed_nothing: bool) -> None:
    failure = replies.describe(exc, changed_nothing=changed_nothing, where="edit modal")
    _update(client, view_id, replies.failure_view(failure))


def submitted_values(view: dict[str, Any]) -> dict[str, str | None]:
    """What the user typed, by block id; an emptied field is ``""`` (clear it), never missing."""
    state = (view.get("state") or {}).get("values") or {}
    out: dict[str, str | None] = {}
    for field in FIELDS:
        value = (state.get(field) or {}).get(field) or {}
        out[field] = value.get("value") or ""
    return out


def handle_submission(
    services: Any,
    handoff: Handoff,
    *,
    ack: Any,
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: MutableMapping[str, Any] | None,
) -> None:
    """Validate in the ack (errors keyed by block_id) or ack "Saving…" and save on the executor."""
    try:
        meta = EditMeta.decode(view.get("private_metadata") or "")
    except RefError as exc:
        failure = replies.describe(exc)
        ack(response_action="update", view=replies.failure_view(failure))
        return
    typed = submitted_values(view)
    errors = services.edit.validate(typed["reference"], typed["url"], typed["note"])
    if errors:
        ack(response_action="errors", errors={k: v for k, v in errors.items() if k in FIELDS})
        return
    user = body.get("user") or {}
    team_id = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    view_id = view["id"]
    start = handoff.later(
        context,
        lambda: save_and_show(services, client, view_id, team_id, user, meta, typed),
        on_error=lambda exc: _show_failure(client, view_id, exc, changed_nothing=True),
        what="saving an edit",
    )
    ack(response_action="update", view=blocks.saving_view(meta))
    start()


def save_and_show(
    services: Any,
    client: WebClient,
    view_id: str,
    team_id: str,
    user: dict[str, Any],
    meta: EditMeta,
    typed: dict[str, str | None],
) -> None:
    if meta.updated is None:
        raise RefError("the form does not say which version of the transaction it showed")
    user_id = user.get("id") or ""
    user_name = user.get("name") or user.get("username") or user_id
    tenant = services.connect.require_tenant(team_id, user_id, meta.tenant_id)
    outcome = services.edit.save(
        team_id,
        user_id,
        user_name,
        tenant.tenant_id,
        meta.txn_id,
        expected_updated=meta.updated,
        reference=typed["reference"],
        url=typed["url"],
        note=typed["note"] or None,
    )
    if outcome.kind == "saved":
        view = blocks.saved_view(outcome, tenant, meta)
    elif outcome.kind == "conflict":
        # Reopening starts from Xero's current version, so the hash check is against *that*.
        view = blocks.conflict_view(outcome, typed, meta)
    elif outcome.kind == "unchanged":
        view = blocks.unchanged_view(outcome, meta)
    else:
        view = blocks.failed_view(tx.escape(outcome.message), meta)
    _update(client, view_id, view)
    if outcome.kind == "saved" and not refresh_search_message(services, team_id, user_id, meta):
        note = "The search list above couldn't be refreshed — run the search again to see the change."
        _update(client, view_id, {**view, "blocks": [*view["blocks"], section(f"ℹ {note}")]})


def refresh_search_message(services: Any, team_id: str, user_id: str, meta: EditMeta) -> bool:
    """Re-run the page the Edit button was on so the list shows the new values; False if that failed.

    The edit itself already succeeded, so a failed refresh (the response_url expired after 30
    minutes, Xero is busy) becomes a note in the modal, not an error.
    """
    if not meta.cursor or not meta.response_url:
        return True  # nothing to refresh: /recon edit, or a digest button
    if not is_slack_response_url(meta.response_url, services.settings.slack_api_url):
        log.warning("not refreshing via an unexpected response_url host")
        return False
    try:
        result = services.search.page(team_id, user_id, meta.cursor)
        response = WebhookClient(meta.response_url).send(
            replace_original=True, **blocks.search_message(result)
        )
    except Exception as exc:  # noqa: BLE001 - best effort; the modal tells the user it didn't happen
        log.warning("could not refresh the search message after an edit: %s: %s", type(exc).__name__, exc)
        return False
    if response.status_code != 200:
        log.info("search message refresh answered HTTP %s", response.status_code)
        return False
    return True


def reload_editor(
    services: Any,
    handoff: Handoff,
    *,
    body: dict[str, Any],
    client: WebClient,
) -> None:
    """ "Reopen with Xero's current values" from the conflict view: same modal, fresh form."""
    view = body.get("view") or {}
    view_id = view.get("id")
    user = body.get("user") or {}
    team_id = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    meta = EditMeta.decode(view.get("private_metadata") or "")
    handoff.now(
        lambda: fill_editor(services, client, view_id, None, team_id, user.get("id") or "", meta),
        on_error=lambda exc: _show_failure(client, view_id, exc, changed_nothing=True),
        what="reloading the edit form",
    )
