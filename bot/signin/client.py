"""Slack's side of Sign in with Slack over HTTP: where to send the browser, and the code exchange."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, urlencode, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

# Slack returns `profile` claims (the person's name, the workspace's name) only when asked; the
# success page names the account that now holds the connection, so Recon asks for both.
SCOPES = ("openid", "profile")
EXCHANGE_TIMEOUT_S = 10
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")

# slack_sdk logs request and response bodies at DEBUG whenever its logger's *own* level allows,
# and here those hold the one-time code and the tokens. A logger of our own, held at WARNING,
# keeps them out of the logs whatever level the operator runs at.
_sdk_log = logging.getLogger("bot.signin.slack_sdk")
_sdk_log.setLevel(logging.WARNING)


class SlackSignInError(Exception):
    """Slack would not exchange the code. ``code`` is Slack's error (safe to show), or
    ``unreachable`` when no answer came."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Slack sign-in failed: {code}")
        self.code = code


class SlackSignIn:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        authorize_url: str,
        api_url: str,
        scopes: tuple[str, ...] = SCOPES,
        timeout: int = EXCHANGE_TIMEOUT_S,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.authorize_endpoint = authorize_url
        self.scopes = scopes
        # No retries: a code works once, so resending an exchange whose answer was lost only
        # turns a network error into Slack's `invalid_code`.
        self._client = WebClient(base_url=api_url, timeout=timeout, logger=_sdk_log, retry_handlers=[])

    def __repr__(self) -> str:
        return f"SlackSignIn(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    def authorize_url(self, *, state: str, nonce: str, team: str) -> str:
        """Slack's authorize page for this browser; ``team`` lets a signed-in user skip choosing.

        Built by hand rather than with slack_sdk's ``OpenIDConnectAuthorizeUrlGenerator``, which
        joins scopes with commas and does not URL-encode the redirect URI.
        """
        query = urlencode(
            {
                "response_type": "code",
                "scope": " ".join(self.scopes),
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "nonce": nonce,
                "team": team,
            },
            quote_via=quote,
        )
        separator = "&" if urlsplit(self.authorize_endpoint).query else "?"
        return f"{self.authorize_endpoint}{separator}{query}"

    def exchange(self, code: str) -> str:
        """Trade the callback's code for the ID token (``openid.connect.token``, HTTP Basic).

        The access token that comes with it is dropped unused: Recon needs only to know who
        signed in, once.
        """
        try:
            response = self._client.openid_connect_token(
                client_id=self.client_id,
                client_secret=self._client_secret,
                code=code,
                redirect_uri=self.redirect_uri,
            )
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise SlackSignInError(
                error if isinstance(error, str) and _ERROR_CODE.match(error) else "error"
            ) from None
        except (SlackClientError, OSError) as exc:
            log.warning("Slack's token endpoint did not answer (%s)", type(exc).__name__)
            raise SlackSignInError("unreachable") from None
        id_token = response.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SlackSignInError("no_id_token")
        return id_token
