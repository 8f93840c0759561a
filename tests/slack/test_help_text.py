"""Our own mrkdwn must not contain ``<word>``: Slack parses it as a link and shows only "word"."""

import re

from bot.services.query import SYNTAX_HELP
from bot.slack import blocks

# Slack's control sequences we do mean: links, user/channel mentions.
STRAY = re.compile(r"<(?!https?://|mailto:|@[UW]|#C|!date)[^>]*>")


def _texts(message):
    for block in message["blocks"]:
        text = block.get("text") or {}
        if text.get("type") == "mrkdwn":
            yield text["text"]


def test_help_placeholders_are_escaped_so_slack_shows_them():
    texts = (
        list(_texts(blocks.help_message())) + list(_texts(blocks.help_message("frobnicate"))) + [SYNTAX_HELP]
    )
    assert texts
    for text in texts:
        assert not STRAY.search(text), STRAY.search(text).group(0)
    assert "&lt;BankTransactionID&gt;" in "".join(texts)


def test_usage_messages_are_escaped():
    message = blocks.usage_message("`/recon use &lt;organisation name&gt;`", "Which organisation?")
    assert not any(STRAY.search(t) for t in _texts(message))
