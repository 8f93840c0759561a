"""Connecting, choosing and disconnecting Xero organisations for a Slack user."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

import jwt

from bot.services.errors import ConsentFailed, NotConnected, OrgAmbiguous, OrgNotFound, ServiceError
from bot.xero.errors import XeroError
from bot.xero.timezones import iana_zone
from storage import digests, grants, organisations, waiting_views
from storage.crypto import TokenDecryptError
from storage.db import Database
from storage.digests import Subscription
from storage.grants import ConsentResult, GrantView, TenantView
from storage.mirror_state import forget_unheld
from storage.models import GRANT_NEEDS_RECONNECT, utcnow
from storage.organisations import OrganisationView
from storage.states import (
    PURPOSE_CONNECT,
    PURPOSE_XERO,
    StateProblem,
    StateRejected,
    consume_state,
    create_state,
    matches,
)
from storage.waiting_views import WaitingView

if TYPE_CHECKING:
    from bot.services.tokens import TokenService
    from bot.signin import SlackIdentity
    from bot.xero.client import TokenSource, XeroClient
    from bot.xero.oauth import XeroOAuth

log = logging.getLogger(__name__)

_STATE_MESSAGES = {
    StateProblem.EXPIRED: ("expired", "This connect link has expired (links last 10 minutes)."),
    StateProblem.USED: ("used", "This connect link has already been used."),
    StateProblem.UNKNOWN: ("invalid", "This connect link isn't valid."),
    StateProblem.MALFORMED: ("invalid", "This connect link isn't valid."),
}
_AGAIN = " Run `/recon connect` in Slack for a fresh one."
AGAIN = _AGAIN  # the sign-in steps end their pages the same way
OTHER_BROWSER = (
    "This connection was started in a different browser, so nothing was connected. Open the "
    "Connect button from Slack in the browser you want to use."
)


def state_failure(exc: StateRejected) -> ConsentFailed:
    """The page-ready refusal for a state a step would not accept."""
    reason, message = _STATE_MESSAGES[exc.problem]
    return ConsentFailed(reason, message + _AGAIN)


@dataclass(frozen=True)
class Connected:
    """A finished consent, and the Slack account that now holds it (for the success page).

    ``slack_user_name``/``slack_team_name`` are what Slack's verified ID token called them;
    None when Slack sent no names.
    """

    result: ConsentResult
    slack_user_name: str | None = None
    slack_team_name: str | None = None

    @property
    def grant(self) -> GrantView:
        return self.result.grant

    @property
    def tenants(self) -> tuple[TenantView, ...]:
        return self.result.tenants

    @property
    def added(self) -> tuple[TenantView, ...]:
        return self.result.added

    @property
    def created(self) -> bool:
        return self.result.created


def _auth_event_id(access_token: str) -> str | None:
    """Xero's access tokens are JWTs naming the consent (``authentication_event_id``).

    Used only to tell which organisations this consent added; the token came straight from Xero's
    token endpoint, so its signature is not what protects us here. Opaque tokens → None.
    """
    try:
        claims = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    value = claims.get("authentication_event_id")
    return str(value) if value else None


class ConnectService:
    def __init__(
        self,
        db: Database,
        oauth: XeroOAuth,
        xero: XeroClient,
        tokens: TokenService,
        *,
        client_id: str,
        start_url: str,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self._oauth = oauth
        self._xero = xero
        self._tokens = tokens
        self._client_id = client_id
        self._start_url = start_url
        self._now = now

    # ----------------------------------------------------------------- consent

    def consent_url(self, team_id: str, user_id: str) -> str:
        """A Connect link bound to this Slack user; valid 10 minutes, once.

        It opens Recon's own start route, not Xero: the browser first signs in with Slack
        (:class:`bot.services.signin.SignInService`), and only the link's owner goes on to Xero.
        """
        state = create_state(self.db, team_id, user_id, purpose=PURPOSE_CONNECT, now=self._now)
        return f"{self._start_url}?state={quote(state)}"

    def xero_consent_url_after_sign_in(self, identity: SlackIdentity, *, browser: str) -> str:
        """Xero's consent page for a Slack user whose identity was *just proven*, in ``browser``.

        Call it only with an identity from Sign in with Slack's verified ID token (the sign-in
        service does), or in a harness that has no Slack and stands in for that step. The Xero
        state it issues is bound to the user and to the browser that signed in, so the consent
        URL works nowhere else.
        """
        state = create_state(
            self.db,
            identity.team_id,
            identity.user_id,
            purpose=PURPOSE_XERO,
            browser=browser,
            slack_user_name=identity.name,
            slack_team_name=identity.team_name,
            now=self._now,
        )
        return self._oauth.authorize_url_for(state)

    def complete_consent(
        self, *, code: str | None, state: str | None, error: str | None, browser: str | None
    ) -> Connected:
        """Finish the consent the browser brings back; :class:`ConsentFailed` says why not.

        ``browser`` is the binding secret from the browser's cookie: a Xero consent URL copied
        out of one browser and opened in another is refused, and its state spent.
        """
        if error:
            # The link is spent either way; a bad state still gets the cancellation page.
            with contextlib.suppress(StateRejected):
                consume_state(self.db, state, purpose=PURPOSE_XERO, now=self._now)
            if error == "access_denied":
                raise ConsentFailed(
                    "cancelled", "You cancelled the connection to Xero, so nothing was connected." + _AGAIN
                )
            raise ConsentFailed("xero_error", f"Xero reported a problem ({error[:60]})." + _AGAIN)
        try:
            owner = consume_state(self.db, state, purpose=PURPOSE_XERO, now=self._now)
        except StateRejected as exc:
            raise state_failure(exc) from None
        if not matches(owner.browser_hash, browser):
            log.warning(
                "consent for %s/%s came back in another browser: refused",
                owner.slack_team_id,
                owner.slack_user_id,
            )
            raise ConsentFailed("other_browser", OTHER_BROWSER + _AGAIN)
        if not code:
            raise ConsentFailed("invalid", "Xero sent no authorisation code." + _AGAIN)
        try:
            tokens = self._oauth.exchange_code(code)
            xero_user_id = self._xero_user_id(tokens.id_token)
            connections = [
                c
                for c in self._oauth.connections(tokens.access_token)
                if (c.tenant_type or "ORGANISATION").upper() == "ORGANISATION"
            ]
        except XeroError as exc:
            log.warning("consent for %s/%s failed at Xero: %s", owner.slack_team_id, owner.slack_user_id, exc)
            raise ConsentFailed("xero_error", f"{exc}{_AGAIN}") from None
        result = grants.save_consent(
            self.db,
            slack_team_id=owner.slack_team_id,
            slack_user_id=owner.slack_user_id,
            xero_user_id=xero_user_id,
            tokens=tokens,
            connections=[_Named(c) for c in connections],
            auth_event_id=_auth_event_id(tokens.access_token),
            now=self._now,
        )
        forget_unheld(self.db)  # a reconnect that drops an organisation drops its mirror
        return Connected(result, owner.slack_user_name, owner.slack_team_name)

    def _xero_user_id(self, id_token: str | None) -> str:
        from bot.xero.oauth import id_token_claims

        if not id_token:
            raise ConsentFailed(
                "xero_error", "Xero didn't say who signed in (is `openid` in XERO_SCOPES?)." + _AGAIN
            )
        claims = id_token_claims(id_token, client_id=self._client_id, now=self._now())
        return str(claims.get("xero_userid") or claims["sub"])

    # ----------------------------------------------------------------- organisations

    def organisations(self, team_id: str, user_id: str) -> list[TenantView]:
        return grants.user_tenants(self.db, team_id, user_id)

    def grants(self, team_id: str, user_id: str) -> list[GrantView]:
        return grants.user_grants(self.db, team_id, user_id)

    def default_org(self, team_id: str, user_id: str) -> TenantView | None:
        tenants = self.organisations(team_id, user_id)
        return next((t for t in tenants if t.is_default), tenants[0] if tenants else None)

    def find_orgs(self, team_id: str, user_id: str, name: str) -> list[TenantView]:
        """Exact name first, then prefix, then word-prefix — case-insensitive."""
        tenants = self.organisations(team_id, user_id)
        wanted = name.strip().casefold()
        for rule in (
            lambda n: n == wanted,
            lambda n: n.startswith(wanted),
            lambda n: any(word.startswith(wanted) for word in n.split()),
        ):
            found = [t for t in tenants if rule(t.tenant_name.casefold())]
            if found:
                return found
        return []

    def resolve_org(self, team_id: str, user_id: str, name: str) -> TenantView:
        tenants = self.organisations(team_id, user_id)
        if not tenants:
            raise NotConnected(self.consent_url(team_id, user_id))
        found = self.find_orgs(team_id, user_id, name)
        if not found:
            raise OrgNotFound(name, tenants)
        if len(found) > 1:
            raise OrgAmbiguous(name, found)
        return found[0]

    def use_org(self, team_id: str, user_id: str, name: str) -> TenantView:
        return self.set_default(team_id, user_id, self.resolve_org(team_id, user_id, name).tenant_id)

    def set_default(self, team_id: str, user_id: str, tenant_id: str) -> TenantView:
        try:
            return grants.set_default_tenant(self.db, team_id, user_id, tenant_id)
        except LookupError:
            raise ServiceError("That organisation isn't connected for you.") from None

    def require_tenant(self, team_id: str, user_id: str, tenant_id: str | None) -> TenantView:
        """The organisation this user may act on, or a clear refusal.

        ``None`` means the user's default. A tenant id from a button must be one of the presser's
        own organisations: buttons are visible to others in channels.
        """
        tenants = self.organisations(team_id, user_id)
        if not tenants:
            raise NotConnected(self.consent_url(team_id, user_id))
        if tenant_id is None:
            tenant = next((t for t in tenants if t.is_default), tenants[0])
        else:
            tenant = next((t for t in tenants if t.tenant_id == tenant_id), None)
            if tenant is None:
                raise ServiceError(
                    "That organisation isn't connected to your Xero login, so I can't open it for you. "
                    "Connect it with `/recon connect` if you have access."
                )
        if tenant.grant_status == GRANT_NEEDS_RECONNECT:
            raise NotConnected(self.consent_url(team_id, user_id), reconnect=True)
        return tenant

    def organisation(self, team_id: str, user_id: str, tenant_id: str) -> OrganisationView:
        """The organisation's own details (ShortCode, country, zone), read from Xero once and kept.

        Only for an organisation this user holds; the first call per organisation costs one
        ``GET /Organisation`` (a :class:`XeroError` if Xero can't answer), later calls none.
        """
        tenant = self.require_tenant(team_id, user_id, tenant_id)
        known = organisations.get_organisation(self.db, tenant_id)
        if known is not None:
            return known
        return self.refresh_organisation(self._tokens.source(team_id, user_id, tenant.tenant_id))

    def refresh_organisation(self, source: TokenSource) -> OrganisationView:
        """Read ``GET /Organisation`` through ``source`` and keep what Recon uses of it."""
        org = self._xero.get_organisation(source)
        return organisations.save_organisation(
            self.db,
            tenant_id=source.tenant_id,
            name=org.name,
            short_code=org.short_code,
            country_code=org.country_code,
            timezone=iana_zone(org.timezone) if org.timezone else None,
            base_currency=org.base_currency,
            now=self._now,
        )

    def org_timezone(self, team_id: str, user_id: str, tenant_id: str) -> str:
        """IANA zone of the organisation (cached after the first ``GET /Organisation``)."""
        tenant = self.require_tenant(team_id, user_id, tenant_id)
        if tenant.timezone:
            return tenant.timezone
        zone = self.organisation(team_id, user_id, tenant_id).timezone or iana_zone(None)
        grants.set_tenant_timezone(self.db, tenant.grant_id, tenant_id, zone)
        return zone

    # ----------------------------------------------------------------- views waiting to connect

    def wait_for_connection(self, team_id: str, user_id: str, view_id: str, payload: str) -> None:
        """Remember an open modal that told this user to connect (``payload``: what to show then)."""
        waiting_views.remember_waiting(self.db, team_id, user_id, view_id, payload, now=self._now)

    def take_waiting_views(self, team_id: str, user_id: str) -> list[WaitingView]:
        """After a consent: the user's modals waiting for it, each handed out once."""
        return waiting_views.take_waiting(self.db, team_id, user_id, now=self._now)

    def forget_waiting_view(self, team_id: str, user_id: str, view_id: str) -> None:
        """The modal is being filled another way (its own "I've connected" button)."""
        waiting_views.forget_waiting(self.db, team_id, user_id, view_id)

    # ----------------------------------------------------------------- disconnect

    def disconnect_preview(self, team_id: str, user_id: str, org_name: str | None) -> DisconnectPreview:
        """What ``disconnect(org_name)`` would remove — asked before anything is removed, so the
        confirm dialog can name the organisations and the daily digests that go with them."""
        tenants = self.organisations(team_id, user_id)
        if org_name is None:
            if not tenants and not self.grants(team_id, user_id):
                raise ServiceError("You have no Xero connection to remove.")
            kept: set[str] = set()
            target = None
            names = [t.tenant_name for t in tenants]
        else:
            tenant = self.resolve_org(team_id, user_id, org_name)
            kept = {
                t.tenant_id
                for t in tenants
                if not (t.grant_id == tenant.grant_id and t.tenant_id == tenant.tenant_id)
            }
            target = tenant.tenant_name
            names = [tenant.tenant_name]
        stopped = [
            s for s in digests.subscriptions_of_user(self.db, team_id, user_id) if s.tenant_id not in kept
        ]
        return DisconnectPreview(target, names, stopped)

    def disconnect(self, team_id: str, user_id: str, org_name: str | None) -> list[str]:
        """Remove one organisation's connection at Xero, or everything (revoking the token).

        Local tokens are deleted even when Xero cannot be reached: the user asked us to forget
        them. The returned names say what was disconnected; a :class:`ServiceError` afterwards
        would have lost that, so Xero failures are logged and reported in the names' wording.
        """
        names = self._disconnect(team_id, user_id, org_name)
        self._drop_digests(team_id, user_id, names)
        forgotten = forget_unheld(self.db)  # nobody else holds them: their mirrored rows go
        if forgotten:
            log.info(
                "mirror: forgot %d organisation(s) after %s/%s disconnected", len(forgotten), team_id, user_id
            )
        return names

    def _drop_digests(self, team_id: str, user_id: str, names: list[str]) -> None:
        """Digests this user owned for organisations they no longer hold would only fail daily."""
        held = {t.tenant_id for t in self.organisations(team_id, user_id)}
        stale = [
            s.id for s in digests.subscriptions_of_user(self.db, team_id, user_id) if s.tenant_id not in held
        ]
        if stale:
            digests.delete_subscriptions(self.db, stale)
            log.info(
                "removed %d digest subscription(s) of %s/%s after disconnect", len(stale), team_id, user_id
            )

    def _disconnect(self, team_id: str, user_id: str, org_name: str | None) -> list[str]:
        if org_name:
            tenant = self.resolve_org(team_id, user_id, org_name)
            grant_tenants = [t for t in self.organisations(team_id, user_id) if t.grant_id == tenant.grant_id]
            if len(grant_tenants) > 1:
                self._delete_connection(tenant)
                grants.remove_tenant(self.db, tenant.grant_id, tenant.tenant_id)
                return [tenant.tenant_name]
            self._revoke(tenant.grant_id)
            grants.delete_grant(self.db, tenant.grant_id)
            return [tenant.tenant_name]
        names = [t.tenant_name for t in self.organisations(team_id, user_id)]
        user_grants = self.grants(team_id, user_id)
        if not user_grants:
            raise ServiceError("You have no Xero connection to remove.")
        for grant in user_grants:
            self._revoke(grant.id)
            grants.delete_grant(self.db, grant.id)
        return names

    def _delete_connection(self, tenant: TenantView) -> None:
        try:
            token = self._tokens.access_token(tenant.grant_id)
            self._oauth.delete_connection(token.token, tenant.connection_id)
        except (XeroError, NotConnected) as exc:
            log.warning("could not remove connection %s at Xero: %s", tenant.connection_id, exc)

    def _revoke(self, grant_id: int) -> None:
        try:
            refresh_token = grants.refresh_token_for_revocation(self.db, grant_id)
        except TokenDecryptError:
            # Nothing to send Xero; forgetting the grant here is still what the user asked for.
            log.warning("grant %s: tokens cannot be decrypted, so it is not revoked at Xero", grant_id)
            return
        if not refresh_token:
            return
        try:
            self._oauth.revoke(refresh_token)
        except XeroError as exc:
            log.warning("could not revoke grant %s at Xero: %s", grant_id, exc)


@dataclass(frozen=True)
class DisconnectPreview:
    """``target`` None: everything. ``digests``: the daily digests the disconnect removes."""

    target: str | None
    names: list[str]
    digests: list[Subscription]


class _Named:
    """A connection with a name storage can show even when Xero sends none."""

    def __init__(self, connection) -> None:
        self.id = connection.id
        self.tenant_id = connection.tenant_id
        self.tenant_name = connection.tenant_name or "(unnamed organisation)"
        self.auth_event_id = connection.auth_event_id
