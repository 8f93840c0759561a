"""Sign in with Slack in front of Xero's consent: a Connect link connects only its owner.

A Connect link used to go straight to Xero, so anyone could make one, forward it to the
bookkeeper ("click to set up Recon"), and hold the bookkeeper's organisations under their own
Slack user. Now the link opens Recon's start route (:meth:`SignInService.start`), the browser
signs in with Slack, and :meth:`SignInService.finish` sends it on to Xero only when Slack's ID
token names exactly the Slack user the link was made for.

Every step is bound to the browser as well as to the user: the start route gives the browser a
random secret in a cookie, each later state stores its hash, and each callback requires the
cookie. So no URL from the middle of the flow — Slack's authorize page, Slack's callback,
Xero's consent page — does anything when opened in another browser.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.services.connect import AGAIN, OTHER_BROWSER, ConnectService, state_failure
from bot.services.errors import ConsentFailed
from bot.signin import IdTokenProblem, IdTokenRejected, SlackSignIn, SlackSignInError, check_id_token
from storage.db import Database
from storage.models import utcnow
from storage.states import (
    PURPOSE_CONNECT,
    PURPOSE_SLACK,
    StateRejected,
    consume_state,
    create_state,
    is_secret_shaped,
    matches,
    new_secret,
)

log = logging.getLogger(__name__)

OTHER_USER = "This link was made for another Slack user — run `/recon connect` yourself."


@dataclass(frozen=True)
class Redirect:
    """Where to send the browser next, and the browser-binding secret its cookie must hold."""

    location: str
    browser: str


class SignInService:
    def __init__(
        self,
        db: Database,
        slack: SlackSignIn,
        connect: ConnectService,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self._slack = slack
        self._connect = connect
        self._now = now

    def start(self, *, state: str | None, browser: str | None) -> Redirect:
        """Spend the Connect link's state and send the browser to Slack to sign in.

        A browser that already holds a binding secret keeps it, so two Connect links opened in
        two tabs of one browser both work; any other browser gets a fresh one.
        """
        try:
            owner = consume_state(self.db, state, purpose=PURPOSE_CONNECT, now=self._now)
        except StateRejected as exc:
            raise state_failure(exc) from None
        binding = browser if is_secret_shaped(browser) else new_secret()
        assert binding is not None
        nonce = new_secret()
        slack_state = create_state(
            self.db,
            owner.slack_team_id,
            owner.slack_user_id,
            purpose=PURPOSE_SLACK,
            nonce=nonce,
            browser=binding,
            now=self._now,
        )
        location = self._slack.authorize_url(state=slack_state, nonce=nonce, team=owner.slack_team_id)
        return Redirect(location, binding)

    def finish(
        self, *, code: str | None, state: str | None, error: str | None, browser: str | None
    ) -> Redirect:
        """Check who signed in with Slack; only the link's owner is sent on to Xero's consent."""
        if error:
            with contextlib.suppress(StateRejected):
                consume_state(self.db, state, purpose=PURPOSE_SLACK, now=self._now)
            if error == "access_denied":
                raise ConsentFailed(
                    "slack_cancelled",
                    "You cancelled signing in with Slack, so nothing was connected." + AGAIN,
                )
            raise ConsentFailed("slack_error", f"Slack reported a problem ({error[:60]})." + AGAIN)
        try:
            owner = consume_state(self.db, state, purpose=PURPOSE_SLACK, now=self._now)
        except StateRejected as exc:
            raise state_failure(exc) from None
        if not matches(owner.browser_hash, browser):
            log.warning(
                "sign-in for %s/%s came back in another browser: refused",
                owner.slack_team_id,
                owner.slack_user_id,
            )
            raise ConsentFailed("other_browser", OTHER_BROWSER + AGAIN)
        assert browser is not None
        if not code:
            raise ConsentFailed("invalid", "Slack sent no authorisation code." + AGAIN)
        try:
            id_token = self._slack.exchange(code)
        except SlackSignInError as exc:
            log.warning(
                "Sign in with Slack for %s/%s failed: %s", owner.slack_team_id, owner.slack_user_id, exc.code
            )
            if exc.code == "unreachable":
                raise ConsentFailed(
                    "slack_error", "Slack isn't responding — please try again shortly." + AGAIN
                ) from None
            raise ConsentFailed(
                "slack_error", f"Slack couldn't confirm who you are ({exc.code})." + AGAIN
            ) from None
        try:
            identity = check_id_token(
                id_token,
                client_id=self._slack.client_id,
                nonce_ok=lambda nonce: matches(owner.nonce_hash, nonce),
                user_id=owner.slack_user_id,
                team_id=owner.slack_team_id,
                now=self._now(),
            )
        except IdTokenRejected as exc:
            if exc.problem is IdTokenProblem.OTHER_USER:
                log.warning(
                    "Connect link of %s/%s opened by Slack user %s: refused, nothing sent to Xero",
                    owner.slack_team_id,
                    owner.slack_user_id,
                    exc.detail,
                )
                raise ConsentFailed("other_user", OTHER_USER) from None
            log.warning(
                "Slack's ID token for %s/%s refused: %s %s",
                owner.slack_team_id,
                owner.slack_user_id,
                exc.problem.value,
                exc.detail,
            )
            raise ConsentFailed(
                "slack_error", "Slack's answer couldn't be verified, so nothing was connected." + AGAIN
            ) from None
        return Redirect(self._connect.xero_consent_url_after_sign_in(identity, browser=browser), browser)
