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

from bot.services.digest import digest_service
from bot.services.errors import NotConnected
from bot.slack import blocks, replies
from bot.slack import text as tx
from bot.slack.digest_commands import SlackPoster
from bot.slack.facts import org_facts
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
        on_error=lambda exc: show_load_failure(services, client, view["id"], team_id, user_id, meta, exc),
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
    """Load with the presser's own grant and put the form (or the reason there is none) in the modal.

    Without a tenant (``/recon edit <id>``) the service looks in each of the user's organisations.
    """
    form = services.edit.load(team_id, user_id, meta.tenant_id or None, meta.txn_id)
    facts = org_facts(services, team_id, user_id, form.org.tenant_id)
    meta = EditMeta(form.org.tenant_id, meta.txn_id, None, meta.response_url, meta.cursor, meta.typed)
    _update(client, view_id, blocks.edit_view(form.txn, form.org, meta, facts), view_hash)


def show_load_failure(
    services: Any,
    client: WebClient,
    view_id: str,
    team_id: str,
    user_id: str,
    meta: EditMeta,
    exc: BaseException,
) -> None:
    """The modal says why there is no form. "Connect first" is remembered, so the modal fills
    itself in once the user has connected (:func:`resume_after_connect`)."""
    failure = replies.describe(exc, changed_nothing=True, where="edit modal")
    if isinstance(exc, NotConnected) and failure.consent_url:
        services.connect.wait_for_connection(team_id, user_id, view_id, meta.encode())
        view = blocks.consent_view(failure.consent_url, reconnect=failure.reconnect, meta=meta)
        _update(client, view_id, view)
        return
    _update(client, view_id, replies.failure_view(failure))


def resume_after_connect(services: Any, client: WebClient, team_id: str, user_id: str) -> int:
    """After a consent: every modal of this user still saying "connect first" shows its form now.

    Called once the consent is stored (by whichever process completed it). A modal the user
    closed meanwhile is simply gone (``views.update`` says ``not_found``); returns how many were
    filled.
    """
    filled = 0
    for waiting in services.connect.take_waiting_views(team_id, user_id):
        try:
            meta = EditMeta.decode(waiting.payload)
        except RefError:
            log.warning("a waiting modal carried unreadable metadata; left as it was")
            continue
        try:
            fill_editor(services, client, waiting.view_id, None, team_id, user_id, meta)
            filled += 1
        except Exception as exc:  # noqa: BLE001 - each modal says what went wrong in it
            show_load_failure(services, client, waiting.view_id, team_id, user_id, meta, exc)
    return filled


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


def show_failure(
    client: WebClient, view_id: str, exc: BaseException, *, changed_nothing: bool = True
) -> None:
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
        on_error=lambda exc: show_failure(client, view_id, exc, changed_nothing=True),
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
    """Save, then show the outcome. Once the service says "saved", every later step (the
    modal update, the search refresh, the digests) can only add a warning to "Saved"."""
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
    if outcome.kind != "saved":
        if outcome.kind == "conflict":
            facts = org_facts(services, team_id, user_id, tenant.tenant_id)
            view = blocks.conflict_view(outcome, typed, meta, facts)
        elif outcome.kind == "unchanged":
            view = blocks.unchanged_view(outcome, meta)
        else:
            view = blocks.failed_view(tx.escape(outcome.message), meta)
        _update(client, view_id, view)
        return
    _show_saved(services, client, view_id, team_id, user_id, tenant, meta, outcome)


def _show_saved(
    services: Any,
    client: WebClient,
    view_id: str,
    team_id: str,
    user_id: str,
    tenant: Any,
    meta: EditMeta,
    outcome: Any,
) -> None:
    warnings = list(getattr(outcome, "warnings", ()) or ())
    facts = blocks.NO_FACTS
    try:
        facts = org_facts(services, team_id, user_id, tenant.tenant_id)
    except Exception:  # noqa: BLE001 - the link just goes without the organisation
        log.exception("organisation details failed after a save")
    view = blocks.saved_view(outcome, tenant, meta, facts, warnings)
    try:
        _update(client, view_id, view)
    except Exception:  # noqa: BLE001 - Xero has the change; the modal just couldn't say so
        log.exception("saved %s but could not show it in modal %s", meta.txn_id, view_id)
        return
    notes = []
    if not refresh_search_message(services, team_id, user_id, meta, facts):
        notes.append("The search list above couldn't be refreshed — run the search again to see the change.")
    note = update_digests(services, client, team_id, user_id, tenant.tenant_id, outcome)
    if note:
        notes.append(note)
    if notes:
        extra = [section("ℹ " + tx.escape(n)) for n in notes]
        try:
            _update(client, view_id, {**view, "blocks": [*view["blocks"], *extra]})
        except Exception:  # noqa: BLE001 - the saved view is already showing
            log.exception("could not add notes to the saved view %s", view_id)


def update_digests(
    services: Any, client: WebClient, team_id: str, user_id: str, tenant_id: str, outcome: Any
) -> str | None:
    """Show the fix in every posted digest that lists the transaction; a note if one failed."""
    before, after = outcome.before, outcome.after
    if after is None:
        return None
    changed = before is None or (before.reference or "", before.url or "") != (
        after.reference or "",
        after.url or "",
    )
    if not changed:
        return None  # a note alone fixes nothing in the worklist
    try:
        digests = getattr(services, "digest", None) or digest_service(services)
        shown = digests.show_fix(
            team_id,
            tenant_id,
            after.bank_transaction_id,
            reference=after.reference,
            fixed_by=user_id,
            poster=SlackPoster(client),
        )
    except Exception:  # noqa: BLE001 - the edit is saved; the digests are what's behind
        log.exception("could not show the fix of %s in its digests", after.bank_transaction_id)
        return "The daily digest that lists this transaction couldn't be updated."
    if shown.failed:
        return "A daily digest that lists this transaction couldn't be updated."
    return None


def refresh_search_message(
    services: Any, team_id: str, user_id: str, meta: EditMeta, facts: blocks.OrgFacts = blocks.NO_FACTS
) -> bool:
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
            replace_original=True, **blocks.search_message(result, facts)
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
    """ "Reopen with Xero's current values" (after a conflict, keeping what was typed) and
    "I've connected" (a modal that asked to connect first): same modal, fresh form."""
    view = body.get("view") or {}
    view_id = view.get("id")
    user = body.get("user") or {}
    team_id = (body.get("team") or {}).get("id") or user.get("team_id") or ""
    user_id = user.get("id") or ""
    if not view_id:
        log.warning("a reload press came without its modal")
        return
    try:
        meta = EditMeta.decode(view.get("private_metadata") or "")
    except RefError as exc:
        show_failure(client, view_id, exc, changed_nothing=True)
        return

    def job() -> None:
        services.connect.forget_waiting_view(team_id, user_id, view_id)
        fill_editor(services, client, view_id, None, team_id, user_id, meta)

    handoff.now(
        job,
        on_error=lambda exc: show_load_failure(services, client, view_id, team_id, user_id, meta, exc),
        what="reloading the edit form",
    )
