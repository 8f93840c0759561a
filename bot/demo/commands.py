"""Console lines → commands (pure: no I/O, so every spelling and mistake is unit-testable).

A line is either what you would type into Slack (``/recon search acme``) or a console
command (``press 3``, ``fill 1 INV-7``, ``time +25h``…). Mistakes raise :class:`UsageError`
whose message says what to type instead.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta


class UsageError(ValueError):
    """A console line that can't be run; the message is shown to the user as is."""


@dataclass(frozen=True)
class Command:
    name: str
    text: str = ""  # free text (slash command text, fill text, expect text)
    number: int | None = None
    target: str | None = None  # fill's field label, xero's transaction id, as's person
    fields: Mapping[str, str] = field(default_factory=dict)
    delta: timedelta | None = None


CONSOLE_HELP = """\
Type what you would type in Slack, or a console command:

  /recon help                     Recon's own help (every /recon command and the search syntax)
  /recon connect                  get a Connect button; press or open it to go through Xero's consent
  /recon use kestrel              make an organisation your default
  /recon search acme from:2025-01-01    search (then press Next, or Edit on a row)
  /recon digest on                daily digest of unreconciled items in #books;  /recon digest now
  /recon disconnect               remove your Xero connection

  N  or  press N     press button N on the last thing shown (links open in the browser too)
  press <label>      press the first button with that label, e.g. `press next`, `press edit`
  open N             follow link N (a consent link goes through Xero's consent page, back to Recon)
  fill N <text>      type into field N of the open modal (or: fill reference <text>)
  submit / cancel    press the modal's Submit / Cancel
  home               open Recon's App Home tab        dms        your DMs with Recon
  channel            recent messages in #books        as bob     become another person
  xero show <id>     the transaction as stored in Xero (<id> may be `this`: the one in the open modal)
  xero edit <id> reference=<text> [url=<link>]   change it "in Xero" as a colleague would
  xero consent auto|prompt        consent given automatically, or a page where you choose
  audit              Recon's audit log of writes to Xero
  time / time +25h   show the time, or move it forward (the clock sends digests on the way)
  help / quit        this list / stop everything and exit

In scripts:  expect <text>  (it appeared since the last step)   expect-error [<text>]  (the last step
failed as intended)   # comments.   #books and @bob become Slack links, as Slack's client does."""

_TIME_PART = re.compile(r"(\d+)\s*(d|h|m|s)", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_XERO_FIELDS = {
    "reference": "Reference",
    "ref": "Reference",
    "url": "Url",
    "link": "Url",
    "status": "Status",
    "reconciled": "IsReconciled",
}
_STATUSES = {"AUTHORISED", "DELETED", "VOIDED"}
_ALIASES = {
    "exit": "quit",
    "q": "quit",
    "close": "cancel",
    "done": "cancel",
    "books": "channel",
    "whoami": "status",
    "?": "help",
}
_WORDS = {"submit", "cancel", "home", "dms", "channel", "status", "help", "quit", "audit"}


def parse(line: str) -> Command | None:
    """One console line → a :class:`Command`, or None for a blank line or a comment."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith("/"):
        command, _, text = stripped.partition(" ")
        return Command("slash", text=text.strip(), target=command)
    word, _, rest = stripped.partition(" ")
    word = _ALIASES.get(word.lower(), word.lower())
    rest = rest.strip()
    if word.isdigit():
        return _numbered("press", word, rest)
    if word in ("press", "open"):
        if rest and not rest.split()[0].isdigit():
            return Command(word, target=_unquote(rest).strip().lower())
        return _numbered(word, rest, "")
    if word == "fill":
        return _fill(rest)
    if word in _WORDS:
        if rest and word not in ("audit", "help"):
            raise UsageError(f"`{word}` takes nothing after it.")
        if word == "audit":
            return Command("audit", number=_count(rest, "audit"))
        return Command(word)
    if word == "as":
        if not rest or " " in rest:
            raise UsageError("Usage: as <person>, e.g. `as bob`.")
        return Command("as", target=rest.lstrip("@").lower())
    if word == "time":
        return Command("time", delta=parse_delta(rest) if rest else None)
    if word == "xero":
        return _xero(rest)
    if word == "expect":
        if not rest:
            raise UsageError("Usage: expect <text that should have appeared>.")
        return Command("expect", text=rest)
    if word == "expect-error":
        return Command("expect-error", text=rest)
    raise UsageError(
        f"I don't know `{word}`. Slack commands start with `/` (try `/recon help`); "
        "type `help` for the console's commands."
    )


def _numbered(name: str, number: str, extra: str) -> Command:
    if not number.isdigit() or extra:
        raise UsageError(
            f"Usage: {name} N — N is a number shown in [brackets], e.g. `{name} 2` "
            f"(or {name} <label>, e.g. `{name} next`)."
        )
    value = int(number)
    if value < 1:
        raise UsageError("Numbers start at 1.")
    return Command(name, number=value)


def _count(text: str, name: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"Usage: {name} [how many], e.g. `{name} 5`.")
    return int(text)


def _fill(rest: str) -> Command:
    target, _, text = rest.partition(" ")
    if not target:
        raise UsageError(
            "Usage: fill N <text> — N is the field's number in the open modal, e.g. `fill 1 INV-7`."
        )
    text = _unquote(text.strip())
    if target.isdigit():
        return Command("fill", number=int(target), text=text)
    return Command("fill", target=target.lower(), text=text)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_delta(text: str) -> timedelta:
    """``+25h``, ``+1d 2h``, ``90m`` → a positive timedelta."""
    body = text.replace("+", " ").strip()
    parts = _TIME_PART.findall(body)
    leftover = _TIME_PART.sub("", body).strip()
    if not parts or leftover:
        raise UsageError("Usage: time +<amount>, e.g. `time +25h`, `time +1d 2h`, `time +90m`.")
    delta = timedelta()
    for amount, unit in parts:
        delta += timedelta(**{_UNITS[unit.lower()]: int(amount)})
    if delta <= timedelta(0):
        raise UsageError("Time only moves forward: give an amount above zero.")
    return delta


def _xero(rest: str) -> Command:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"I couldn't read that: {exc}. Put text with spaces in quotes.") from None
    if not words:
        raise UsageError("Usage: xero show <id> · xero edit <id> reference=<text> · xero consent auto|prompt")
    action, args = words[0].lower(), words[1:]
    if action == "consent":
        if len(args) != 1 or args[0] not in ("auto", "prompt"):
            raise UsageError("Usage: xero consent auto|prompt")
        return Command("xero-consent", target=args[0])
    if action in ("show", "history"):
        if len(args) != 1:
            raise UsageError(f"Usage: xero {action} <BankTransactionID or this>")
        return Command("xero-show", target=args[0])
    if action == "edit":
        if len(args) < 2:
            raise UsageError(
                'Usage: xero edit <id or this> reference="new text" [url=https://…] [reconciled=yes]'
            )
        return Command("xero-edit", target=args[0], fields=_xero_fields(args[1:]))
    raise UsageError(f"I don't know `xero {action}`: use `xero show`, `xero edit` or `xero consent`.")


def _xero_fields(pairs: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        name = _XERO_FIELDS.get(key.lower())
        if not sep or name is None:
            known = "reference, url, status, reconciled"
            raise UsageError(f"I can't change `{key}` in Xero here — use name=value with one of: {known}.")
        if name == "Status" and value.upper() not in _STATUSES:
            raise UsageError(f"status must be one of {', '.join(sorted(_STATUSES))}.")
        if name == "IsReconciled" and value.lower() not in ("yes", "no", "true", "false"):
            raise UsageError("reconciled must be yes or no.")
        fields[name] = value.upper() if name == "Status" else value
    return fields


def slack_client_text(text: str, channels: Mapping[str, str], people: Mapping[str, str]) -> str:
    """What Slack's client sends for typed command text, with "escape channels and users" on.

    ``& < >`` become entities; ``#books`` and ``@bob`` (names Slack knows) become
    ``<#C0BOOKS|books>`` and ``<@U0BOB|bob>`` — what the user would get by picking from
    Slack's autocomplete. ``channels`` and ``people`` map names to ids.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def link(match: re.Match[str]) -> str:
        sigil, name = match.group(1), match.group(2)
        table = channels if sigil == "#" else people
        found = table.get(name.lower())
        if found is None:
            return match.group(0)
        return f"<#{found}|{name}>" if sigil == "#" else f"<@{found}|{name}>"

    return re.sub(r"(?<!\S)([#@])([A-Za-z0-9._-]+)", link, escaped)
