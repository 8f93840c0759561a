"""Editing a transaction's Reference and source link safely.

Safety rules: re-read before writing and refuse if Xero's copy moved since the user opened the
form (their edit would silently overwrite someone else's); send a fresh object with every line
(``bot.xero.models.update_payload``); an idempotency key derived from the edit itself, so a
double-submitted modal or a retried request can only apply once; audit every attempt, including
the ones that failed.

Telling the truth: once Xero has confirmed the write, the outcome is "saved" whatever happens
next. What fails afterwards — the audit insert (retried; a row that still cannot be written is
logged loudly with everything it held), the History note (Xero down, or the connection dying
between the two calls) — becomes a warning beside "Saved", never "Nothing was changed".
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlparse

from bot.services.connect import ConnectService
from bot.services.errors import NotConnected, NotEditable, ServiceError
from bot.services.tokens import TokenService
from bot.xero.client import XeroClient
from bot.xero.errors import XeroError, XeroForbidden, XeroNotFound, XeroUnavailable
from bot.xero.models import BankTransaction
from storage.audit import OUTCOME_CONFLICT, OUTCOME_FAILED, OUTCOME_SUCCESS, AuditRecord, write_audit
from storage.db import Database
from storage.grants import TenantView
from storage.models import GRANT_NEEDS_RECONNECT, utcnow

log = logging.getLogger(__name__)

MAX_REFERENCE = 255
MAX_URL = 2000
MAX_NOTE = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

EDITABLE_TYPES = ("SPEND", "RECEIVE")
AUDIT_ATTEMPTS = 3
AUDIT_BACKOFF_S = (0.05, 0.25)

AUDIT_LOST = (
    "Recon couldn't record this change in its own audit log (the database didn't answer); "
    "the details are in Recon's log for your admin."
)
HISTORY_LOST = "The history note couldn't be added, so Xero's history won't show who made this change."


@dataclass(frozen=True)
class EditForm:
    txn: BankTransaction
    org: TenantView


@dataclass(frozen=True)
class EditOutcome:
    kind: Literal["saved", "conflict", "unchanged", "failed"]
    before: BankTransaction | None
    after: BankTransaction | None
    message: str
    history_added: bool = False
    warnings: tuple[str, ...] = ()  # what failed after Xero confirmed the write


class TransactionNotFound(ServiceError):
    """``/recon edit <id>`` found the transaction in none of the user's organisations."""


def validate(reference: str | None, url: str | None, note: str | None) -> dict[str, str]:
    """Field → problem, for the modal's ack (pure; empty means fine)."""
    errors: dict[str, str] = {}
    if reference is not None:
        if len(reference) > MAX_REFERENCE:
            errors["reference"] = (
                f"Keep the reference to {MAX_REFERENCE} characters (it has {len(reference)})."
            )
        elif _CONTROL.search(reference):
            errors["reference"] = "The reference must be a single line of text."
    if url:
        parsed = urlparse(url)
        if len(url) > MAX_URL:
            errors["url"] = f"Keep the link to {MAX_URL} characters."
        elif parsed.scheme not in ("http", "https") or not parsed.netloc or re.search(r"\s", url):
            errors["url"] = "Use a full web address starting with https:// (or http://)."
    if note is not None and len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note to {MAX_NOTE} characters (it has {len(note)})."
    return errors


def editable_reason(txn: BankTransaction) -> str | None:
    """Why Xero won't let us edit this one, or None if it will."""
    if txn.type not in EDITABLE_TYPES:
        kind = txn.type.lower().replace("-", " ")
        return f"This is a {kind} — Xero only lets apps change spend and receive money transactions."
    if txn.status != "AUTHORISED":
        return f"This transaction is {txn.status.lower()} in Xero, so it can't be edited."
    if not txn.has_line_items:
        return "Xero didn't send this transaction's lines, so editing it could lose them."
    return None


def idempotency_key(tenant_id: str, txn_id: str, expected: datetime, reference: str, url: str) -> str:
    """The same edit of the same version always gets the same key (≤128 chars, as Xero allows)."""
    material = "\x1f".join((tenant_id, txn_id, expected.isoformat(), reference, url))
    return "recon-" + hashlib.sha256(material.encode()).hexdigest()


def history_key(
    tenant_id: str, txn_id: str, expected: datetime, reference: str, url: str, note: str, user_id: str
) -> str:
    """The History note's key: the edit's, plus the note's text and who wrote it.

    A double-submitted modal still adds one note, but a second, different note on an unchanged
    transaction (or the same words from a colleague) is a new note, not a replay of the first.
    """
    material = "\x1f".join((tenant_id, txn_id, expected.isoformat(), reference, url, note, user_id))
    return "recon-h-" + hashlib.sha256(material.encode()).hexdigest()


class EditService:
    def __init__(
        self,
        db: Database,
        xero: XeroClient,
        tokens: TokenService,
        connect: ConnectService,
        *,
        now: Callable[[], datetime] = utcnow,
        write_through: Callable[[str, BankTransaction], object] | None = None,
    ) -> None:
        self._write_through = write_through
        self._db = db
        self._xero = xero
        self._tokens = tokens
        self._connect = connect
        self._now = now

    validate = staticmethod(validate)

    def load(self, team_id: str, user_id: str, tenant_id: str | None, txn_id: str) -> EditForm:
        """The form for ``txn_id``: in ``tenant_id``, or — when no organisation is given — in the
        user's default organisation first and then each of their other organisations, so a
        BankTransactionID pasted from any of them opens without naming it."""
        if tenant_id is not None:
            return self._form(
                team_id, user_id, self._connect.require_tenant(team_id, user_id, tenant_id), txn_id
            )
        default = self._connect.require_tenant(team_id, user_id, None)
        others = [
            t
            for t in self._connect.organisations(team_id, user_id)
            if t.tenant_id != default.tenant_id and t.grant_status != GRANT_NEEDS_RECONNECT
        ]
        looked: list[TenantView] = []
        for org in [default, *_unique(others)]:
            try:
                return self._form(team_id, user_id, org, txn_id)
            except XeroNotFound:
                looked.append(org)
            except (XeroForbidden, NotConnected):
                if org is default:
                    raise
                # Another organisation we can't read right now: keep looking in the rest.
        raise TransactionNotFound(_not_found_message(txn_id, looked))

    def _form(self, team_id: str, user_id: str, org: TenantView, txn_id: str) -> EditForm:
        txn = self._xero.get_bank_transaction(self._tokens.source(team_id, user_id, org.tenant_id), txn_id)
        reason = editable_reason(txn)
        if reason:
            raise NotEditable(reason)
        return EditForm(txn=txn, org=org)

    def save(
        self,
        team_id: str,
        user_id: str,
        user_name: str,
        tenant_id: str,
        txn_id: str,
        *,
        expected_updated: datetime,
        reference: str | None,
        url: str | None,
        note: str | None,
    ) -> EditOutcome:
        reference = (reference or "").strip()
        url = (url or "").strip()
        note = (note or "").strip()
        problems = validate(reference, url, note)
        if problems:
            return EditOutcome("failed", None, None, " ".join(problems.values()) + " Nothing was changed.")
        org = self._connect.require_tenant(team_id, user_id, tenant_id)
        source = self._tokens.source(team_id, user_id, org.tenant_id)

        def audit(field: str, before: str | None, after: str | None, outcome: str, error: str | None = None):
            return AuditRecord(
                team_id,
                user_id,
                org.tenant_id,
                txn_id,
                field,
                before,
                after,
                outcome,
                error,
                key,
                self._now(),
            )

        key = idempotency_key(org.tenant_id, txn_id, expected_updated, reference, url)
        try:
            current = self._xero.get_bank_transaction(source, txn_id)
        except XeroError as exc:
            return EditOutcome("failed", None, None, f"{exc} Nothing was changed.")
        reason = editable_reason(current)
        if reason:
            return EditOutcome("failed", current, None, f"{reason} Nothing was changed.")

        changes = [
            (name, old or "", new)
            for name, old, new in (("reference", current.reference, reference), ("url", current.url, url))
            if (old or "") != new
        ]
        if current.updated_date_utc != expected_updated:
            self._record(
                [audit(f, o, n, OUTCOME_CONFLICT, "changed in Xero meanwhile") for f, o, n in changes]
            )
            return EditOutcome(
                "conflict",
                None,
                current,
                "Someone changed this transaction in Xero after you opened it, so I didn't save your "
                "edit. Nothing was changed — review Xero's current values and try again.",
            )
        if not changes and not note:
            return EditOutcome(
                "unchanged", current, current, "Nothing to save — the values are the same as in Xero."
            )

        after = current
        if changes:
            try:
                after = self._xero.update_bank_transaction(
                    source, current, reference=reference, url=url, idempotency_key=key
                )
            except XeroError as exc:
                applied = self._maybe_applied(source, txn_id, exc, reference, url)
                if applied is None:
                    self._record([audit(f, o, n, OUTCOME_FAILED, str(exc)) for f, o, n in changes])
                    tail = "" if getattr(exc, "maybe_applied", False) else " Nothing was changed."
                    return EditOutcome("failed", current, None, f"{exc}{tail}")
                after = applied
        # From here on Xero has the change (or there was none to make): nothing below may turn
        # this into "nothing was changed".
        try:
            return self._after_write(
                current, after, changes, note, user_name, audit, source, txn_id,
                history_key(org.tenant_id, txn_id, expected_updated, reference, url, note, user_id),
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - a bug after a confirmed write must still say "Saved"
            log.exception("edit of %s was saved in Xero but finishing up failed", txn_id)
            if not changes:
                raise
            return EditOutcome(
                "saved",
                current,
                after,
                _saved_message(changes, note, history_added=True),
                warnings=(
                    "Recon hit a problem after Xero saved the change; your admin can find it in the log.",
                ),
            )

    def _after_write(
        self,
        current: BankTransaction,
        after: BankTransaction,
        changes: list[tuple[str, str, str]],
        note: str,
        user_name: str,
        audit: Callable[..., AuditRecord],
        source,
        txn_id: str,
        note_key: str,
    ) -> EditOutcome:
        warnings: list[str] = []
        if changes:
            self._mirror(source.tenant_id, after)
            if not self._record([audit(f, o, n, OUTCOME_SUCCESS) for f, o, n in changes]):
                warnings.append(AUDIT_LOST)
            lost = {li.line_item_id for li in current.line_items} - {
                li.line_item_id for li in after.line_items
            }
            if lost:  # defence in depth: Xero deletes lines left out of an update
                log.error("update of %s lost line items %s", txn_id, sorted(lost))
        details = _history_text(changes, user_name, note)
        history_added, recorded = self._add_history(source, txn_id, details, note_key, audit)
        if not recorded and AUDIT_LOST not in warnings:
            warnings.append(AUDIT_LOST)
        if not changes and not history_added:
            return EditOutcome(
                "failed",
                current,
                None,
                "Your note couldn't be added to Xero's history — nothing was changed.",
            )
        message = _saved_message(changes, note, history_added)
        return EditOutcome("saved", current, after, message, history_added, tuple(warnings))

    def _mirror(self, tenant_id: str, after: BankTransaction) -> None:
        """Xero's answer replaces the mirror's row at once, so the next search shows the edit.

        A failure here costs only freshness (the next delta brings the same change), never the
        "Saved" the user is owed: it is logged with its traceback for the operator.
        """
        if self._write_through is None:
            return
        try:
            self._write_through(tenant_id, after)
        except Exception:  # noqa: BLE001 - see above: the edit is saved either way
            log.exception(
                "mirror write-through of %s failed; the next delta brings it", after.bank_transaction_id
            )

    def _record(self, records: Sequence[AuditRecord]) -> bool:
        """Write audit rows, retrying a database that hiccups; a row that is still lost is logged
        loudly with everything it held, so an operator can put it back by hand."""
        if not records:
            return True
        for attempt in range(AUDIT_ATTEMPTS):
            try:
                write_audit(self._db, list(records))
                return True
            except Exception as exc:  # noqa: BLE001 - any database failure; retried, then reported
                last = exc
                if attempt < len(AUDIT_BACKOFF_S):
                    time.sleep(AUDIT_BACKOFF_S[attempt])
        for r in records:
            log.error(
                "AUDIT ROW LOST after %d attempts (%s): team=%s user=%s tenant=%s txn=%s field=%s "
                "before=%r after=%r outcome=%s key=%s",
                AUDIT_ATTEMPTS,
                type(last).__name__,
                r.slack_team_id,
                r.slack_user_id,
                r.tenant_id,
                r.bank_transaction_id,
                r.field,
                r.before,
                r.after,
                r.outcome,
                r.idempotency_key,
            )
        return False

    def _maybe_applied(self, source, txn_id: str, exc: XeroError, reference: str, url: str):
        """After an unconfirmed write, look: if Xero shows our values, it did apply."""
        if not (isinstance(exc, XeroUnavailable) and getattr(exc, "maybe_applied", False)):
            return None
        try:
            again = self._xero.get_bank_transaction(source, txn_id)
        except XeroError:
            return None
        if (again.reference or "") == reference and (again.url or "") == url:
            return again
        return None

    def _add_history(self, source, txn_id: str, details: str, key: str, audit) -> tuple[bool, bool]:
        """(note added, audit recorded). Any failure here is the note's, never the edit's."""
        try:
            self._xero.add_history_note(source, txn_id, details, idempotency_key=key)
        except (XeroError, ServiceError) as exc:  # ServiceError: NotConnected while refreshing
            log.warning("history note on %s failed: %s: %s", txn_id, type(exc).__name__, exc)
            return False, self._record([audit("history", None, details, OUTCOME_FAILED, str(exc))])
        except Exception as exc:  # noqa: BLE001 - unexpected; the note is what failed, say so
            log.exception("history note on %s failed unexpectedly", txn_id)
            return False, self._record([audit("history", None, details, OUTCOME_FAILED, type(exc).__name__)])
        return True, self._record([audit("history", None, details, OUTCOME_SUCCESS)])


def _unique(orgs: list[TenantView]) -> list[TenantView]:
    seen: set[str] = set()
    out = []
    for org in orgs:
        if org.tenant_id not in seen:
            seen.add(org.tenant_id)
            out.append(org)
    return out


def _not_found_message(txn_id: str, looked: list[TenantView]) -> str:
    names = ", ".join(t.tenant_name for t in looked[:10]) or "your organisations"
    more = f" and {len(looked) - 10} more" if len(looked) > 10 else ""
    return (
        f"I couldn't find transaction `{txn_id}` in {names}{more}. Check the ID (it's the GUID in the "
        "transaction's address in Xero), or connect the organisation it belongs to with `/recon connect`."
    )


_FIELD_NAMES = {"reference": "Reference", "url": "Source link"}


def _history_text(changes: list[tuple[str, str, str]], user_name: str, note: str) -> str:
    parts = [f"{_FIELD_NAMES[f]} changed from '{old}' to '{new}'" for f, old, new in changes]
    text = (
        ("; ".join(parts) + f" by {user_name} via Slack.") if parts else f"Note from {user_name} via Slack."
    )
    if note:
        text += f" Note: {note}"
    return text[:2000]


def _saved_message(changes: list[tuple[str, str, str]], note: str, history_added: bool) -> str:
    what = " and ".join(_FIELD_NAMES[f].lower() for f, _, _ in changes)
    if changes:
        message = f"Saved: the {what} {'were' if len(changes) > 1 else 'was'} updated in Xero."
    else:
        message = "Your note was added to the transaction's history in Xero." if history_added else ""
    if not history_added and changes:
        message += " " + HISTORY_LOST
    return message.strip()
