"""The digest's messages, DMs and App Home section, as pure functions (no I/O).

Names from Xero are shown in ``plain_text`` objects (:func:`bot.slack.text.plain`); sentences
that also hold a ``<#channel>`` or ``<@user>`` are mrkdwn with the name escaped
(:func:`bot.slack.text.safe`). Rows and Edit buttons are the search results' own
(:func:`bot.slack.blocks.txn_row`), so an Edit pressed in a digest opens the same modal — with
the presser's Xero connection. A row fixed after the digest was posted shows its new reference
and "✓ by @bob 14:02" (the organisation's clock) when the message is redrawn.

Block Kit budget of a digest (limit 50 blocks, 3,000 characters per section): header, summary,
at most :data:`MAX_ACCOUNTS` account sections plus one "more accounts" line, a divider, a caption,
at most :data:`MAX_ITEMS` items of two blocks each, a "show all" section and the footer — 37 at
most, whatever Xero returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.services.digest import (
    AccountSummary,
    DigestContent,
    RunProblem,
    Subscribed,
    SubscriptionStatus,
    search_query,
)
from bot.services.views import (
    STATUS_FAILED,
    STATUS_POSTING,
    STATUS_SENT,
    STATUS_SKIPPED,
    STATUS_UNKNOWN,
    Subscription,
)
from bot.slack import blocks as common
from bot.slack import kit
from bot.slack import text as tx
from bot.slack.kit import Block, Message

ACTION_SHOW_ALL = "recon_digest_show_all"  # value: a /recon search query
ACTION_REMOVE = "recon_digest_remove"  # value: subscription id

MAX_ACCOUNTS = 8
MAX_ITEMS = 10
MAX_HOME_SUBSCRIPTIONS = 20
HONEST_FOOTER = (
    "Counted: every bank transaction not yet reconciled in Xero — spend and receive money, "
    "transfers, overpayments and prepayments. Bank-feed statement lines waiting in Xero's "
    "Reconcile tab aren't visible to apps, so they aren't counted here."
)
USAGE_DETAIL = (
    "*Daily digest of unreconciled items* for your default organisation, posted in a channel.\n"
    "• `/recon digest on` — this channel, 09:00 in the organisation's time zone\n"
    "• `/recon digest on #bookkeeping 08:30 Europe/London` — pick the channel (type `#` and choose "
    "it from Slack's list), the time (24-hour) and the time zone; add `quiet` to skip days with "
    "nothing unreconciled\n"
    '• `org:"Kestrel Design"` on `on`, `off` or `now` — another of your organisations than the default\n'
    "• `/recon digest off` — stop this channel's digest\n"
    "• `/recon digest now` — post today's digest here right away\n"
    "• `/recon digest status` — your digests, when they run next and how the last one went\n"
    "Invite me to the channel first: `/invite @Recon`."
)


# ------------------------------------------------------------------ formatting helpers
def _weekday(day: date) -> str:
    return f"{day.strftime('%a')} {tx.day(day)}"


def _count(n: int, complete: bool = True) -> str:
    return ("at least " if not complete else "") + tx.plural(n, "item")


def _totals(content: DigestContent) -> str:
    return ", ".join(tx.money(total, currency) for currency, total in content.totals) or tx.money(Decimal(0))


def _account_label(account: AccountSummary) -> str:
    """``Business Bank Account (090)`` — plain text."""
    name = tx.plain(account.name, 80)
    return f"{name} ({tx.plain(account.code, 20)})" if account.code else name


def _account_line(account: AccountSummary) -> str:
    """Plain text: the account's name, then its count, total and oldest item."""
    kinds = [_kind_label(kind, n) for kind, n in account.kinds]
    return (
        f"{_account_label(account)}\n{tx.plural(account.count, 'item')} ({', '.join(kinds)}) · "
        f"{tx.money(account.total, account.currency)} · oldest {tx.day(account.oldest)}"
    )


def _kind_label(kind: str, n: int) -> str:
    """``33 spent``, ``1 transfer``, ``2 overpayments`` — spent/received read as verbs."""
    return f"{n:,} {kind}" if kind in ("spent", "received") else tx.plural(n, kind)


def _show_all(count: int, query: str) -> dict[str, Any]:
    return kit.button(f"Show all {count:,}", ACTION_SHOW_ALL, value=query[:2000])


# ------------------------------------------------------------------ the digest
def digest_message(content: DigestContent, *, max_items: int = MAX_ITEMS) -> Message:
    """The daily post: organisation, per-account counts and totals, the oldest items with Edit.

    Drawn again (``chat.update``) when an item is fixed after posting: ``content.fixes`` then
    says which rows show a new reference and who fixed them when.
    """
    org = content.org_name
    if content.is_clear:
        return _all_clear(content)
    headline = f"Unreconciled in {tx.plain(org, 100)}"
    summary = (
        f"*{_count(content.count, content.complete)}* · *{_totals(content)}* · {_weekday(content.local_date)}"
    )
    if not content.complete:
        summary += "\nThere are more than Recon reads in one go; the figures cover the oldest ones."
    blocks: list[Block] = [kit.header(headline), kit.section(summary)]
    for account in content.accounts[:MAX_ACCOUNTS]:
        button = _show_all(account.count, search_query(content, account))
        blocks.append(kit.section(kit.plain(_account_line(account)), accessory=button))
    hidden = content.accounts[MAX_ACCOUNTS:]
    if hidden:
        blocks.append(
            kit.context(
                f"…and {tx.plural(len(hidden), 'more account')} with "
                f"{tx.plural(sum(a.count for a in hidden), 'item')}."
            )
        )
    blocks.append(kit.divider())
    items = content.oldest[: max(0, min(max_items, MAX_ITEMS))]
    fixed = [t for t in items if t.bank_transaction_id in content.fixes]
    if items:
        caption = "*Oldest first*"
        if fixed:
            caption += f" · ✓ {len(fixed)} of these fixed since this was posted"
        blocks.append(kit.context(caption))
    for txn in items:
        fix = content.fixes.get(txn.bank_transaction_id)
        if fix is None:
            blocks += common.txn_row(txn, content.tenant_id, short_code=content.short_code)
        else:
            mark = f"✓ by <@{fix.by_user_id}> {tx.clock_time(fix.at, content.zone)}"
            blocks += common.txn_row(
                txn,
                content.tenant_id,
                short_code=content.short_code,
                reference=fix.reference or "",
                notes=[mark],
            )
    more = content.count - len(items)
    if more > 0:
        blocks.append(
            kit.section(
                f"…and {more:,} more.",
                accessory=_show_all(content.count, search_query(content)),
            )
        )
    blocks.append(kit.context(HONEST_FOOTER))
    fallback = (
        f"Unreconciled in {tx.safe(org, 100)}: {_count(content.count, content.complete)}, {_totals(content)}"
    )
    return kit.message(fallback, blocks)


def _all_clear(content: DigestContent) -> Message:
    org = tx.plain(content.org_name, 100)
    text = (
        f"✅ Nothing waiting in {org}: every spend and receive money transaction is reconciled in "
        f"Xero ({_weekday(content.local_date)})."
    )
    return kit.message(
        f"All clear in {tx.safe(content.org_name, 100)}: nothing unreconciled.",
        [kit.section(kit.plain(text)), kit.context(HONEST_FOOTER)],
    )


# ------------------------------------------------------------------ notices and DMs
def dead_connection_note(sub: Subscription, *, reconnect: bool) -> Message:
    """In the channel, once per incident: why today's digest is missing and who can fix it."""
    why = "needs reconnecting" if reconnect else "no longer reaches this organisation"
    text = (
        f"<@{sub.owner_user_id}>'s Xero connection {why}. I've sent them a link to fix it; the digest "
        "resumes by itself once it works. Anyone else with access can take it over with "
        "`/recon digest on` here."
    )
    headline = f"⚠ Today's digest of {tx.plain(sub.tenant_name, 100)} couldn't be prepared."
    return kit.message(
        f"Today's digest of {tx.safe(sub.tenant_name, 100)} couldn't be prepared.",
        [kit.section(kit.plain(headline)), kit.section(text)],
    )


def owner_disconnected_dm(sub: Subscription, consent_url: str) -> Message:
    headline = f"The daily digest of {tx.plain(sub.tenant_name, 100)} is paused."
    text = (
        f"The organisation posted in <#{sub.channel_id}> isn't connected to your Xero login any more. "
        "Reconnect it (tick the organisation on Xero's page), "
        f"or stop the digest with `/recon digest off` in <#{sub.channel_id}>."
    )
    return kit.message(
        f"The daily digest of {tx.safe(sub.tenant_name, 100)} is paused: reconnect it to Xero.",
        [
            kit.section(kit.plain(headline)),
            kit.section(text),
            kit.actions(common.connect_button(consent_url, reconnect=True)),
            kit.context("The link is yours alone and works once, within 10 minutes."),
        ],
    )


def reconnect_dm(consent_url: str, org_names: Sequence[str]) -> Message:
    """After ``invalid_grant``: one DM per incident with a fresh link."""
    if org_names:
        reason = (
            f"Xero stopped accepting Recon's connection to {common.names_list(list(org_names), width=100)}, "
            "so searches and digests for them are paused."
        )
    else:
        reason = "Xero stopped accepting Recon's connection to your Xero login."
    return common.consent_message(consent_url, reconnect=True, reason=reason)


def _cannot_post_words(code: str, channel_id: str) -> str:
    """Why the bot can't post there, and the fix — mrkdwn (channel links)."""
    if code == "not_in_channel":
        return (
            f"I'm not a member of <#{channel_id}>. Invite me there with `/invite @Recon` "
            f"(in <#{channel_id}>); the next digest will go out as usual. Your subscription is kept."
        )
    if code == "channel_not_found":
        return (
            "I can't see that channel (private, or deleted). If it's private, invite me with "
            "`/invite @Recon` there. Your subscription is kept; `/recon digest status` lists it."
        )
    return (
        f"Slack refused the post in <#{channel_id}> ({tx.code(code, 40)}). Your subscription is kept; "
        "`/recon digest off` there stops it."
    )


def problem_words(problem: RunProblem, sub: Subscription, next_run: datetime | None = None) -> str:
    """The cause and the next step of a failed run — mrkdwn. The owner's DM and
    ``/recon digest status`` both use exactly these words."""
    channel = f"<#{sub.channel_id}>"
    if problem.unknown_outcome:
        return (
            f"Slack didn't confirm the post in {channel}, so it may or may not be there. Recon won't post "
            f"it again (it must never appear twice) — look in {channel}; if it's missing, "
            f"`/recon digest now` there posts it."
        )
    if problem.cannot_post and problem.code:
        return _cannot_post_words(problem.code, sub.channel_id)
    cause = tx.safe(problem.cause, 300)
    if problem.retrying_at is not None:
        attempt = min(problem.attempt + 1, 3)
        again = _clock(problem.retrying_at, sub.timezone)
        return f"{cause}. Recon tries again at {again} (attempt {attempt} of 3)."
    later = f"The next digest goes out {_when(next_run, sub.timezone)}; " if next_run else ""
    return (
        f"{cause}, and Recon has stopped trying for that day. {later}"
        f"`/recon digest now` in {channel} posts one sooner."
    )


def failed_dm(sub: Subscription, problem: RunProblem, next_run: datetime | None = None) -> Message:
    """To the owner, once per failed run: which digest, the cause and the next step."""
    headline = (
        f"⚠ The digest of {tx.plain(sub.tenant_name, 100)} for {_weekday(problem.local_date)} didn't go out."
    )
    return kit.message(
        f"The digest of {tx.safe(sub.tenant_name, 100)} didn't go out.",
        [kit.section(kit.plain(headline)), kit.section(problem_words(problem, sub, next_run))],
    )


def cannot_post_dm(sub: Subscription, code: str) -> Message:
    headline = f"⚠ I couldn't post today's digest of {tx.plain(sub.tenant_name, 100)}."
    return kit.message(
        f"I couldn't post today's digest of {tx.safe(sub.tenant_name, 100)}.",
        [kit.section(kit.plain(headline)), kit.section(_cannot_post_words(code, sub.channel_id))],
    )


# ------------------------------------------------------------------ command replies
def usage_message(problem: str | None = None) -> Message:
    """``problem`` is safe mrkdwn that names the bad argument."""
    body = [kit.section(f"⚠ {problem}")] if problem else []
    body.append(kit.section(USAGE_DETAIL))
    return kit.message(tx.truncate(problem or "Recon digest commands", 300), body)


def _when(at: datetime | None, zone: str) -> str:
    if at is None:
        return "—"
    local = at.astimezone(tx.zone_of(zone))
    return f"{_weekday(local.date())} {local:%H:%M}"


def _clock(at: datetime, zone: str) -> str:
    local = at.astimezone(tx.zone_of(zone))
    return f"{local:%H:%M} {local:%Z}".strip()


def subscribed_message(result: Subscribed) -> Message:
    sub = result.subscription
    org = tx.safe(sub.tenant_name, 100)
    quiet = " (skipped on days with nothing unreconciled)" if sub.skip_when_clear else ""
    lines = [
        f"✅ <#{sub.channel_id}> gets a daily digest of {org} at *{sub.local_time}* "
        f"{tx.safe(sub.timezone, 64)}{quiet}. Next one: {_when(result.next_run, sub.timezone)}."
    ]
    previous = result.previous
    if previous is not None and previous.owner_user_id != sub.owner_user_id:
        lines.append(
            f"This replaces the digest <@{previous.owner_user_id}> set up here; "
            "it now uses your Xero connection."
        )
    elif previous is not None:
        lines.append(f"(Changed from {previous.local_time} {tx.safe(previous.timezone, 64)}.)")
    if result.timezone_note:
        lines.append(result.timezone_note)
    lines.append(
        f"Make sure I'm a member of <#{sub.channel_id}> (`/invite @Recon`). Anyone who presses *Edit* "
        "in the digest acts with their own Xero login, and what they fix shows in the digest."
    )
    return kit.message(f"Daily digest of {org} set up.", [kit.section("\n".join(lines))])


def unsubscribed_message(removed: Sequence[Subscription], channel_id: str) -> Message:
    if not removed:
        text = f"There's no digest of your organisations in <#{channel_id}> to turn off."
        return kit.message(text, [kit.section(text), kit.context("`/recon digest status` lists yours.")])
    names = tx.human_list([tx.safe(s.tenant_name, 100) for s in removed[:10]])
    owners = {s.owner_user_id for s in removed}
    text = f"Stopped the daily digest of {names} in <#{channel_id}>."
    if len(owners) == 1:
        text += f" (It was set up by <@{next(iter(owners))}>.)"
    return kit.message(f"Stopped {len(removed)} digest(s).", [kit.section(text)])


def choice_message(options: Sequence[Subscription], channel_id: str) -> Message:
    """``digest off`` where several digests run: nothing was stopped; say which."""
    lines = [f"<#{channel_id}> has {len(options)} daily digests, so I didn't stop any. Say which one:"]
    for sub in options[:MAX_HOME_SUBSCRIPTIONS]:
        command = '/recon digest off org:"' + sub.tenant_name.replace('"', "") + '"'
        lines.append(f"• {tx.code(command, 140)} (set up by <@{sub.owner_user_id}>)")
    return kit.message(f"{len(options)} digests here — which one?", [kit.section("\n".join(lines))])


def posted_now_message(content: DigestContent, channel_id: str) -> Message:
    text = f"Posted today's digest of {tx.safe(content.org_name, 100)} in <#{channel_id}>."
    return kit.message(text, [kit.section(text)])


def preparing_message(org_name: str) -> Message:
    return kit.message(
        f"Preparing the digest of {tx.safe(org_name, 100)}…",
        [kit.context(kit.plain(f"⏳ Preparing the digest of {tx.plain(org_name, 100)}…"))],
    )


def not_in_channel_message(channel_id: str) -> Message:
    text = (
        f"I'm not a member of <#{channel_id}>, so I can't post there. "
        "Invite me with `/invite @Recon`, then try again."
    )
    return kit.message(text, [kit.section(f"⚠ {text}")])


def _last_run(item: SubscriptionStatus) -> str:
    run = item.last_run
    if run is None:
        return "not run yet"
    when = tx.day(run.local_date)
    if item.problem is not None:
        return f"⚠ {when}: {problem_words(item.problem, item.sub, item.next_run)}"
    if run.status == STATUS_SENT:
        return f"sent {when}"
    if run.status == STATUS_SKIPPED:
        return f"skipped {when} ({tx.safe(run.detail, 60)})"
    if run.status in (STATUS_FAILED, STATUS_UNKNOWN):
        return f"⚠ {when}: {tx.safe(run.detail, 80, empty='failed')}"
    if run.status == STATUS_POSTING:
        return f"posting {when}"
    return f"in progress {when}"


def _schedule(sub: Subscription) -> str:
    quiet = " · quiet" if sub.skip_when_clear else ""
    return f"→ <#{sub.channel_id}> at {sub.local_time} {tx.safe(sub.timezone, 64)}{quiet}"


def _subscription_block(item: SubscriptionStatus, *, detailed: bool = True) -> Block:
    """One subscription: the organisation (plain text), where and when, how the last run went."""
    sub = item.sub
    fields = [_schedule(sub)]
    if detailed:
        fields.append(f"next {_when(item.next_run, sub.timezone)} · last: {_last_run(item)}")
    return kit.section(
        kit.plain(tx.plain(sub.tenant_name, 100)), fields=fields, accessory=_remove_button(sub)
    )


def _remove_button(sub: Subscription) -> dict[str, Any]:
    return kit.button(
        "Remove",
        ACTION_REMOVE,
        value=str(sub.id),
        confirm=kit.confirm_dialog(
            "Stop this digest?",
            f"The daily digest of {tx.safe(sub.tenant_name, 100)} in <#{sub.channel_id}> stops.",
            "Stop it",
        ),
    )


def status_message(items: Sequence[SubscriptionStatus]) -> Message:
    if not items:
        text = "You have no daily digests. Start one with `/recon digest on` in a channel."
        return kit.message(text, [kit.section(text)])
    blocks: list[Block] = [kit.section("*Your daily digests*")]
    for item in items[:MAX_HOME_SUBSCRIPTIONS]:
        blocks.append(_subscription_block(item))
    if len(items) > MAX_HOME_SUBSCRIPTIONS:
        blocks.append(kit.context(f"…and {len(items) - MAX_HOME_SUBSCRIPTIONS} more."))
    return kit.message(f"You have {tx.plural(len(items), 'daily digest')}.", blocks)


# ------------------------------------------------------------------ App Home
def home_section(subscriptions: Sequence[Subscription | SubscriptionStatus]) -> list[Block]:
    """The App Home's digest part: each subscription with a Remove button (≤ 23 blocks).

    Accepts plain subscriptions or :class:`SubscriptionStatus` (with next/last run); pass
    ``digest_service(services).status(team, user)`` for the richer form.
    """
    items = [
        s if isinstance(s, SubscriptionStatus) else SubscriptionStatus(s, None, None) for s in subscriptions
    ]
    blocks: list[Block] = [kit.section("*Daily digests*")]
    if not items:
        blocks.append(
            kit.context(
                "None yet. In a channel, `/recon digest on 08:30` posts what's unreconciled every morning."
            )
        )
        return blocks
    for item in items[:MAX_HOME_SUBSCRIPTIONS]:
        blocks.append(_subscription_block(item, detailed=bool(item.next_run or item.last_run)))
    if len(items) > MAX_HOME_SUBSCRIPTIONS:
        blocks.append(
            kit.context(
                f"…and {len(items) - MAX_HOME_SUBSCRIPTIONS} more — `/recon digest status` lists all."
            )
        )
    return blocks
