"""Every message, modal and Home tab the bot shows, as pure functions of domain objects.

No I/O and no Slack client here: a builder takes what the services returned and gives back
Block Kit dicts (see :mod:`bot.slack.kit`). Text that came from Xero or a user is shown in
``plain_text`` objects (:func:`bot.slack.text.plain`) wherever Block Kit allows, so a contact
named ``<!channel>`` or ``*Star* Print Shop`` shows exactly as Xero has it and pings nobody;
where a sentence also needs a mention or a link it is mrkdwn and the value goes through
:func:`bot.slack.text.safe` (Slack's ``& < >`` escaping, nothing more).

Messages stay within 50 blocks and views within 100 (the builders cap list lengths and say
"and N more" rather than letting Slack reject the payload).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from bot.services.edit import MAX_NOTE, MAX_REFERENCE, MAX_URL
from bot.services.query import SYNTAX_HELP
from bot.services.search import MAX_SCAN_PAGES, SCAN_PAGE_SIZE
from bot.slack import kit
from bot.slack import text as tx
from bot.slack.kit import Block, Message, TextPart
from bot.slack.refs import (
    ACTION_CONNECT_LINK,
    ACTION_DISCONNECT,
    ACTION_DISCONNECT_CANCEL,
    ACTION_EDIT,
    ACTION_EDIT_RELOAD,
    ACTION_MAKE_DEFAULT,
    ACTION_PAGE,
    BLOCK_DM_DEFAULTS,
    VIEW_EDIT,
    DisconnectRef,
    EditMeta,
    EditRef,
)

XERO_HOST = "https://go.xero.com"
XERO_TXN_PATH = "/Bank/ViewTransaction.aspx"
XERO_LOGIN_PATH = "/organisationlogin/default.aspx"
MAX_ORGS_LISTED = 30
MAX_DEFAULT_BUTTONS = 20
MAX_DIGESTS_LISTED = 8
GRANT_NEEDS_RECONNECT = "needs_reconnect"
TENANT_GONE = "gone"


# ------------------------------------------------------------------ shapes the builders read
class _Contact(Protocol):
    name: str | None


class _Account(Protocol):
    account_id: str | None
    code: str | None
    name: str | None


class Txn(Protocol):
    """The parts of ``bot.xero.models.BankTransaction`` the builders show."""

    bank_transaction_id: str
    type: str
    status: str
    date: date
    updated_date_utc: datetime
    contact: _Contact | None
    bank_account: _Account
    reference: str | None
    url: str | None
    currency_code: str | None
    is_reconciled: bool

    @property
    def is_editable(self) -> bool: ...

    @property
    def signed_total(self) -> Any: ...


class Org(Protocol):
    """The parts of ``storage.grants.TenantView`` the builders show."""

    tenant_id: str
    tenant_name: str
    is_default: bool
    status: str
    grant_status: str


@dataclass(frozen=True)
class OrgFacts:
    """What links and times need to know of an organisation: its Xero ShortCode and IANA zone.

    Both may be unknown (Xero not reachable the first time): links then open Xero without
    choosing the organisation, and times are shown in UTC, saying so.
    """

    short_code: str | None = None
    zone: str | None = None


NO_FACTS = OrgFacts()


# ------------------------------------------------------------------ shared pieces
def xero_link(txn: Txn, short_code: str | None = None) -> str:
    """Xero's deep link to the transaction, landing in the right organisation.

    With the organisation's ShortCode this is Xero's documented form
    ``/organisationlogin/default.aspx?shortcode=…&redirecturl=/Bank/ViewTransaction.aspx?…``,
    the inner address URL-encoded so its own ``?`` and ``&`` stay inside ``redirecturl``. Without
    one it falls back to the plain transaction page (Xero opens the last organisation used).
    """
    query = {"bankTransactionID": txn.bank_transaction_id}
    if txn.bank_account.account_id:
        query["accountID"] = txn.bank_account.account_id
    target = f"{XERO_TXN_PATH}?{urlencode(query)}"
    if not short_code:
        return XERO_HOST + target
    login = urlencode({"shortcode": short_code, "redirecturl": target}, safe="!")
    return f"{XERO_HOST}{XERO_LOGIN_PATH}?{login}"


def _link(url: str, label: str) -> str:
    """An mrkdwn link; ``label`` is our own words."""
    return f"<{tx.escape(url)}|{label}>"


def amount(txn: Txn) -> str:
    return tx.money(txn.signed_total, txn.currency_code)


def _account_name(txn: Txn) -> str:
    acc = txn.bank_account
    return tx.plain(acc.name or acc.code, 60, empty="(no bank account)")


def txn_headline(txn: Txn) -> str:
    """``12 Nov 2026 · Zephyr Plumbing Ltd · −1,234.56 NZD`` — plain text, the row's first line."""
    contact = tx.plain(txn.contact.name if txn.contact else None, 80, empty="(no contact)")
    return f"{tx.day(txn.date)} · {contact} · {amount(txn)}"


def txn_facts(txn: Txn, reference: str | None = None) -> str:
    """``ZP-4471 · Business Bank Account · not reconciled`` — plain text, the row's second line."""
    shown = txn.reference if reference is None else reference
    parts = [tx.plain(shown, 80, empty="(no reference)"), _account_name(txn)]
    parts.append("✓ reconciled" if txn.is_reconciled else "not reconciled")
    if txn.type not in ("SPEND", "RECEIVE"):
        parts.append(txn.type.lower().replace("-", " ")[:40])
    if txn.status != "AUTHORISED":
        parts.append(txn.status.lower()[:20])
    return " · ".join(parts)


def txn_row(
    txn: Txn,
    tenant_id: str,
    *,
    short_code: str | None = None,
    cursor: str | None = None,
    reference: str | None = None,
    notes: Sequence[TextPart] = (),
) -> list[Block]:
    """One transaction as two blocks: its headline with Edit (where Xero allows editing), then
    its reference, account and state with "Open in Xero" — used by search results and digests.

    ``reference`` overrides the transaction's (a digest row fixed after it was posted);
    ``notes`` are extra context parts (e.g. "✓ by @bob 14:02").
    """
    accessory = edit_button(tenant_id, txn.bank_transaction_id, cursor) if txn.is_editable else None
    return [
        kit.section(kit.plain(txn_headline(txn)), accessory=accessory),
        kit.context(
            kit.plain(txn_facts(txn, reference)),
            _link(xero_link(txn, short_code), "Open in Xero"),
            *notes,
        ),
    ]


def edit_button(tenant_id: str, txn_id: str, cursor: str | None = None) -> dict[str, Any]:
    """The Edit button, also used by the digest: whoever presses it edits with their own grant."""
    return kit.button("Edit", ACTION_EDIT, value=EditRef(tenant_id, txn_id, cursor).encode())


def connect_button(consent_url: str, *, reconnect: bool = False) -> dict[str, Any]:
    label = "Reconnect to Xero" if reconnect else "Connect to Xero"
    return kit.button(label, ACTION_CONNECT_LINK, url=consent_url, style="primary")


def names_list(names: Sequence[str], limit: int = 10, *, width: int = 60) -> str:
    """``A, B and 3 more`` — plain text."""
    shown = [tx.plain(n, width) for n in names[:limit]]
    if len(names) > limit:
        shown.append(f"{len(names) - limit} more")
    return tx.human_list(shown)


SCAN_LIMIT = MAX_SCAN_PAGES * SCAN_PAGE_SIZE  # rows a text search reads at most


# ------------------------------------------------------------------ help
HELP_COMMANDS = """\
*Recon* — search and fix Xero bank transactions without leaving Slack.
• `/recon connect` — connect your own Xero login (you'll get a DM naming the organisations)
• `/recon orgs` — your connected organisations and which one is the default
• `/recon use &lt;organisation&gt;` — make another organisation your default
• `/recon search &lt;query&gt;` — find bank transactions (syntax below)
• `/recon edit &lt;BankTransactionID&gt; [org:"name"]` — fix a transaction's reference and source link
• `/recon digest on [#channel] [HH:MM] [Area/City] [quiet] [org:"name"]` · `off` · `now` · `status` \
— a daily list of what is still unreconciled; `quiet` skips days with nothing waiting
• `/recon disconnect [organisation]` — remove one organisation, or your whole Xero connection"""


def help_message(unknown: str | None = None) -> Message:
    blocks: list[Block] = []
    if unknown is not None:
        blocks.append(kit.section(f"I don't know {tx.code(unknown, 60)}. Here's what I can do:"))
    blocks += [kit.section(HELP_COMMANDS), kit.divider(), kit.section(SYNTAX_HELP)]
    fallback = "Recon commands: connect, orgs, use, search, edit, digest, disconnect"
    if unknown is not None:
        fallback = f"I don't know “{tx.safe(unknown, 60)}”. " + fallback
    return kit.message(fallback, blocks)


def usage_message(usage: str, why: str) -> Message:
    return kit.message(why, [kit.section(f"{why}\nUsage: {usage}")])


# ------------------------------------------------------------------ connecting
def consent_message(consent_url: str, *, reconnect: bool = False, reason: str | None = None) -> Message:
    """The answer to anything that needs Xero from someone without a usable connection.

    ``reason`` is plain text (it may name organisations).
    """
    if reconnect:
        lead = reason or "Your Xero connection has expired or was revoked."
        body = f"{lead} Reconnect with your Xero login to carry on — nothing else is lost."
    else:
        lead = reason or "You haven't connected Recon to Xero yet."
        body = f"{lead} Connect with your own Xero login; you choose which organisations Recon may use."
    return kit.message(
        tx.escape(body),
        [
            kit.section(kit.plain(body)),
            kit.actions(connect_button(consent_url, reconnect=reconnect)),
            kit.context("The link is yours alone and works once, within 10 minutes."),
        ],
    )


def _org_status(org: Org) -> str:
    if org.grant_status == GRANT_NEEDS_RECONNECT:
        return "⚠ needs reconnecting"
    if org.status == TENANT_GONE:
        return "⚠ no longer connected in Xero"
    return "connected"


def org_rows(orgs: Sequence[Org], sync_lines: Mapping[str, str] | None = None) -> list[Block]:
    """One section per organisation: status, the default marked, "Make default" on the others;
    ``sync_lines`` adds how fresh each one's mirror is (the Home tab)."""
    blocks: list[Block] = []
    for org in orgs[:MAX_ORGS_LISTED]:
        line = f"{tx.plain(org.tenant_name, 100)} · {_org_status(org)}"
        if sync_lines and sync_lines.get(org.tenant_id):
            line += f" · {sync_lines[org.tenant_id]}"
        if org.is_default:
            blocks.append(kit.section(kit.plain(line + " · default")))
        else:
            make_default = kit.button("Make default", ACTION_MAKE_DEFAULT, value=org.tenant_id)
            blocks.append(kit.section(kit.plain(line), accessory=make_default))
    if len(orgs) > MAX_ORGS_LISTED:
        blocks.append(kit.context(f"…and {len(orgs) - MAX_ORGS_LISTED} more."))
    return blocks


def orgs_message(orgs: Sequence[Org], consent_url: str | None = None) -> Message:
    """``/recon orgs``: every connected organisation, the default marked, a button for the others."""
    blocks: list[Block] = [kit.section("*Your Xero organisations*"), *org_rows(orgs)]
    hint = 'Searches and digests use the default unless you add `org:"name"`.'
    blocks.append(kit.context(hint))
    if consent_url:
        blocks.append(
            kit.actions(kit.button("Connect another organisation", ACTION_CONNECT_LINK, url=consent_url))
        )
    names = ", ".join(tx.safe(o.tenant_name, 60) for o in orgs[:10])
    return kit.message(f"Your Xero organisations: {names}", blocks)


def default_set_message(org: Org) -> Message:
    text = f"✓ {tx.plain(org.tenant_name, 100)} is now your default organisation."
    fallback = f"{tx.safe(org.tenant_name, 100)} is now your default organisation."
    return kit.message(fallback, [kit.section(kit.plain(text))])


def consent_success_dm(orgs: Sequence[Org], added: Sequence[Org] = ()) -> Message:
    """The DM after a successful consent: which organisations, and a way to pick the default."""
    shown = list(added) or list(orgs)
    names = names_list([o.tenant_name for o in shown], MAX_ORGS_LISTED, width=100)
    blocks: list[Block] = [kit.section(kit.plain(f"✅ Recon is connected to Xero: {names}."))]
    default = next((o for o in orgs if o.is_default), None)
    others = [o for o in orgs if not o.is_default]
    if default is not None and others:
        blocks.append(
            kit.section(kit.plain(f"Your default organisation is {tx.plain(default.tenant_name, 100)}."))
        )
        buttons = [
            kit.button(
                f"Make {tx.plain(o.tenant_name, 50)} default",
                f"{ACTION_MAKE_DEFAULT}_{n}",
                value=o.tenant_id,
            )
            for n, o in enumerate(others[:MAX_DEFAULT_BUTTONS])
        ]
        blocks.append(kit.actions(*buttons, block_id=BLOCK_DM_DEFAULTS))
    blocks.append(kit.context(f"Try {tx.code(SEARCH_EXAMPLE)} or `/recon help`."))
    fallback = "Recon is connected to Xero: " + ", ".join(tx.safe(o.tenant_name, 60) for o in shown[:10])
    return kit.message(fallback, blocks)


def reconnect_dm(consent_url: str) -> Message:
    return consent_message(consent_url, reconnect=True)


# ------------------------------------------------------------------ disconnect
class _Digest(Protocol):
    channel_id: str
    tenant_name: str


def _digest_places(digests: Sequence[_Digest]) -> str:
    """``Harbour Coffee Roasters in <#C1> and Kestrel in <#C2>`` — mrkdwn (channel links)."""
    shown = [f"{tx.safe(d.tenant_name, 60)} in <#{d.channel_id}>" for d in digests[:MAX_DIGESTS_LISTED]]
    if len(digests) > MAX_DIGESTS_LISTED:
        shown.append(f"{len(digests) - MAX_DIGESTS_LISTED} more")
    return tx.human_list(shown)


def disconnect_confirm_message(
    target: str | None, names: Sequence[str], digests: Sequence[_Digest] = ()
) -> Message:
    """A button guarded by a Block Kit confirm dialog; nothing happens until it is pressed.

    ``digests`` are the daily digests the disconnect would remove: they are named in the message
    and in the dialog, so nobody loses a channel's digest without being told.
    """
    if target is None:
        what = f"all your Xero organisations ({names_list(list(names))})"
        dialog = (
            "Recon will revoke its access at Xero and forget your tokens. "
            "Searches and edits stop until you connect again."
        )
    else:
        what = tx.plain(target, 100)
        dialog = f"Recon will remove {tx.safe(target, 100)} and forget its tokens."
    blocks: list[Block] = [kit.section(kit.plain(f"Disconnect {what} from Recon?"))]
    if digests:
        places = _digest_places(digests)
        if len(digests) == 1:
            blocks.append(kit.section(f"⚠ This daily digest stops and is removed: {places}."))
            dialog += f" Daily digest stops: {places}."
        else:
            blocks.append(kit.section(f"⚠ These daily digests stop and are removed: {places}."))
            dialog += f" Daily digests stop: {places}."
    blocks.append(
        kit.actions(
            kit.button(
                "Disconnect",
                ACTION_DISCONNECT,
                value=DisconnectRef(target).encode(),
                style="danger",
                confirm=kit.confirm_dialog("Disconnect from Xero?", tx.truncate(dialog, 300), "Disconnect"),
            ),
            kit.button("Keep it", ACTION_DISCONNECT_CANCEL),
        )
    )
    return kit.message(f"Disconnect {tx.safe(target or 'everything', 100)} from Recon?", blocks)


def disconnected_message(names: Sequence[str]) -> Message:
    listed = names_list(list(names), MAX_ORGS_LISTED, width=100) or "your Xero login"
    them = "them" if len(names) > 1 else "it"
    text = (
        f"Disconnected {listed}: Recon can no longer use {them} with your Xero login, and any "
        f"digests you set up for {them} were removed. Connect again any time with /recon connect."
    )
    return kit.message(f"Disconnected {len(names)} organisation(s).", [kit.section(kit.plain(text))])


def note_message(text_mrkdwn: str, fallback: str | None = None) -> Message:
    """A one-section message; ``text_mrkdwn`` must already be safe."""
    return kit.message(fallback or text_mrkdwn, [kit.section(text_mrkdwn)])


# ------------------------------------------------------------------ search
SEARCH_EXAMPLE = "/recon search from:30d status:unreconciled"


def searching_message(org_label: str | None) -> Message:
    """The immediate ack of a search; the result replaces it."""
    if org_label is None:
        return kit.message(
            "Checking your Xero connection…", [kit.context("⏳ Checking your Xero connection…")]
        )
    label = tx.plain(org_label, 100)
    return kit.message(
        f"Searching {tx.safe(org_label, 100)}…", [kit.context(kit.plain(f"⏳ Searching {label}…"))]
    )


def search_message(result: Any, facts: OrgFacts = NO_FACTS) -> Message:
    """A page of results: header, ≤ 10 rows with Edit where Xero allows, Prev / Next with the page.

    ``facts`` are the organisation's, read once per result (not per row): its ShortCode makes
    every "Open in Xero" land in this organisation.
    """
    org_name = result.org.tenant_name
    query = result.query.display
    rows: Sequence[Txn] = result.rows
    header = f"Search results — {tx.plain(org_name, 100)} · {tx.plain(query or '(last 90 days)', 150)}"
    readings = getattr(result.query, "readings", ())
    if readings:
        header += " · " + tx.plain("; ".join(readings), 200)
    if not rows:
        return _no_results(result, header, facts)
    first = (result.page - 1) * 10 + 1
    last = first + len(rows) - 1
    total = getattr(result, "total", None)
    if result.page == 1 and not result.has_next:
        count = f"{tx.plural(len(rows), 'transaction')} found"
    elif total is not None:
        count = f"{first:,}–{last:,} of {total:,}"
    else:
        count = f"showing {first:,}–{last:,}"
    blocks: list[Block] = [kit.section(kit.plain(f"{header} · {count}")), kit.divider()]
    for txn in rows:
        blocks += txn_row(txn, result.org.tenant_id, short_code=facts.short_code, cursor=result.this_cursor)
    blocks.append(kit.divider())
    nav = []
    if result.has_prev and result.prev_cursor:
        nav.append(kit.button("‹ Prev", ACTION_PAGE + "_prev", value=result.prev_cursor))
    if result.has_next and result.next_cursor:
        nav.append(kit.button("Next ›", ACTION_PAGE + "_next", value=result.next_cursor))
    if nav:
        blocks.append(kit.actions(*nav, block_id=f"nav_{result.page}"))
    footer = [f"page {result.page:,}", *_source_notes(result, facts)]
    if getattr(result, "truncated", False):
        footer.append(
            f"stopped reading after {SCAN_LIMIT:,} transactions — narrow the search to see older ones"
        )
    if not any(t.is_editable for t in rows):
        footer.append("only spend and receive money that is not voided can be edited")
    blocks.append(kit.context(" · ".join(footer)))
    fallback = f"{len(rows)} transactions from {tx.safe(org_name, 100)} (page {result.page})"
    return kit.message(fallback, blocks)


def _source_notes(result: Any, facts: OrgFacts) -> list[str]:
    """Where the answer came from, when the user should know: an old copy, or a copy still filling."""
    as_of = getattr(result, "as_of", None)
    if getattr(result, "from_mirror", False) and as_of is not None:
        when = tx.clock_time(as_of, facts.zone)
        if (datetime.now(as_of.tzinfo) - as_of).total_seconds() > 20 * 3600:
            when = tx.moment(as_of, facts.zone)
        return [f"⚠ as of {when}: Xero could not be asked for changes just now, so this is Recon's copy"]
    filling = getattr(result, "filling", None)
    if filling is None:
        return []
    progress = ""
    if filling.rows_read:
        about = f" of about {filling.rows_expected:,}" if filling.rows_expected else ""
        progress = f" ({filling.rows_read:,}{about} read)"
    return [f"Recon's copy of this organisation is still filling{progress}: this answer came live from Xero"]


def _no_results(result: Any, header: str, facts: OrgFacts = NO_FACTS) -> Message:
    if result.page > 1:
        body = "No more results on this page — the transactions may have changed since the search ran."
    else:
        body = (
            "No transactions match. Try fewer words, a wider window such as `from:365d`, "
            "`status:any`, or drop `type:`/`account:` filters. Without dates Recon looks at the last 90 days."
        )
    blocks = [kit.section(kit.plain(header)), kit.section(body)]
    notes = _source_notes(result, facts)
    if notes:
        blocks.append(kit.context(" · ".join(notes)))
    if result.has_prev and result.prev_cursor:
        blocks.append(kit.actions(kit.button("‹ Prev", ACTION_PAGE + "_prev", value=result.prev_cursor)))
    return kit.message(f"No transactions found in {tx.safe(result.org.tenant_name, 100)}.", blocks)


def query_error_message(message_mrkdwn: str) -> Message:
    """A :class:`QueryError` (its message already names the token, escaped) plus the syntax."""
    return kit.message(
        "I couldn't read that search.",
        [kit.section(f"⚠ {message_mrkdwn}"), kit.divider(), kit.section(SYNTAX_HELP)],
    )


def error_message(text_mrkdwn: str) -> Message:
    """What went wrong, already phrased for the user and safe for mrkdwn."""
    return kit.message(tx.truncate(text_mrkdwn, 300), [kit.section(f"⚠ {text_mrkdwn}")])


# ------------------------------------------------------------------ edit modal
EDIT_TITLE = "Edit transaction"
BLOCK_REFERENCE = "reference"
BLOCK_URL = "url"
BLOCK_NOTE = "note"
REFERENCE_MAX = MAX_REFERENCE
URL_MAX = MAX_URL
NOTE_MAX = MAX_NOTE


def _modal(blocks: list[Block], meta: EditMeta | None, **kwargs: Any) -> dict[str, Any]:
    return kit.modal(
        EDIT_TITLE,
        blocks,
        callback_id=VIEW_EDIT,
        private_metadata=meta.encode() if meta else "",
        **kwargs,
    )


def loading_view(what: str = "Loading the transaction…") -> dict[str, Any]:
    """Opened at once with the trigger_id (valid 3 s, once), then replaced by the real form."""
    return _modal([kit.section(f"⏳ {what}")], None, close="Cancel")


def message_view(text_mrkdwn: str, meta: EditMeta | None = None, *, title_icon: str = "⚠") -> dict[str, Any]:
    """Not editable, not found, not connected, failed: the modal says so in words."""
    return _modal([kit.section(f"{title_icon} {text_mrkdwn}")], meta)


def consent_view(
    consent_url: str, *, reconnect: bool, reason: str | None = None, meta: EditMeta | None = None
) -> dict[str, Any]:
    """The Connect button inside the edit modal.

    With ``meta`` (which transaction the modal is for) the modal fills itself once the user has
    connected, and offers a button to look again in case that update could not reach it.
    """
    msg = consent_message(consent_url, reconnect=reconnect, reason=reason)
    blocks = list(msg["blocks"])
    if meta is not None:
        blocks.append(kit.context("Once you've connected, this window shows the transaction by itself."))
        blocks.append(kit.actions(kit.button("I've connected — show the transaction", ACTION_EDIT_RELOAD)))
    return _modal(blocks, meta)


def _txn_summary(txn: Txn, org: Org, facts: OrgFacts) -> list[Block]:
    return [
        kit.section(kit.plain(txn_headline(txn))),
        kit.context(kit.plain(txn_facts(txn)), _link(xero_link(txn, facts.short_code), "Open in Xero")),
        kit.context(
            kit.plain(
                f"Organisation: {tx.plain(org.tenant_name, 100)} · "
                f"last changed in Xero {tx.moment(txn.updated_date_utc, facts.zone)} · "
                f"ID {txn.bank_transaction_id}"
            )
        ),
    ]


def _typed_line(typed: dict[str, str | None]) -> str:
    parts = [f"Reference {_shown(typed.get('reference'))}", f"Source link {_shown(typed.get('url'))}"]
    if typed.get("note"):
        parts.append(f"Note {_shown(typed.get('note'))}")
    return " · ".join(parts)


def edit_view(txn: Txn, org: Org, meta: EditMeta, facts: OrgFacts = NO_FACTS) -> dict[str, Any]:
    """The form: Reference (prefilled), Source link, Note; metadata says what was seen and from where.

    After a conflict (``meta.typed``) the fields hold Xero's current values and what the user had
    typed is shown above them, so nothing they typed is lost.
    """
    blocks = _txn_summary(txn, org, facts)
    if meta.typed:
        blocks += [
            kit.section(kit.plain(f"Your edit, not saved: {_typed_line(meta.typed)}", 2900)),
            kit.context("The fields below hold Xero's current values — copy in what you still need."),
        ]
    blocks += [
        kit.text_input(
            BLOCK_REFERENCE,
            "Reference",
            initial=txn.reference,
            max_length=REFERENCE_MAX,
            placeholder="e.g. INV-0042",
        ),
        kit.text_input(
            BLOCK_URL,
            "Source link",
            initial=txn.url,
            max_length=URL_MAX,
            placeholder="https://…",
            hint="Where this transaction comes from (an invoice, a receipt). Must start with http:// or https://.",
        ),
        kit.text_input(
            BLOCK_NOTE,
            "Note for the history",
            multiline=True,
            max_length=NOTE_MAX,
            hint="Added to the transaction's History in Xero with your name.",
        ),
    ]
    form_meta = meta.with_typed(None).with_updated(txn.updated_date_utc)
    return _modal(blocks, form_meta, submit="Save", close="Cancel")


def saving_view(meta: EditMeta) -> dict[str, Any]:
    return _modal([kit.section("⏳ Saving to Xero…")], meta)


def _shown(value: str | None, limit: int = 200) -> str:
    return tx.plain(value, limit, empty="(empty)")


def _change_rows(before: Txn | None, after: Txn | None) -> list[str]:
    rows = []
    for label, attr in (("Reference", "reference"), ("Source link", "url")):
        old = getattr(before, attr, None) if before else None
        new = getattr(after, attr, None) if after else None
        if (old or "") != (new or ""):
            rows.append(f"{label}: {_shown(old)} → {_shown(new)}")
        else:
            rows.append(f"{label}: {_shown(new)} (unchanged)")
    return rows


def saved_view(
    outcome: Any, org: Org | None, meta: EditMeta, facts: OrgFacts = NO_FACTS, warnings: Sequence[str] = ()
) -> dict[str, Any]:
    """Before → after for each field, plus what did not go well after Xero took the change.

    ``outcome.message`` and ``warnings`` are our own sentences (mrkdwn-safe once escaped).
    """
    where = f" in {tx.plain(org.tenant_name, 100)}" if org else ""
    blocks: list[Block] = [
        kit.section(kit.plain("\n".join([f"✅ Saved{where}.", *_change_rows(outcome.before, outcome.after)])))
    ]
    notes = [tx.escape(outcome.message)] if outcome.message else []
    notes += [f"⚠ {tx.escape(w)}" for w in warnings]
    if notes:
        blocks.append(kit.section("\n".join(notes)))
    if outcome.after is not None:
        blocks.append(kit.context(_link(xero_link(outcome.after, facts.short_code), "Open in Xero")))
    updated = getattr(outcome.after, "updated_date_utc", None)
    return _modal(blocks, meta.with_updated(updated).with_typed(None), close="Done")


def unchanged_view(outcome: Any, meta: EditMeta) -> dict[str, Any]:
    text = tx.escape(outcome.message or "Nothing to change — those are already the values in Xero.")
    return _modal([kit.section(f"ℹ {text}")], meta, close="Done")


def conflict_view(
    outcome: Any, typed: dict[str, str | None], meta: EditMeta, facts: OrgFacts = NO_FACTS
) -> dict[str, Any]:
    """Both versions side by side, nothing changed, and a way to start again from Xero's values
    that keeps what the user typed (it travels in the metadata to the reopened form)."""
    now = outcome.after
    lines = []
    if outcome.before is not None:
        lines.append("When you opened it: " + _versions(outcome.before))
    lines += [f"Your edit: {_typed_line(typed)}", "Now in Xero: " + _versions(now)]
    blocks: list[Block] = [
        kit.section("⚠ *This transaction changed in Xero after you opened it, so nothing was changed.*"),
        kit.section(kit.plain("\n".join(lines), 2900)),
    ]
    if now is not None:
        blocks.append(
            kit.context(kit.plain(f"Changed in Xero at {tx.moment(now.updated_date_utc, facts.zone)}."))
        )
    blocks.append(
        kit.actions(kit.button("Reopen with Xero's current values", ACTION_EDIT_RELOAD, style="primary"))
    )
    return _modal(blocks, meta.with_typed(typed), close="Close")


def _versions(txn: Txn | None) -> str:
    if txn is None:
        return "(not available)"
    return f"Reference {_shown(txn.reference)} · Source link {_shown(txn.url)}"


def failed_view(text_mrkdwn: str, meta: EditMeta) -> dict[str, Any]:
    return message_view(text_mrkdwn, meta)


# ------------------------------------------------------------------ App Home
HOME_HOWTO = f"""\
*How to use Recon*
• `{SEARCH_EXAMPLE}` — what is still waiting in your default organisation; `/recon help` shows \
the whole syntax
• Press *Edit* on a result to fix its reference or source link; Recon checks that nobody \
changed it in Xero meanwhile
• `/recon digest on 08:30` in a channel — a daily list of unreconciled items there"""


HOME_NOT_CONNECTED = (
    "You haven't connected Xero yet. Connect with your own Xero login to search and fix "
    "bank transactions from Slack."
)
HOME_RECONNECT = "⚠ Xero stopped accepting your connection. Reconnect to keep searches and digests working."


def home_view(
    orgs: Sequence[Org],
    *,
    consent_url: str | None,
    needs_reconnect: bool,
    digest_blocks: Iterable[Block] = (),
    sync_lines: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    blocks: list[Block] = [kit.header("Recon for Xero")]
    if not orgs:
        blocks.append(kit.section(HOME_NOT_CONNECTED))
    else:
        if needs_reconnect:
            blocks.append(kit.section(HOME_RECONNECT))
        blocks.append(kit.section("*Your organisations*"))
        blocks.extend(org_rows(orgs, sync_lines))
    if consent_url:
        if needs_reconnect or not orgs:
            button = connect_button(consent_url, reconnect=needs_reconnect)
        else:
            button = kit.button("Connect another organisation", ACTION_CONNECT_LINK, url=consent_url)
        blocks.append(kit.actions(button))
        blocks.append(
            kit.context("Connect links work once, within 10 minutes; reopen this tab for a new one.")
        )
    digest = list(digest_blocks)
    if digest:
        blocks.append(kit.divider())
        blocks.extend(digest[:60])
    blocks += [kit.divider(), kit.section(HOME_HOWTO)]
    return {"type": "home", "blocks": blocks[: kit.VIEW_BLOCKS]}


def home_trouble_view(text_mrkdwn: str) -> dict[str, Any]:
    """The Home tab when it could not be built: what happened and what to do, instead of nothing."""
    return {
        "type": "home",
        "blocks": [
            kit.header("Recon for Xero"),
            kit.section(f"⚠ {text_mrkdwn}"),
            kit.divider(),
            kit.section(HOME_HOWTO),
        ],
    }


def slack_home_link(team_id: str, app_id: str | None) -> str:
    """``slack://app?team=…&id=…&tab=home`` — opens the App Home from the browser page."""
    link = f"slack://app?team={team_id}"
    if app_id:
        link += f"&id={app_id}"
    return link + "&tab=home"
