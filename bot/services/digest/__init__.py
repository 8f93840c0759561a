"""Daily digests of unreconciled spend/receive money.

* :mod:`.schedule` — when each subscription is due (pure, DST-safe);
* :mod:`.content` — what a digest says, from one Xero read per organisation;
* :mod:`.service` — delivering each day exactly once (the ledger decides, not the scheduler).
"""

from bot.services.digest.content import (
    DEFAULT_ITEMS,
    MAX_PAGES,
    ORDER,
    PAGE_SIZE,
    UNRECONCILED,
    AccountSummary,
    DigestContent,
    Fetched,
    fetch_unreconciled,
    search_query,
    summarise,
)
from bot.services.digest.schedule import (
    DEFAULT_TIME,
    canonical_zone,
    due_day,
    next_run,
    org_zone,
    parse_local_time,
    scheduled_at,
    subscription_due_day,
    subscription_next_run,
    suggest_zone,
)
from bot.services.digest.service import (
    CANNOT_POST,
    DIGEST_WORKERS,
    RETRYABLE_POST,
    DigestService,
    Due,
    Poster,
    PostFailed,
    RunReport,
    Subscribed,
    SubscriptionStatus,
    digest_service,
)

__all__ = [
    "CANNOT_POST",
    "DEFAULT_ITEMS",
    "DEFAULT_TIME",
    "DIGEST_WORKERS",
    "MAX_PAGES",
    "ORDER",
    "PAGE_SIZE",
    "RETRYABLE_POST",
    "UNRECONCILED",
    "AccountSummary",
    "DigestContent",
    "DigestService",
    "Due",
    "Fetched",
    "PostFailed",
    "Poster",
    "RunReport",
    "Subscribed",
    "SubscriptionStatus",
    "canonical_zone",
    "digest_service",
    "due_day",
    "fetch_unreconciled",
    "next_run",
    "org_zone",
    "parse_local_time",
    "scheduled_at",
    "search_query",
    "subscription_due_day",
    "subscription_next_run",
    "suggest_zone",
    "summarise",
]
