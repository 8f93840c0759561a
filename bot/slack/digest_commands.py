"""``/recon digest …``, the digest's buttons, and the Slack side of delivering digests.

Hooks the Slack app calls:

* :func:`handle_digest_command` — after the ack, on ``services.executor``;
* :func:`register` — the "Show all" and "Remove" buttons;
* :class:`SlackPoster` — how the clock (and ``digest now``) puts digests and DMs into Slack.

The argument parser is pure and names the argument it could not read, so ``25:00`` and
``Mars/Olympus`` get an answer that says exactly what to type instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services.digest import (
    CANNOT_POST,
    DigestChoice,
    DigestContent,
    PostFailed,
    RunProblem,
    canonical_zone,
    digest_service,
    parse_local_time,
    suggest_zone,
)
from bot.services.views import GrantView, Subscription
from bot.slack import blocks as common
from bot.slack import digest_blocks as views
from bot.slack import replies
from bot.slack import text as tx
from bot.slack.args import ArgError, take_org
from bot.slack.facts import org_facts
from bot.slack.handoff import Handoff
from bot.slack.kit import Message

log = logging.getLogger(__name__)

Respond = Callable[..., Any]
Action = Literal["on", "off", "now", "status", "help"]
_ACTIONS: dict[str, Action] = {
    "on": "on",
    "start": "on",
    "subscribe": "on",
    "off": "off",
    "stop": "off",
    "unsubscribe": "off",
    "now": "now",
    "status": "status",
    "list": "status",
    "help": "help",
}
_CHANNEL_LINK = re.compile(r"^<#([CGD][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,30}$")
_USER_LINK = re.compile(r"^<@[UW][A-Z0-9]+(?:\|[^>]*)?>$")
_TIMEISH = re.compile(r"^\d|^\d{1,2}\s*(am|pm)$|:", re.IGNORECASE)
QUIET_WORDS = frozenset({"quiet", "skip-clear", "skip_clear"})
_QUOTE = '"“”„‟＂'
_ORG = re.compile(rf"(?:^|(?<=\s))org:(?:[{_QUOTE}]([^{_QUOTE}]*)[{_QUOTE}]?|(\S*))", re.IGNORECASE)

# Slack says the message certainly did not go out; anything else that fails is "maybe".
_UNKNOWN_OUTCOME = frozenset({"internal_error", "fatal_error"})


# =========================================================================== parsing (pure)


class DigestArgError(ArgError):
    """``message`` is safe mrkdwn naming the argument and the fix."""


@dataclass(frozen=True)
class DigestCommand:
    action: Action
    channel_id: str | None = None
    local_time: str | None = None  # "HH:MM"
    timezone: str | None = None  # canonical IANA name
    quiet: bool = False
    org: str | None = None  # an organisation name, as typed (matched like `/recon use`)


def parse_digest_args(args: str) -> DigestCommand:
    """``on #chan 08:30 Europe/London quiet org:"Name"`` (any order) → a validated :class:`DigestCommand`."""
    try:
        args, org = take_org(args)
    except ArgError as exc:
        raise DigestArgError(exc.message) from None
    words = args.split()
    if not words and org is not None:
        raise DigestArgError("Say what to do with that organisation: `on`, `off` or `now`.")
    if not words:
        return DigestCommand("help")
    action = _ACTIONS.get(words[0].casefold())
    if action is None:
        raise DigestArgError(f"I don't know {tx.code(words[0], 40)} — use `on`, `off`, `now` or `status`.")
    channel: str | None = None
    at: str | None = None
    zone: str | None = None
    quiet = False
    if org is not None and action in ("status", "help"):
        raise DigestArgError(f"`{action}` takes nothing after it (I got `org:`).")
    for word in words[1:]:
        if action in ("status", "help"):
            raise DigestArgError(f"`{action}` takes nothing after it (I got {tx.code(word, 60)}).")
        found = _channel(word)
        if found is not None:
            channel = _once(channel, found, "channel", word)
            continue
        if action != "on":
            raise DigestArgError(
                f"I can't use {tx.code(word, 60)} here — `{action}` only takes a channel, "
                'like `#bookkeeping`, and `org:"name"`.'
            )
        if word.casefold() in QUIET_WORDS:
            quiet = True
        elif _TIMEISH.search(word):
            at = _once(at, _time(word), "time", word)
        else:
            zone = _once(zone, _zone(word), "time zone", word)
    return DigestCommand(action, channel, at, zone, quiet, org)


def _once(current: str | None, new: str, what: str, word: str) -> str:
    if current is not None:
        raise DigestArgError(f"You gave two of a kind: {tx.code(word, 60)} is a second {what}.")
    return new


def _channel(word: str) -> str | None:
    m = _CHANNEL_LINK.match(word)
    if m:
        return m.group(1)
    if _CHANNEL_ID.match(word):
        return word
    if _USER_LINK.match(word):
        raise DigestArgError(
            f"{tx.code(word, 60)} is a person — digests go to a channel, like `#bookkeeping`."
        )
    if word.startswith("#"):
        raise DigestArgError(
            f"I can't look up {tx.code(word, 60)} by name (that needs extra Slack permissions). Type `#` "
            "and pick the channel from Slack's list so it becomes a link, or run the command in that channel."
        )
    return None


def _time(word: str) -> str:
    at = parse_local_time(word)
    if at is None:
        raise DigestArgError(
            f"{tx.code(word, 20)} isn't a time of day I can read — use 24-hour `HH:MM`, "
            "like `09:00` or `17:30`."
        )
    return f"{at:%H:%M}"


def _zone(word: str) -> str:
    zone = canonical_zone(word)
    if zone is not None:
        return zone
    suggestion = suggest_zone(word)
    hint = (
        f" — did you mean `{suggestion}`?"
        if suggestion
        else " — use a name like `Pacific/Auckland`, `Europe/London` or `UTC`."
    )
    raise DigestArgError(f"{tx.code(word, 40)} isn't a time zone I know{hint}")


# =========================================================================== posting


class SlackPoster:
    """:class:`bot.services.digest.Poster` over a ``WebClient``.

    Give it a client *without* connection-error retries (see ``bot.jobs``): re-sending a
    ``chat.postMessage`` whose response was lost is how a digest gets posted twice.
    """

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def send(self, channel: str, message: Message) -> str | None:
        """Post; returns the message's ``ts``."""
        with _post_failures():
            response = self.client.chat_postMessage(
                channel=channel,
                text=message["text"],
                blocks=message["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        return response.get("ts")

    def digest(self, channel_id: str, content: DigestContent) -> str | None:
        return self.send(channel_id, views.digest_message(content))

    def update(self, channel_id: str, ts: str, content: DigestContent) -> None:
        """Redraw a posted digest in place: ``chat.update``, never a new post."""
        message = views.digest_message(content)
        with _post_failures():
            self.client.chat_update(channel=channel_id, ts=ts, text=message["text"], blocks=message["blocks"])

    def failed(self, sub: Subscription, problem: RunProblem, next_run: Any = None) -> None:
        self.send(sub.owner_user_id, views.failed_dm(sub, problem, next_run))

    def dead_connection(self, sub: Subscription, *, reconnect: bool) -> None:
        self.send(sub.channel_id, views.dead_connection_note(sub, reconnect=reconnect))

    def owner_disconnected(self, sub: Subscription, consent_url: str) -> None:
        self.send(sub.owner_user_id, views.owner_disconnected_dm(sub, consent_url))

    def reconnect(self, grant: GrantView, consent_url: str, org_names: Sequence[str]) -> None:
        self.send(grant.slack_user_id, views.reconnect_dm(consent_url, org_names))

    def cannot_post(self, sub: Subscription, code: str) -> None:
        self.send(sub.owner_user_id, views.cannot_post_dm(sub, code))


@contextmanager
def _post_failures() -> Iterator[None]:
    """Slack's failures as :class:`PostFailed`, sorted by whether the message may have gone out."""
    try:
        yield
    except SlackApiError as exc:
        code = str(exc.response.get("error") or f"http_{exc.response.status_code}")
        delivered: bool | None = False
        if code in _UNKNOWN_OUTCOME or exc.response.status_code >= 500:
            delivered = None
        raise PostFailed(code, delivered=delivered) from None
    except URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            raise PostFailed("slack_unreachable", delivered=False) from None
        raise PostFailed(type(exc.reason).__name__, delivered=None) from None
    except OSError as exc:  # timeouts and resets after the request went out
        raise PostFailed(type(exc).__name__, delivered=None) from None


# =========================================================================== the command


def handle_digest_command(
    *,
    services: Any,
    team_id: str,
    user_id: str,
    channel_id: str,
    args: str,
    respond: Respond,
    client: WebClient,
) -> None:
    """``/recon digest …`` — called after the ack, on ``services.executor``; answers via ``respond``."""
    try:
        command = parse_digest_args(args)
    except DigestArgError as exc:
        respond(**views.usage_message(exc.message))
        return
    target = command.channel_id or channel_id
    placeholder = False
    try:
        svc = digest_service(services)
        if command.action == "help":
            respond(**views.usage_message())
        elif command.action == "status":
            respond(**views.status_message(svc.status(team_id, user_id)))
        elif command.action == "off":
            try:
                removed = svc.unsubscribe(team_id, user_id, target, org=command.org)
            except DigestChoice as choice:
                respond(**views.choice_message(choice.options, target))
                return
            respond(**views.unsubscribed_message(removed, target))
        elif command.action == "on":
            result = svc.subscribe(
                team_id,
                user_id,
                target,
                local_time=command.local_time,
                timezone=command.timezone,
                skip_when_clear=command.quiet,
                org=command.org,
            )
            respond(**views.subscribed_message(result))
        else:
            org = svc.tenant_for(team_id, user_id, command.org)
            respond(**views.preparing_message(org.tenant_name))
            placeholder = True
            content = svc.build_now(team_id, user_id, org=command.org)
            respond(replace_original=True, **_post_now(svc, client, team_id, target, content))
    except Exception as exc:  # noqa: BLE001 - replies.describe logs the unexpected with a reference
        respond(replace_original=placeholder, **replies.error_message(exc, where="digest command"))


def _post_now(svc: Any, client: WebClient, team_id: str, channel_id: str, content: DigestContent) -> Message:
    try:
        ts = SlackPoster(client).digest(channel_id, content)
    except PostFailed as exc:
        if exc.code in CANNOT_POST:
            return views.not_in_channel_message(channel_id)
        if exc.delivered is None:
            return common.error_message(
                f"Slack didn't confirm the post ({tx.code(exc.code, 40)}) — "
                f"check <#{channel_id}> before trying again."
            )
        return common.error_message(f"Slack refused the post ({tx.code(exc.code, 40)}). Nothing was posted.")
    svc.posted(team_id, channel_id, ts, content)  # so fixes made from it show in it
    return views.posted_now_message(content, channel_id)


# =========================================================================== buttons


def register(app: Any, services: Any) -> None:
    """The digest's own buttons. Edit buttons in a digest are the search's (same action id).

    Also makes ``services.digest`` exist from the start, which is where the App Home looks.
    """
    digest_service(services)
    handoff = Handoff(services.executor)

    @app.action(views.ACTION_SHOW_ALL)
    def show_all(ack: Callable[..., Any], body: dict[str, Any], respond: Respond, context: Any) -> None:
        team_id, user_id = _who(body)
        query = str((body.get("actions") or [{}])[0].get("value") or "")
        start = handoff.later(
            context,
            lambda: _show_all(services, respond, team_id, user_id, query),
            on_error=lambda exc: _ephemeral(respond, replies.error_message(exc, where="digest show all")),
            what="digest show all",
        )
        ack()
        start()

    @app.action(views.ACTION_REMOVE)
    def remove(
        ack: Callable[..., Any], body: dict[str, Any], respond: Respond, client: WebClient, context: Any
    ) -> None:
        team_id, user_id = _who(body)
        raw = str((body.get("actions") or [{}])[0].get("value") or "")
        in_home = (body.get("container") or {}).get("type") == "view"
        start = handoff.later(
            context,
            lambda: _remove(services, respond, client, team_id, user_id, raw, in_home),
            on_error=lambda exc: _tell(client, respond, user_id, in_home, replies.error_message(exc)),
            what="removing a digest",
        )
        ack()
        start()


def _who(body: MutableMapping[str, Any]) -> tuple[str, str]:
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    return str(team), str((body.get("user") or {}).get("id") or "")


def _ephemeral(respond: Respond, message: Message) -> None:
    # Never replace_original: the button sits on the channel's digest, which everyone sees.
    respond(response_type="ephemeral", replace_original=False, **message)


def _show_all(services: Any, respond: Respond, team_id: str, user_id: str, query: str) -> None:
    """Run the digest's search as the presser, with their own connection."""
    if not query.startswith("status:unreconciled") or len(query) > 2000:
        _ephemeral(respond, common.error_message(replies.STALE_BUTTON))
        return
    result = services.search.search(team_id, user_id, query)
    _ephemeral(
        respond, common.search_message(result, org_facts(services, team_id, user_id, result.org.tenant_id))
    )


def _remove(
    services: Any,
    respond: Respond,
    client: WebClient,
    team_id: str,
    user_id: str,
    raw: str,
    in_home: bool,
) -> None:
    svc = digest_service(services)
    if not raw.isdigit():
        _tell(client, respond, user_id, in_home, common.error_message(replies.STALE_BUTTON))
        return
    removed = svc.remove(team_id, user_id, int(raw))
    if in_home:
        _refresh_home(services, client, team_id, user_id)
        return
    respond(replace_original=True, **views.status_message(svc.status(team_id, user_id)))
    log.info("digest %s removed by its owner", removed.id)


def _tell(client: WebClient, respond: Respond, user_id: str, in_home: bool, message: Message) -> None:
    """Home tabs have no response_url: a failure there goes to the user's DM with the app."""
    if in_home:
        client.chat_postMessage(channel=user_id, text=message["text"], blocks=message["blocks"])
    else:
        respond(replace_original=False, **message)


def _refresh_home(services: Any, client: WebClient, team_id: str, user_id: str) -> None:
    """Re-publish the App Home through the Slack app's own builder, so it stays one layout."""
    from bot.slack import home  # the Slack app's Home module; imported late to avoid a cycle

    home.publish_home(services, client, team_id, user_id)
