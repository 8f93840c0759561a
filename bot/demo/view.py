"""What the demo prints: Slack surfaces, web pages and Xero records as terminal text (pure functions).

Slack's own rendering lives in :mod:`bot.sandbox.slack.render`; this module frames it (where a
message appeared, who sent it, whether only you can see it), keeps long links out of the way,
and adds colour when the output is a terminal.
"""

from __future__ import annotations

import copy
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.sandbox.slack.blockkit import block_elements, entered_state
from bot.sandbox.slack.render import Rendered, render_message, render_view
from bot.sandbox.slack.render import text_of as slack_text_of

DEFAULT_WIDTH = 100
ERROR_MARK = "⚠"
WORKING_MARK = "⏳"

# --------------------------------------------------------------------------- colour


@dataclass(frozen=True)
class Style:
    """ANSI colour, or nothing at all when ``enabled`` is false (pipes, files, ``--no-color``)."""

    enabled: bool = False

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)


_CONTROL = re.compile(r"\[(\d+) [^\]]*\]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def colour_body(text: str, style: Style) -> str:
    """Numbered controls in cyan, warnings in yellow, successes in green."""
    if not style.enabled:
        return text
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(ERROR_MARK):
            line = style.yellow(line)
        elif stripped.startswith("✅"):
            line = style.green(line)
        else:
            line = _CONTROL.sub(lambda m: style.cyan(m.group(0)), line)
        out.append(line)
    return "\n".join(out)


def frame(title: str, style: Style, width: int = DEFAULT_WIDTH) -> str:
    """``── #books · Recon · only visible to you ─────``"""
    head = f"── {title} "
    return style.dim(head + "─" * max(3, width - len(head)))


# --------------------------------------------------------------------------- Slack surfaces
_MRKDWN_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")


def _short_url(url: str, limit: int = 40) -> str:
    bare = re.sub(r"^https?://", "", url)
    return bare if len(bare) <= limit else bare[: limit - 1] + "…"


def shorten_links(blocks: Any) -> Any:
    """A copy of ``blocks`` whose inline mrkdwn links read ``label ↗`` instead of label + URL.

    Inline links in Recon's messages point at go.xero.com, which the offline demo never
    reaches; buttons with URLs stay numbered so they can still be opened.
    """

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        return f"{label} ↗" if label else f"{_short_url(url)} ↗"

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                node["text"] = _MRKDWN_LINK.sub(link, node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        return node

    return walk(copy.deepcopy(blocks))


def render_slack_message(
    message: Any, *, start: int = 1, width: int = DEFAULT_WIDTH, names: Mapping[str, str] | None = None
) -> Rendered:
    """A sandbox ``Message`` as Slack shows it, buttons numbered from ``start``."""
    return render_message(
        {"text": message.text, "blocks": shorten_links(message.blocks or [])},
        width=width,
        start=start,
        names=names,
    )


def view_spec(view: Any, pending: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """A sandbox ``View`` as a view dict, with what the user typed but has not submitted yet."""
    values = view.state_values() if hasattr(view, "state_values") else {}
    for (block_id, action_id), typed in (pending or {}).items():
        element = find_element(view.blocks, block_id, action_id)
        if element is not None:
            values.setdefault(block_id, {})[action_id] = entered_state(element, typed)
    return {
        "type": view.type,
        "title": view.title,
        "submit": view.submit,
        "close": view.close,
        "blocks": shorten_links(view.blocks),
        "state": {"values": values},
        "errors": dict(view.errors or {}),
    }


def render_slack_view(
    view: Any,
    *,
    pending: Mapping[tuple[str, str], str] | None = None,
    start: int = 1,
    width: int = 72,
    names: Mapping[str, str] | None = None,
) -> Rendered:
    return render_view(view_spec(view, pending), width=width, start=start, names=names)


def find_element(blocks: Sequence[dict[str, Any]], block_id: str | None, action_id: str | None) -> Any:
    """The raw element dict behind a rendered control (for its ``confirm`` dialog, ``url``…)."""
    for block in blocks:
        if block_id and block.get("block_id") != block_id:
            continue
        for element in block_elements(block):
            if element.get("action_id") == action_id:
                return element
    return None


def text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def confirm_dialog(
    confirm: Mapping[str, Any], width: int = DEFAULT_WIDTH, names: Mapping[str, str] | None = None
) -> str:
    """A Block Kit ``confirm`` object as the little dialog Slack pops up (its text rendered as
    Slack renders that kind of text object: mentions and channels by name in mrkdwn)."""
    title = text_of(confirm.get("title")) or "Are you sure?"
    body = slack_text_of(confirm.get("text"), names)
    yes = text_of(confirm.get("confirm")) or "Yes"
    no = text_of(confirm.get("deny")) or "Cancel"
    wrapped = "\n".join(textwrap.fill(p, width) for p in body.split("\n"))
    return f"{title}\n{wrapped}\n[{yes}] [{no}]"


def is_error_text(text: str) -> bool:
    """A bot message or modal whose first visible line is a warning: Recon telling you it failed."""
    for line in text.split("\n"):
        stripped = line.strip().strip("|+- ")
        if not stripped or set(stripped) <= {"=", "-"}:
            continue
        if stripped.startswith(ERROR_MARK):
            return True
        if line.startswith("| ") or line.startswith("+"):
            continue  # a modal's title box
        return False
    return False


def is_working(text: str) -> bool:
    """Recon shows ⏳ while it works; the result replaces that message or modal."""
    return WORKING_MARK in text


# --------------------------------------------------------------------------- Xero records
def transaction_detail(tenant: Mapping[str, Any], txn: Mapping[str, Any]) -> str:
    """The sandbox's stored copy of a transaction — what "Xero" holds right now."""
    contact = (txn.get("Contact") or {}).get("Name") or "(no contact)"
    account = (txn.get("BankAccount") or {}).get("Name") or "?"
    amount = f"{txn.get('Total', '?')} {txn.get('CurrencyCode', '')}".rstrip()
    reconciled = "reconciled" if txn.get("IsReconciled") else "not reconciled"
    lines = [
        f"{txn.get('Type', '?')} · {contact} · {amount}",
        f"Organisation:  {tenant.get('name')}",
        f"Bank account:  {account}",
        f"Date:          {_xero_date(txn.get('DateString') or txn.get('Date'))}",
        f"Reference:     {txn.get('Reference') or '(empty)'}",
        f"Source link:   {txn.get('Url') or '(empty)'}",
        f"Status:        {txn.get('Status')} · {reconciled}",
        f"Last changed:  {_xero_date(txn.get('UpdatedDateUTC'))}",
        f"ID:            {txn.get('BankTransactionID')}",
    ]
    return "\n".join(lines)


_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")


def _xero_date(value: Any) -> str:
    """``/Date(1700000000000+0000)/`` or ISO text → ``2026-11-24 10:31:07 UTC``."""
    if not value:
        return "?"
    text = str(value)
    match = _MS_DATE.fullmatch(text)
    if match:
        from datetime import UTC

        moment = datetime.fromtimestamp(int(match.group(1)) / 1000, UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return text.replace("T", " ")


def history_lines(records: Iterable[Mapping[str, Any]]) -> list[str]:
    out = []
    for r in records:
        who = r.get("User") or "?"
        out.append(
            f"  {_xero_date(r.get('DateUTC') or r.get('DateUTCString'))} · {who} · {r.get('Details', '')}"
        )
    return out


def audit_table(rows: Sequence[Any], names: Mapping[str, str], tenants: Mapping[str, str]) -> str:
    """Recon's audit log: who changed what in which organisation, and how it ended."""
    if not rows:
        return "The audit log is empty: Recon has not written anything to Xero yet."
    out = []
    for r in rows:
        when = r.created_at.strftime("%Y-%m-%d %H:%M:%S") if r.created_at else "?"
        who = "@" + names.get(r.slack_user_id, r.slack_user_id)
        org = tenants.get(r.tenant_id, r.tenant_id)
        change = f"{r.field}: {_quoted(r.before)} → {_quoted(r.after)}"
        line = f"{when} · {who} · {org} · {r.bank_transaction_id[:8]}… · {change} · {r.outcome}"
        if r.error:
            line += f" ({r.error})"
        out.append(line)
    return "\n".join(out)


def _quoted(value: str | None) -> str:
    return "(empty)" if value in (None, "") else f'"{value}"'
