"""``/recon`` and its subcommands.

Each subcommand is a small function of a :class:`Command` so it can be unit-tested with plain
mocks. What may happen before the ack: pure work (help, parsing) and database *reads* (which
organisation to name in "Searching …"). Writes (a consent state) and Slack calls happen right
after ``ack()`` on the listener thread; Xero calls go to the services' executor.

Every failure answers the user (:func:`run_guarded`): before the ack, in the ack itself; after
it, through the response_url — never as an exception left for Bolt to log while Slack shows
"dispatch_failed".
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App

from bot.services.errors import OrgAmbiguous, OrgNotFound
from bot.services.query import QueryError, parse_query
from bot.slack import blocks, editing, replies
from bot.slack.args import ArgError, take_org
from bot.slack.args import unescape as unescape
from bot.slack.facts import org_facts
from bot.slack.handoff import Handoff
from bot.slack.refs import COMMAND, is_guid

log = logging.getLogger(__name__)

DIGEST_MODULE = "bot.slack.digest_commands"


@dataclass
class Command:
    """One ``/recon`` invocation, with the Bolt utilities it may use."""

    services: Any
    handoff: Handoff
    ack: Callable[..., Any]
    respond: Callable[..., Any]
    client: Any
    team_id: str
    user_id: str
    channel_id: str
    trigger_id: str
    context: MutableMapping[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def reply(self, message: dict[str, Any]) -> None:
        """Ephemeral answer after the ack, through the command's response_url."""
        self.respond(response_type="ephemeral", **message)

    def fail(self, exc: BaseException, *, changed_nothing: bool = True) -> None:
        self.reply(replies.error_message(exc, changed_nothing=changed_nothing, where="/recon"))

    def quickly(self, work: Callable[[], dict[str, Any]]) -> None:
        """Ack now, then run ``work`` (database + Slack only) here and answer with its message."""
        self.ack()
        try:
            message = work()
        except Exception as exc:  # noqa: BLE001 - the user gets told (replies.describe logs the unexpected)
            self.fail(exc)
            return
        self.reply(message)


# ------------------------------------------------------------------ subcommands
def cmd_help(cmd: Command, _args: str) -> None:
    cmd.ack(response_type="ephemeral", **blocks.help_message())


def cmd_connect(cmd: Command, _args: str) -> None:
    def work() -> dict[str, Any]:
        orgs = cmd.services.connect.organisations(cmd.team_id, cmd.user_id)
        url = cmd.services.connect.consent_url(cmd.team_id, cmd.user_id)
        reconnect = any(o.grant_status == blocks.GRANT_NEEDS_RECONNECT for o in orgs)
        reason = None
        if orgs and not reconnect:
            names = blocks.names_list([o.tenant_name for o in orgs])
            reason = f"You're connected to {names}. To add organisations, connect again and tick them."
        return blocks.consent_message(url, reconnect=reconnect, reason=reason)

    cmd.quickly(work)


def cmd_orgs(cmd: Command, _args: str) -> None:
    def work() -> dict[str, Any]:
        connect = cmd.services.connect
        orgs = connect.organisations(cmd.team_id, cmd.user_id)
        url = connect.consent_url(cmd.team_id, cmd.user_id)
        if not orgs:
            return blocks.consent_message(url)
        return blocks.orgs_message(orgs, consent_url=url)

    cmd.quickly(work)


def cmd_use(cmd: Command, args: str) -> None:
    name = unescape(args).strip().strip('"“”')
    if not name:
        cmd.ack(
            response_type="ephemeral",
            **blocks.usage_message("`/recon use &lt;organisation name&gt;`", "Which organisation?"),
        )
        return
    connect = cmd.services.connect
    cmd.handoff.labels.forget(cmd.team_id, cmd.user_id)
    cmd.quickly(lambda: blocks.default_set_message(connect.use_org(cmd.team_id, cmd.user_id, name)))


def cmd_search(cmd: Command, args: str) -> None:
    """Ack with "Searching <org>…" at once; the search runs on the executor and replaces it."""
    try:
        query = parse_query(args, today=datetime.now(UTC).date())  # syntax check only; the service re-parses
    except QueryError as exc:
        cmd.ack(response_type="ephemeral", **blocks.query_error_message(exc.message))
        return
    try:
        label = _org_label(cmd, query.org)
    except Exception as exc:  # noqa: BLE001 - no such organisation, or the database: say so in the ack
        cmd.ack(
            response_type="ephemeral", **replies.error_message(exc, changed_nothing=False, where="search")
        )
        return

    def job() -> None:
        result = cmd.services.search.search(cmd.team_id, cmd.user_id, args)
        facts = org_facts(cmd.services, cmd.team_id, cmd.user_id, result.org.tenant_id)
        cmd.respond(replace_original=True, response_type="ephemeral", **blocks.search_message(result, facts))

    def on_error(exc: BaseException) -> None:
        message = replies.error_message(exc, changed_nothing=False, where="search")
        cmd.respond(replace_original=True, response_type="ephemeral", **message)

    start = cmd.handoff.later(cmd.context, job, on_error=on_error, what="search")
    cmd.ack(response_type="ephemeral", **blocks.searching_message(label))
    start()


def _org_label(cmd: Command, org_name: str | None) -> str | None:
    """The organisation to name in "Searching …" (reads only; the service decides for real).

    None when the user has no organisation at all: the search will answer with the consent button.
    An ``org:`` that names none (or several) of the user's organisations raises
    :class:`OrgNotFound` / :class:`OrgAmbiguous` here, so nobody sees "Searching acme…" for an
    organisation Recon doesn't know.
    """
    connect = cmd.services.connect
    if org_name:
        name = unescape(org_name)
        tenants = connect.organisations(cmd.team_id, cmd.user_id)
        if not tenants:
            return None
        found = connect.find_orgs(cmd.team_id, cmd.user_id, name)
        if len(found) == 1:
            return found[0].tenant_name
        raise OrgAmbiguous(name, found) if found else OrgNotFound(name, tenants)

    def load() -> str | None:
        default = connect.default_org(cmd.team_id, cmd.user_id)
        return default.tenant_name if default is not None else None

    return cmd.handoff.labels.get(cmd.team_id, cmd.user_id, load)


EDIT_USAGE = (
    '`/recon edit &lt;BankTransactionID&gt; [org:"name"]` (the GUID in the transaction\'s address '
    "in Xero), or press *Edit* on a search result"
)


def cmd_edit(cmd: Command, args: str) -> None:
    """Open the modal for a BankTransactionID: in ``org:`` when given, else Recon looks in the
    default organisation and then in each of the user's others."""
    try:
        rest, org_name = take_org(args)
    except ArgError as exc:
        cmd.ack(response_type="ephemeral", **blocks.usage_message(EDIT_USAGE, exc.message))
        return
    txn_id = rest.strip()
    if not is_guid(txn_id):
        why = "That doesn't look like a BankTransactionID." if txn_id else "Which transaction?"
        cmd.ack(response_type="ephemeral", **blocks.usage_message(EDIT_USAGE, why))
        return
    cmd.ack()
    try:
        tenant_id = None
        if org_name:
            tenant_id = cmd.services.connect.resolve_org(cmd.team_id, cmd.user_id, org_name).tenant_id
        editing.open_editor(
            cmd.services,
            cmd.handoff,
            cmd.client,
            team_id=cmd.team_id,
            user_id=cmd.user_id,
            trigger_id=cmd.trigger_id,
            tenant_id=tenant_id,
            txn_id=txn_id.lower(),
        )
    except Exception as exc:  # noqa: BLE001 - e.g. no such organisation, trigger expired; the user is told
        cmd.fail(exc)


def cmd_disconnect(cmd: Command, args: str) -> None:
    """Ask first: the confirm button (with a Block Kit confirm dialog) does the disconnecting.
    Both the question and the dialog name the daily digests that would go with it."""
    name = unescape(args).strip().strip('"“”') or None

    def work() -> dict[str, Any]:
        connect = cmd.services.connect
        orgs = connect.organisations(cmd.team_id, cmd.user_id)
        if not orgs and not connect.grants(cmd.team_id, cmd.user_id):
            return blocks.note_message("You have no Xero connection to remove.")
        preview = connect.disconnect_preview(cmd.team_id, cmd.user_id, name)
        return blocks.disconnect_confirm_message(preview.target, preview.names, preview.digests)

    cmd.quickly(work)


def cmd_digest(cmd: Command, args: str) -> None:
    """Delegated to the digest module when it is installed; otherwise say so honestly."""
    try:
        module = importlib.import_module(DIGEST_MODULE)
    except ImportError:
        text = "Daily digests aren't available in this version of Recon yet, so nothing was set up."
        cmd.ack(response_type="ephemeral", **blocks.note_message(text))
        return

    def job() -> None:
        module.handle_digest_command(
            services=cmd.services,
            team_id=cmd.team_id,
            user_id=cmd.user_id,
            channel_id=cmd.channel_id,
            args=args,
            respond=cmd.respond,
            client=cmd.client,
        )

    start = cmd.handoff.later(cmd.context, job, on_error=cmd.fail, what="digest command")
    cmd.ack()
    start()


SUBCOMMANDS: dict[str, Callable[[Command, str], None]] = {
    "help": cmd_help,
    "connect": cmd_connect,
    "orgs": cmd_orgs,
    "use": cmd_use,
    "search": cmd_search,
    "edit": cmd_edit,
    "disconnect": cmd_disconnect,
    "digest": cmd_digest,
}


def handle_recon(cmd: Command, text: str) -> None:
    """Route ``/recon <subcommand> <args>``; anything unknown gets "I don't know" plus the help."""
    name, _, rest = (text or "").strip().partition(" ")
    if not name:
        cmd_help(cmd, "")
        return
    handler = SUBCOMMANDS.get(name.lower())
    if handler is None:
        cmd.ack(response_type="ephemeral", **blocks.help_message(unknown=unescape(name)))
        return
    handler(cmd, rest.strip())


def run_guarded(cmd: Command, text: str) -> None:
    """:func:`handle_recon`, with any failure answered: in the ack if it has not gone yet
    (so Slack shows our words, not "dispatch_failed"), else through the response_url."""
    raw_ack = cmd.ack
    acked = False

    def ack(*args: Any, **kwargs: Any) -> Any:
        nonlocal acked
        acked = True
        return raw_ack(*args, **kwargs)

    cmd.ack = ack
    try:
        handle_recon(cmd, text)
    except Exception as exc:  # noqa: BLE001 - replies.describe logs the unexpected with a reference
        message = replies.error_message(exc, where="/recon")
        if not acked:
            raw_ack(response_type="ephemeral", **message)
            return
        try:
            cmd.reply(message)
        except Exception:
            log.exception("/recon failed and the user could not be told")
    finally:
        cmd.ack = raw_ack


def register(app: App, services: Any, handoff: Handoff) -> None:
    @app.command(COMMAND)
    def recon(ack, command, respond, client, context) -> None:
        cmd = Command(
            services=services,
            handoff=handoff,
            ack=ack,
            respond=respond,
            client=client,
            team_id=command.get("team_id", ""),
            user_id=command.get("user_id", ""),
            channel_id=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
            context=context,
            raw=command,
        )
        run_guarded(cmd, command.get("text") or "")
