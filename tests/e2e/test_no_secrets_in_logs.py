"""Nothing secret reaches a log line, across a whole journey at DEBUG level.

Secrets are collected from what actually crossed the wire (the sandbox's request log): the
authorisation code, every access and refresh token, the client secret, plus Slack's bot token and
signing secret, and Sign in with Slack's code, user token, ID token and client secret. Then every
log record the bot and its libraries produced is searched for each.
(The consent ``state`` is not on the list: it is meant to travel to the user inside the Connect
button, so slack_sdk's DEBUG body logging shows it; it works once, for that user, for 10 minutes.)
"""

from __future__ import annotations

import base64
import logging
import threading

from bot.demo.stack import Stack
from tests.e2e.helpers import ephemeral_with, top_view_with


def _secrets_on_the_wire(stack: Stack) -> set[str]:
    found: set[str] = {
        stack.slack.bot_token,
        stack.slack.signing_secret,
        stack.xero.client_secret,
        stack.slack.client_secret,
        base64.b64encode(f"{stack.slack.client_id}:{stack.slack.client_secret}".encode()).decode(),
    }
    for call in stack.slack.calls_to("openid.connect.token"):
        found.update({call.params.get("code", ""), call.response.get("access_token", "")})
        found.add(call.response.get("id_token", ""))
    for r in stack.xero.requests:
        form = r.get("form") or {}
        found.update(v for k, v in form.items() if k in ("code", "refresh_token", "token", "client_secret"))
        auth = (r.get("headers") or {}).get("Authorization", "")
        if auth.startswith("Bearer "):
            found.add(auth.removeprefix("Bearer "))
        elif auth.startswith("Basic "):
            found.add(auth.removeprefix("Basic "))
            found.add(base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[1])
    return {s for s in found if s and len(s) >= 12}


def test_a_whole_journey_logs_no_token_code_or_secret(stack: Stack, person, caplog):
    caplog.set_level(logging.DEBUG)
    alice = person("alice")
    alice.command("/recon", "connect")
    consent = ephemeral_with(stack, alice, "Connect to Xero")
    url = stack.consent_url_from(consent)
    assert stack.follow_consent(url, alice).status_code == 200
    alice.command("/recon", "search from:365d")
    results = ephemeral_with(stack, alice, "Search results")
    alice.press("recon_edit", on=results, block_id=next(
        b["block_id"] for b in results.blocks if (b.get("accessory") or {}).get("action_id") == "recon_edit"
    ))  # fmt: skip
    view = top_view_with(stack, alice, "Source link")
    alice.submit(view, {"reference": {"reference": "LOGCHECK-1"}})
    top_view_with(stack, alice, "Saved")
    stack.xero.clock.advance(31 * 60)  # the next call refreshes the token
    alice.command("/recon", "search from:365d")
    stack.slack.wait_for(
        lambda: len([r for r in stack.xero.requests if "refresh_token" in (r.get("form") or {})])
    )
    ephemeral_with(stack, alice, "Search results")

    secrets = _secrets_on_the_wire(stack)
    # The test's own browser (this thread) carries the code in the callback URL, as a real one
    # does; only what the bot and its libraries log on their own threads is the bot's doing.
    records = [r for r in caplog.records if r.threadName != threading.current_thread().name]
    assert len(secrets) >= 10  # Xero: code, 2 access, 2 refresh, secret; Slack: 2 + sign-in's 4
    text = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in records)
    assert text  # the journey did log: the check below is meaningful
    leaked = [
        f"{s[:6]}… in {r.name}: {r.getMessage()[:160]}"
        for s in secrets
        for r in records
        if s in f"{r.getMessage()} {r.exc_text or ''}"
    ]
    assert leaked == []
