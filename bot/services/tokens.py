"""Valid access tokens for a Slack user's Xero organisation, refreshed at most once at a time.

Every lookup is keyed by the acting Slack user: a tenant id only yields a token if that user's own
grant holds it, so a button copied from someone else's message cannot borrow their connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.services.errors import NotConnected
from bot.xero.errors import InvalidGrant, OAuthError, XeroUnavailable
from storage import grants
from storage.crypto import TokenDecryptError
from storage.db import Database
from storage.grants import AccessToken, GrantNotUsable, RefreshBusy
from storage.mirror_state import forget_unheld
from storage.models import GRANT_NEEDS_RECONNECT, utcnow

log = logging.getLogger(__name__)

_BUSY = "Xero's sign-in service is slow to answer right now — please try again in a minute."


class GrantGone(LookupError):
    """The grant was deleted (a disconnect) while this request was using it."""


class GrantTokenSource:
    """A :class:`bot.xero.client.TokenSource` bound to one grant and one organisation.

    Remembers the generation of the token it handed out, so a 401 forces a refresh only if nobody
    has refreshed since (another worker's fresh token is used instead of rotating again).
    """

    def __init__(self, service: TokenService, grant_id: int, tenant_id: str) -> None:
        self._service = service
        self.grant_id = grant_id
        self.tenant_id = tenant_id
        self._generation: int | None = None

    def access_token(self, force_refresh: bool = False) -> str:
        stale = None
        if force_refresh:
            stale = self._generation
            if stale is None:
                current = grants.get_grant(self._service.db, self.grant_id)
                stale = current.generation if current else None
        token = self._service.access_token(self.grant_id, stale_generation=stale)
        self._generation = token.generation
        return token.token

    def __repr__(self) -> str:
        return f"GrantTokenSource(grant_id={self.grant_id}, tenant_id={self.tenant_id})"


class TokenService:
    def __init__(
        self,
        db: Database,
        refresh: Callable[[str], object],
        consent_url: Callable[[str, str], str],
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self._refresh = refresh
        self._consent_url = consent_url
        self._now = now

    def access_token(self, grant_id: int, *, stale_generation: int | None = None) -> AccessToken:
        """A usable token; :class:`NotConnected` (with a fresh consent link) when Xero says no.

        A grant whose stored tokens no key can decrypt is marked ``needs_reconnect`` with one
        operator log line, and treated like a dead refresh token: its user is asked to reconnect.
        """
        try:
            return grants.valid_access_token(
                self.db,
                grant_id,
                self._refresh,  # type: ignore[arg-type]
                stale_generation=stale_generation,
                invalid_grant=InvalidGrant,
                now=self._now,
            )
        except InvalidGrant:
            log.warning("grant %s: refresh token rejected by Xero (invalid_grant); needs reconnect", grant_id)
            self._forget_unheld()
            raise self._not_connected(grant_id, reconnect=True) from None
        except GrantNotUsable as exc:
            raise self._not_connected(grant_id, reconnect=exc.status == GRANT_NEEDS_RECONNECT) from None
        except TokenDecryptError:
            if grants.mark_undecryptable(self.db, grant_id, now=self._now):
                grant = grants.get_grant(self.db, grant_id)
                owner = f"{grant.slack_team_id}/{grant.slack_user_id}" if grant else "?"
                log.error(
                    "grant %s (Slack user %s): its stored Xero tokens cannot be decrypted with any key in "
                    "RECON_ENCRYPTION_KEY (a key dropped before `recon-bot db rotate-keys`, or a key file "
                    "replaced?); marked needs_reconnect, so its user is asked to connect again",
                    grant_id,
                    owner,
                )
                self._forget_unheld()
            raise self._not_connected(grant_id, reconnect=True) from None
        except RefreshBusy:
            raise XeroUnavailable(_BUSY) from None
        except (XeroUnavailable, OAuthError) as exc:
            grants.record_refresh_failure(self.db, grant_id, type(exc).__name__, now=self._now)
            raise

    def _forget_unheld(self) -> None:
        """A dead grant may have been the last hold on an organisation: its mirror goes now."""
        forgotten = forget_unheld(self.db)
        if forgotten:
            log.info("mirror: forgot %d organisation(s) no active grant holds any more", len(forgotten))

    def _not_connected(self, grant_id: int, *, reconnect: bool) -> NotConnected:
        grant = grants.get_grant(self.db, grant_id)
        if grant is None:
            raise GrantGone(f"grant {grant_id} vanished")
        return NotConnected(self._consent_url(grant.slack_team_id, grant.slack_user_id), reconnect=reconnect)

    def source(self, team_id: str, user_id: str, tenant_id: str) -> GrantTokenSource:
        """A token source for this user's organisation, or :class:`NotConnected`."""
        tenant = grants.find_user_tenant(self.db, team_id, user_id, tenant_id)
        if tenant is None:
            raise NotConnected(self._consent_url(team_id, user_id))
        if tenant.grant_status == GRANT_NEEDS_RECONNECT:
            raise NotConnected(self._consent_url(team_id, user_id), reconnect=True)
        return GrantTokenSource(self, tenant.grant_id, tenant.tenant_id)

    def source_for_grant(self, grant_id: int, tenant_id: str) -> GrantTokenSource:
        """For the clock, acting for a grant's owner (keep-alive, digests)."""
        return GrantTokenSource(self, grant_id, tenant_id)
