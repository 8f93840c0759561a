"""Sign in with Slack (OpenID Connect): the authorize URL, the code exchange, the ID token's checks.

Recon uses it for one thing: proving that the browser opening a Connect link belongs to the
Slack user the link was made for, before Xero's consent. Nothing here stores anything or knows
about Xero; :mod:`bot.services.signin` puts the steps together.
"""

from bot.signin.client import SlackSignIn, SlackSignInError
from bot.signin.idtoken import IdTokenProblem, IdTokenRejected, SlackIdentity, check_id_token

__all__ = [
    "IdTokenProblem",
    "IdTokenRejected",
    "SlackIdentity",
    "SlackSignIn",
    "SlackSignInError",
    "check_id_token",
]
