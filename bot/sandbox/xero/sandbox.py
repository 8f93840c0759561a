"""``XeroSandbox``: the offline Xero that tests, the demo and benchmarks talk to over HTTP.

It imports nothing from the bot: it is the other side of the wire.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .app import SandboxApp
from .clock import SandboxClock
from .context import Context, Recorder
from .data import build_organisations, default_user, make_user
from .faults import Faults
from .identity import Client, Identity
from .ledger import HIGH_VOLUME_THRESHOLD, IDEMPOTENCY_TTL, Ledger
from .limits import RateLimiter
from .model import Organisation, User
from .server import BackgroundServer

DEFAULT_CLIENT_ID = "recon-sandbox-client"
DEFAULT_CLIENT_SECRET = "recon-sandbox-secret"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:3000/xero/callback"


class XeroSandbox:
    """An in-process Xero: identity, connections and the accounting subset the bot uses."""

    def __init__(
        self,
        seed: int = 7,
        transactions: int = 500,
        organisations: int = 2,
        consent: str = "auto",
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: list[str] | None = None,
        daily_limit: int = 5000,
        clock: SandboxClock | None = None,
        *,
        minute_limit: int = 60,
        concurrent_limit: int = 5,
        app_minute_limit: int = 10_000,
        high_volume_threshold: int = HIGH_VOLUME_THRESHOLD,
        idempotency_ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> None:
        if consent not in ("auto", "prompt"):
            raise ValueError("consent must be 'auto' or 'prompt'")
        if organisations < 1:
            raise ValueError("organisations must be at least 1")
        self.clock = clock or SandboxClock()
        self.seed = seed
        orgs = build_organisations(seed, organisations, transactions, self.clock.start)
        self._orgs = orgs
        user = default_user(seed, [o.tenant_id for o in orgs])
        self._client = Client(client_id, client_secret, list(redirect_uris or [DEFAULT_REDIRECT_URI]))
        identity = Identity(
            self.clock,
            self._client,
            [user],
            {o.tenant_id: o.name for o in orgs},
            signing_key=secrets.token_hex(32),
        )
        self.faults = Faults()
        self._ctx = Context(
            clock=self.clock,
            identity=identity,
            ledger=Ledger(
                orgs, self.clock, high_volume_threshold=high_volume_threshold, idempotency_ttl=idempotency_ttl
            ),
            limiter=RateLimiter(
                self.clock,
                per_minute=minute_limit,
                concurrent=concurrent_limit,
                daily=daily_limit,
                app_per_minute=app_minute_limit,
            ),
            faults=self.faults,
            recorder=Recorder(),
            consent=consent,
            login_user_id=user.xero_user_id,
        )
        self._ctx.settings = {
            "seed": seed,
            "transactions": transactions,
            "organisations": organisations,
            "consent": consent,
            "daily_limit": daily_limit,
            "minute_limit": minute_limit,
            "tenants": self.tenants,
        }
        self.wsgi = SandboxApp(self._ctx)
        self._server: BackgroundServer | None = None

    # --- server -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> XeroSandbox:
        """Serve on a background thread (``port=0`` picks a free port); returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self.faults.stopping.clear()
        self._server = BackgroundServer(self.wsgi, host, port)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.faults.stopping.set()
        gate = self.faults.gate()
        if gate is not None:
            gate.release()
        self._server.stop()
        self._server = None

    def __enter__(self) -> XeroSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the sandbox first")
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/identity/connect/authorize"

    def bot_settings(self) -> dict[str, str]:
        """The environment the bot needs to talk to this sandbox."""
        return {
            "XERO_CLIENT_ID": self._client.client_id,
            "XERO_CLIENT_SECRET": self._client.client_secret,
            "XERO_AUTHORIZE_URL": self.authorize_url,
            "XERO_IDENTITY_URL": self.url,
            "XERO_API_URL": self.url,
            "XERO_REDIRECT_URI": self._client.redirect_uris[0],
        }

    # --- configuration ----------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        return self._client.client_id

    @property
    def client_secret(self) -> str:
        return self._client.client_secret

    @property
    def redirect_uris(self) -> list[str]:
        return list(self._client.redirect_uris)

    def register_redirect_uri(self, uri: str) -> None:
        if uri not in self._client.redirect_uris:
            self._client.redirect_uris.append(uri)

    def add_user(
        self, email: str, given_name: str, family_name: str, tenant_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """Another Xero login (by default with access to every organisation)."""
        user = make_user(email, given_name, family_name, tenant_ids or [o.tenant_id for o in self._orgs])
        self._ctx.identity.users[user.xero_user_id] = user
        return _user_info(user)

    def login_as(self, xero_user_id: str) -> None:
        """Who consents next (the browser's Xero session)."""
        if xero_user_id not in self._ctx.identity.users:
            raise KeyError(xero_user_id)
        self._ctx.login_user_id = xero_user_id

    @property
    def consent(self) -> str:
        return self._ctx.consent

    @consent.setter
    def consent(self, mode: str) -> None:
        if mode not in ("auto", "prompt"):
            raise ValueError("consent must be 'auto' or 'prompt'")
        self._ctx.consent = mode

    # --- observation -----------------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._ctx.recorder.all()

    def clear_requests(self) -> None:
        self._ctx.recorder.clear()

    @property
    def tenants(self) -> list[dict[str, Any]]:
        return [_tenant_info(o) for o in self._orgs]

    @property
    def user(self) -> dict[str, Any]:
        return _user_info(self._ctx.identity.users[next(iter(self._ctx.identity.users))])

    @property
    def users(self) -> list[dict[str, Any]]:
        return [_user_info(u) for u in self._ctx.identity.users.values()]

    def connections(self) -> list[dict[str, Any]]:
        """Every connection of every user (for assertions)."""
        return [dict(vars(c)) for c in self._ctx.identity.connections.values()]

    # --- Xero-side actions ------------------------------------------------------------------

    def revoke_user(self, xero_user_id: str) -> int:
        """Revoke from Xero's side: refresh tokens die, connections go. Returns connections removed."""
        return self._ctx.identity.revoke_user(xero_user_id)

    def disconnect_at_xero(self, xero_user_id: str, tenant_id: str) -> int:
        """The user disconnects one organisation from the app in Xero's web pages: that login's
        tokens stay valid but answer 403 for it. Returns connections removed."""
        identity = self._ctx.identity
        with identity._lock:
            doomed = [
                c.id
                for c in identity.connections.values()
                if c.user_id == xero_user_id and c.tenant_id == tenant_id.lower()
            ]
            for cid in doomed:
                del identity.connections[cid]
        return len(doomed)

    def warm(self) -> XeroSandbox:
        """Generate every organisation's transactions and index them now, not on the first call.

        A million rows take about 20 s of CPU to generate and a few more to order; a client
        whose first request would wait that long (and time out) wants it done first.
        """
        ledger = self._ctx.ledger
        with ledger.lock:
            for org in self._orgs:
                ledger.listing.warm(org, ledger.txns(org))
        return self

    def transaction_ids(self, tenant_id: str) -> list[str]:
        org = self._org(tenant_id)
        with self._ctx.ledger.lock:
            return list(self._ctx.ledger.txns(org))

    def get_transaction(self, tenant_id: str, bank_transaction_id: str) -> dict[str, Any]:
        """The transaction as stored, in Xero's JSON shape (with line items)."""
        result = self._ctx.ledger.get_transaction(self._org(tenant_id), bank_transaction_id, 4)
        if result.status != 200 or isinstance(result.body, str):
            raise KeyError(bank_transaction_id)
        return result.body["BankTransactions"][0]

    def modify_transaction(self, tenant_id: str, bank_transaction_id: str, **fields: Any) -> dict[str, Any]:
        """Raw edit of Reference, Url, IsReconciled or Status (no checks); bumps UpdatedDateUTC.

        Prefer the actions below, which check what Xero's screens check.
        """
        self._ctx.ledger.modify(self._org(tenant_id), bank_transaction_id, fields, self._actor())
        return self.get_transaction(tenant_id, bank_transaction_id)

    # Changes made in Xero's own screens while the bot is not looking. Each returns the
    # transaction as GET /BankTransactions/{id} shows it afterwards, raises KeyError for an
    # unknown organisation or transaction and ActionError (a ValueError) for what Xero refuses.

    def create_transaction(
        self,
        tenant_id: str,
        *,
        contact: str,
        amount: Decimal | str | float,
        type: str = "SPEND",  # noqa: A002 - Xero's own name for it
        date: date | str | None = None,
        reference: str | None = None,
        description: str | None = None,
        bank_account: str | None = None,
        account_code: str | None = None,
        line_amount_types: str = "Inclusive",
        url: str | None = None,
    ) -> dict[str, Any]:
        """New spend or receive money: ``amount`` is the Total; ``contact`` a name (new ones are made);
        ``date`` defaults to the sandbox's today; ``bank_account`` a code or AccountID (default
        "090"); ``account_code`` the line's account (default 429 for SPEND, 200 for RECEIVE);
        ``description`` the line's (default the account's name). UpdatedDateUTC is now."""
        params = {
            "type": type,
            "contact": contact,
            "amount": amount,
            "date": date,
            "reference": reference,
            "description": description,
            "bank_account": bank_account,
            "account_code": account_code,
            "line_amount_types": line_amount_types,
            "url": url,
        }
        txn = self._ctx.ledger.create(self._org(tenant_id), params, self._actor())
        return self.get_transaction(tenant_id, txn.id)

    def edit_transaction(
        self,
        tenant_id: str,
        bank_transaction_id: str,
        *,
        reference: str | None = None,
        contact: str | None = None,
        amount: Decimal | str | float | None = None,
        date: date | str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Change what is given (``None`` leaves it; ``reference=""`` clears it). ``contact`` is a
        name; ``amount`` the new Total; ``description`` the first line's. Moves UpdatedDateUTC."""
        given = {
            "reference": reference,
            "contact": contact,
            "amount": amount,
            "date": date,
            "description": description,
        }
        params = {k: v for k, v in given.items() if v is not None}
        return self._act(tenant_id, bank_transaction_id, "edit", params)

    def delete_transaction(self, tenant_id: str, bank_transaction_id: str) -> dict[str, Any]:
        """Status DELETED (SPEND/RECEIVE, not reconciled); moves UpdatedDateUTC."""
        return self._act(tenant_id, bank_transaction_id, "delete", {})

    def void_transaction(self, tenant_id: str, bank_transaction_id: str) -> dict[str, Any]:
        """Status VOIDED (any type, not reconciled); moves UpdatedDateUTC."""
        return self._act(tenant_id, bank_transaction_id, "void", {})

    def reconcile_transaction(
        self, tenant_id: str, bank_transaction_id: str, *, touch: bool = False
    ) -> dict[str, Any]:
        """IsReconciled true. UpdatedDateUTC stays as it was unless ``touch`` (Xero promises neither)."""
        return self._act(tenant_id, bank_transaction_id, "reconcile", {"touch": touch})

    def unreconcile_transaction(
        self, tenant_id: str, bank_transaction_id: str, *, touch: bool = False
    ) -> dict[str, Any]:
        """IsReconciled false; UpdatedDateUTC as for :meth:`reconcile_transaction`."""
        return self._act(tenant_id, bank_transaction_id, "unreconcile", {"touch": touch})

    def transactions(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every transaction as :meth:`get_transaction` shows it, in :meth:`transaction_ids` order.

        One call instead of one per id: the brute-force side of a test over a big organisation.
        """
        return self._ctx.ledger.every_transaction(self._org(tenant_id))

    def _act(self, tenant_id: str, txn_id: str, name: str, params: dict[str, Any]) -> dict[str, Any]:
        self._ctx.ledger.act(self._org(tenant_id), txn_id, name, params, self._actor())
        return self.get_transaction(tenant_id, txn_id)

    def _actor(self) -> str:
        """Who the History says made a Xero-side change: the first Xero user."""
        return self._ctx.identity.users[next(iter(self._ctx.identity.users))].name

    def history(self, tenant_id: str, bank_transaction_id: str) -> list[dict[str, Any]]:
        return self._ctx.ledger.history_records(self._org(tenant_id), bank_transaction_id)

    def _org(self, tenant_id: str) -> Organisation:
        org = self._ctx.ledger.org(tenant_id)
        if org is None:
            raise KeyError(tenant_id)
        return org


def _tenant_info(org: Organisation) -> dict[str, Any]:
    return {
        "tenant_id": org.tenant_id,
        "name": org.name,
        "short_code": org.short_code,
        "currency": org.base_currency,
        "country": org.country_code,
        "timezone": org.timezone,
        "iana_timezone": org.iana_timezone,
        "bank_accounts": [
            {
                "account_id": a.account_id,
                "code": a.code,
                "name": a.name,
                "currency": a.currency,
                "status": a.status,
                "bank_account_type": a.bank_account_type,
            }
            for a in org.bank_accounts
        ],
        "tracking_categories": {c.name: [o.name for o in c.options] for c in org.tracking},
        "transactions": org.transaction_count,
    }


def _user_info(user: User) -> dict[str, Any]:
    return {
        "xero_user_id": user.xero_user_id,
        "email": user.email,
        "name": user.name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "tenant_ids": list(user.tenant_ids),
    }
