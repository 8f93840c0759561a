"""Database tables. Tokens are stored only as Fernet ciphertext (see ``storage.crypto``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from storage.search_fields import first_line
from storage.search_grams import grams


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


GRANT_ACTIVE = "active"
GRANT_NEEDS_RECONNECT = "needs_reconnect"
GRANT_REVOKED = "revoked"

TENANT_CONNECTED = "connected"
TENANT_GONE = "gone"


class Grant(Base):
    """One Xero authorisation of one Slack user."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("slack_team_id", "slack_user_id", "xero_user_id", name="uq_grants_identity"),
        Index("ix_grants_slack_user", "slack_team_id", "slack_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    xero_user_id: Mapped[str] = mapped_column(String(64))
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    access_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_refresh_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_refresh_outcome: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scopes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=GRANT_ACTIVE)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    reconnect_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # The refresh lease (see storage.grants.valid_access_token): whoever set it is calling Xero's
    # token endpoint for this grant until then; an expired lease is free to take over.
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A refresh of this generation was sent (or about to be) and has not finished: Xero may have
    # rotated the token without our hearing it, so the clock retries it inside the grace period.
    refresh_pending_generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    refresh_pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    tenants: Mapped[list[Tenant]] = relationship(
        back_populates="grant", cascade="all, delete-orphan", order_by="Tenant.id"
    )

    def __repr__(self) -> str:  # never include token columns
        return (
            f"Grant(id={self.id}, team={self.slack_team_id}, user={self.slack_user_id}, "
            f"status={self.status}, generation={self.generation})"
        )


class Tenant(Base):
    """A Xero organisation reachable through a grant (from ``GET /connections``)."""

    __tablename__ = "tenants"
    __table_args__ = (
        UniqueConstraint("grant_id", "tenant_id", name="uq_tenants_grant_tenant"),
        # One default organisation per grant, enforced by the database on both dialects.
        Index(
            "uq_tenants_one_default",
            "grant_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64))
    tenant_name: Mapped[str] = mapped_column(String(255))
    connection_id: Mapped[str] = mapped_column(String(64))
    auth_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=TENANT_CONNECTED)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    grant: Mapped[Grant] = relationship(back_populates="tenants")


class OAuthState(Base):
    """One step of a consent link in flight; only SHA-256 hashes of the secrets are stored.

    ``purpose`` says which step may spend it (``storage.states``): the Connect button, the
    round trip through Sign in with Slack, or Xero's consent. Rows from before Sign in with
    Slack have ``legacy``, which no step accepts.
    """

    __tablename__ = "oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16), server_default="legacy")
    nonce_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    browser_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    slack_user_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    slack_team_name: Mapped[str | None] = mapped_column(String(255), nullable=True)


class DigestSubscription(Base):
    """A channel's daily digest of one organisation, owned by the user who asked for it."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (
        UniqueConstraint("slack_team_id", "channel_id", "tenant_id", name="uq_digest_channel_tenant"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    owner_user_id: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(String(64))
    tenant_name: Mapped[str] = mapped_column(String(255), default="")
    local_time: Mapped[str] = mapped_column(String(5))  # "HH:MM"
    timezone: Mapped[str] = mapped_column(String(64))  # IANA, e.g. "Pacific/Auckland"
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    skip_when_clear: Mapped[bool] = mapped_column(Boolean, default=False)
    dead_grant_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DigestRun(Base):
    """The ledger that makes each day's digest go out once, whatever the clocks do."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("subscription_id", "local_date", name="uq_digest_run_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("digest_subscriptions.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="claimed")  # claimed/sent/failed/skipped
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # failure DM sent


class DigestPost(Base):
    """A digest message as posted in Slack, kept so a fix made later can be shown in it.

    ``snapshot`` is what the message showed (the services' own JSON of the digest), ``version``
    moves on with every fix so the redraw can tell whether it drew the newest state.
    """

    __tablename__ = "digest_posts"
    __table_args__ = (
        UniqueConstraint("channel_id", "message_ts", name="uq_digest_post_message"),
        Index("ix_digest_posts_run", "run_id"),
        Index("ix_digest_posts_posted", "posted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("digest_runs.id", ondelete="CASCADE"), nullable=True
    )  # None for `/recon digest now`
    snapshot: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=0)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DigestPostRow(Base):
    """One transaction a posted digest shows, and who fixed it since."""

    __tablename__ = "digest_post_rows"
    __table_args__ = (
        UniqueConstraint("post_id", "bank_transaction_id", name="uq_digest_post_row"),
        Index("ix_digest_post_rows_txn", "tenant_id", "bank_transaction_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("digest_posts.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(64))
    bank_transaction_id: Mapped[str] = mapped_column(String(64))
    fixed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fixed_reference: Mapped[str | None] = mapped_column(Text, nullable=True)


class ViewAwaitingConnection(Base):
    """An open modal that told its user to connect to Xero, to be filled once they have."""

    __tablename__ = "views_awaiting_connection"
    __table_args__ = (Index("ix_views_awaiting_user", "slack_team_id", "slack_user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    view_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # what to show once connected (the Slack layer's)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Every write attempted against Xero: who, where, what, before, after, outcome."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_txn", "tenant_id", "bank_transaction_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[str] = mapped_column(String(64))
    bank_transaction_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str] = mapped_column(String(20))  # success / conflict / failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ---------------------------------------------------------------------- the mirror

# Surrogate keys are 64-bit on PostgreSQL (an upsert spends a sequence value per attempt, and the
# mirror upserts every row it reads) and the rowid alias on SQLite (FTS5 indexes by rowid).
MirrorKey = BigInteger().with_variant(Integer(), "sqlite")


def _grams_of_search_text(context) -> str:
    """``search_grams`` follows ``search_text`` for every insert, however the row is written."""
    return grams(context.get_current_parameters().get("search_text") or "")


class MirrorTransaction(Base):
    """Our copy of one Xero bank transaction, with what search, results, edit and digests use.

    Only live transactions are kept: a DELETED or VOIDED one leaves the mirror when a delta
    brings it. Money is stored in ten-thousandths (``× 10⁴``) as integers so that equality and
    ranges are exact on both dialects (SQLite has no decimal type): ``total_e4`` is Xero's
    ``Total`` (never negative), ``signed_e4`` the same with money out negative.
    ``search_text`` is contact, reference and line descriptions folded for matching
    (``bot.services.textmatch.normalise``), one per line.
    """

    __tablename__ = "mirror_transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "bank_transaction_id", name="uq_mirror_txn"),
        Index("ix_mirror_date", "tenant_id", "date", "bank_transaction_id"),
        Index("ix_mirror_unreconciled", "tenant_id", "is_reconciled", "date"),
        Index("ix_mirror_updated", "tenant_id", "updated_utc"),
        Index("ix_mirror_total", "tenant_id", "total_e4"),
        # Search: counting by type or exact amount reads the index alone, never the wide rows.
        Index("ix_mirror_type", "tenant_id", "type", "date", "is_reconciled"),
        Index("ix_mirror_amount", "tenant_id", "total_e4", "date", "signed_e4", "type", "is_reconciled"),
        # contact: counts and orders its contacts' rows from the index (storage.mirror_contacts).
        Index(
            "ix_mirror_contact",
            "tenant_id",
            "contact_key",
            "date",
            "bank_transaction_id",
            "type",
            "is_reconciled",
        ),
    )

    id: Mapped[int] = mapped_column(MirrorKey, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    bank_transaction_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    date: Mapped[date] = mapped_column(Date)
    contact_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    contact_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    bank_account_id: Mapped[str] = mapped_column(String(64))
    bank_account_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bank_account_name: Mapped[str] = mapped_column(Text, default="")
    currency_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    total_e4: Mapped[int] = mapped_column(BigInteger)
    signed_e4: Mapped[int] = mapped_column(BigInteger)
    is_reconciled: Mapped[bool] = mapped_column(Boolean)
    updated_utc: Mapped[datetime] = mapped_column(UTCDateTime())  # Xero's UpdatedDateUTC
    line_descriptions: Mapped[str] = mapped_column(Text, default="")  # one per line
    has_attachments: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Derived from search_text whenever a row is written without it (see storage.search_grams).
    search_grams: Mapped[str] = mapped_column(Text, default=_grams_of_search_text)
    # The folded contact (the first line of search_text), kept by the database itself.
    contact_key: Mapped[str] = mapped_column(Text, Computed(first_line(column("search_text"))))
    mirrored_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MirrorContact(Base):
    """One folded contact an organisation's mirrored rows carry (``contact_key``): what
    ``contact:`` and free text are matched against (:mod:`storage.mirror_contacts`). A trigger adds
    each row's contact; a contact whose rows are gone stays until the organisation is forgotten
    or read whole."""

    __tablename__ = "mirror_contacts"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_key: Mapped[str] = mapped_column(Text, primary_key=True)


class MirrorSyncState(Base):
    """How far the mirror of one organisation is in step with Xero, and who is syncing it now.

    ``bookmark_utc`` is the newest ``UpdatedDateUTC`` Xero has sent us (Xero's clock, never
    ours); deltas ask for changes since it, minus a small overlap. The first sync checkpoints
    ``first_sync_page`` (with the bookmark it pages from) after every page so a crash resumes
    there. ``lease_owner``/``lease_until`` make one sync per organisation at a time across
    processes; an expired lease is free. ``calls_today`` counts this organisation's sync calls
    on ``calls_day`` (UTC), so the sync keeps to its share of Xero's daily budget.
    """

    __tablename__ = "mirror_sync_state"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bookmark_utc: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_sync_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_sync_page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_sync_bookmark_utc: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    first_sync_expected: Mapped[int | None] = mapped_column(Integer, nullable=True)  # Xero's itemCount
    first_sync_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_delta_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_full_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    row_count: Mapped[int] = mapped_column(Integer, default=0)
    calls_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    calls_today: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Organisation(Base):
    """What Recon knows of a Xero organisation itself (``GET /Organisation``), shared by every
    grant that holds it: its ShortCode for deep links, its country for how dates are typed."""

    __tablename__ = "organisations"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    short_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    country_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)  # IANA
    base_currency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class XeroBudgetTenant(Base):
    """One organisation's share of Xero's limits as every process sees it (``storage.budget``).

    ``minute`` holds, as JSON, when each call of the rolling minute frees its slot; ``in_flight``
    the calls still running, each with a lease that expires so a process that dies mid-call
    never keeps its slot. The day's count runs from ``day_started`` (epoch seconds, like every
    time here: the limiter follows the bot's clock). The row with ``tenant_id`` ``*`` holds the
    app-wide block after a 429 that named the app's own limit.
    """

    __tablename__ = "xero_budget_tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    minute: Mapped[str] = mapped_column(Text, default="[]")
    in_flight: Mapped[str] = mapped_column(Text, default="{}")
    day_started: Mapped[float] = mapped_column(Float, default=0.0)
    day_used: Mapped[int] = mapped_column(Integer, default=0)
    day_background: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[float] = mapped_column(Float, default=0.0)
    blocked_problem: Mapped[str] = mapped_column(String(40), default="minute")


class XeroBudgetAppBucket(Base):
    """Calls to any organisation in one short slice of time, for Xero's app-wide minute limit."""

    __tablename__ = "xero_budget_app"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    calls: Mapped[int] = mapped_column(Integer, default=0)
