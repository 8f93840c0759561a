"""The Bolt app factory. There is no module-level App: importing this module talks to nobody.

Choices that matter, each stepping round a trap in Bolt's defaults:

* ``process_before_response=False`` and our own ``listener_executor``: listeners only ack and
  hand off, on a pool sized for acks; Xero work runs on ``services.executor``.
* ``authorize=`` with an identity fetched by ``auth.test`` **once per process** (``serve()``
  does it at start-up to fail fast on a wrong token), instead of Bolt's per-app first-request
  ``auth.test`` — and so no token verification in the constructor, which keeps tests offline.
* The Web API client points at ``settings.slack_api_url`` (the stand-in in tests and the demo)
  and retries Slack's 429s with its ``Retry-After`` as well as connection errors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped, warning_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.slack import actions, commands, digest_commands, events, views
from bot.slack.handoff import AckFirst, Handoff

log = logging.getLogger(__name__)

ACK_THREADS = 64  # acks are quick; a generous pool means a burst of presses never queues
SLACK_TIMEOUT_S = 10


def make_client(settings: Any, *, with_token: bool = True) -> WebClient:
    """The bot's Web API client (also used outside Bolt, e.g. for the consent DM).

    Bolt's own client carries no token: with ``authorize=`` Bolt puts the token from the
    authorize result on each request's client (and warns if the app-level client has one).
    """
    return WebClient(
        token=settings.slack_bot_token.reveal() if with_token else None,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_S,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )


@dataclass(frozen=True)
class BotIdentity:
    team_id: str | None
    user_id: str | None
    bot_id: str | None
    team_url: str | None = None


class Identity:
    """``auth.test`` once per process, cached; raises ``SlackApiError`` when the token is wrong."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._value: BotIdentity | None = None

    def get(self) -> BotIdentity:
        with self._lock:
            if self._value is None:
                result = self._client.auth_test()
                self._value = BotIdentity(
                    team_id=result.get("team_id"),
                    user_id=result.get("user_id"),
                    bot_id=result.get("bot_id"),
                    team_url=result.get("url"),
                )
            return self._value


def build_app(
    settings: Any, services: Any, *, identity: Identity | None = None, ack_first: AckFirst | None = None
) -> App:
    """A fully wired Bolt app.

    ``identity`` lets ``serve()`` share the start-up ``auth.test``; ``ack_first`` (from the web
    layer) lets follow-up work yield to acks in progress.
    """
    identity = identity or Identity(make_client(settings))
    token = settings.slack_bot_token.reveal()

    def authorize(enterprise_id: str | None = None, team_id: str | None = None, **_: Any) -> AuthorizeResult:
        me = identity.get()
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or me.team_id,
            bot_token=token,
            bot_id=me.bot_id,
            bot_user_id=me.user_id,
        )

    with _quiet_token_warnings():
        app = App(
            # Always checked over HTTP. In Socket Mode there may be no secret: Bolt skips the check for
            # socket requests, and ``bot.web`` does not serve /slack/events at all then.
            signing_secret=settings.slack_signing_secret.reveal(),
            client=make_client(settings, with_token=False),
            authorize=authorize,
            process_before_response=False,
            listener_executor=ThreadPoolExecutor(max_workers=ACK_THREADS, thread_name_prefix="slack-ack"),
            raise_error_for_unhandled_request=False,
        )
    app.logger.setLevel(logging.getLogger().getEffectiveLevel())
    register(app, services, ack_first=ack_first)
    return app


class _DropTokenNotices(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when ``authorize=`` supplies the token,
    then warns that it will ignore it. That is exactly what we want; the warning would only make
    an operator doubt a correct setup, so it is dropped while the App is built."""

    NOTICES = (warning_client_prioritized_and_token_skipped(), warning_token_skipped())

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.NOTICES


@contextmanager
def _quiet_token_warnings() -> Iterator[None]:
    bolt_logger = logging.getLogger("slack_bolt.App")
    notice_filter = _DropTokenNotices()
    bolt_logger.addFilter(notice_filter)
    try:
        yield
    finally:
        bolt_logger.removeFilter(notice_filter)


def register(app: App, services: Any, *, ack_first: AckFirst | None = None) -> Handoff:
    """Every listener, split by Slack surface."""
    handoff = Handoff(services.executor, ack_first=ack_first)
    commands.register(app, services, handoff)
    actions.register(app, services, handoff)
    views.register(app, services, handoff)
    events.register(app, services)
    digest_commands.register(app, services)
    return handoff
