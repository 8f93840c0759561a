"""Small pieces of ``/recon`` argument parsing shared by the subcommands (pure).

Slack delivers command text with ``& < >`` as entities and, with ``should_escape``, channels and
people as ``<#C…|name>`` / ``<@U…>``; organisation names arrive however the user quoted them.
"""

from __future__ import annotations

import re

QUOTES = '"“”„‟＂'
_ORG = re.compile(rf"(?:^|(?<=\s))org:(?:[{QUOTES}]([^{QUOTES}]*)[{QUOTES}]?|(\S*))", re.IGNORECASE)


class ArgError(ValueError):
    """``message`` is safe mrkdwn naming the argument and the fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def unescape(text: str) -> str:
    """Slack sends ``& < >`` in command text as entities; names must be matched as typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def take_org(args: str) -> tuple[str, str | None]:
    """``org:"Kestrel Design"`` (straight or curly quotes) or ``org:kestrel`` taken out of ``args``:
    (the rest, the name as typed — or None)."""
    found = list(_ORG.finditer(args))
    if not found:
        return args, None
    if len(found) > 1:
        raise ArgError("You gave `org:` twice — name one organisation.")
    match = found[0]
    name = (match.group(1) if match.group(1) is not None else match.group(2) or "").strip()
    if not name:
        raise ArgError('`org:` needs a name, like `org:"Harbour Coffee"` or `org:harbour`.')
    return (args[: match.start()] + " " + args[match.end() :]).strip(), unescape(name)
