"""Daily digests of unreconciled spend/receive money.

* :mod:`.schedule` — when each subscription is due (pure, DST-safe);
* :mod:`.content` — what a digest says, from one Xero read per organisation, and the snapshot
  kept with each posted message so a later fix can be drawn into it;
* :mod:`.failures` — why a digest did not go out, in the words its owner is told;
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
    DigestItem,
    Fetched,
    Fix,
    fetch_unreconciled,
    from_snapshot,
    search_query,
    summarise,
    to_snapshot,
)
from bot.services.digest.failures import CANNOT_POST, RunProblem, cause_of, run_problem, xero_cause
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
    DIGEST_WORKERS,
    RETRYABLE_POST,
    DigestChoice,
    DigestService,
    Due,
    FixShown,
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
    "DigestChoice",
    "DigestContent",
    "DigestItem",
    "DigestService",
    "Due",
    "Fetched",
    "Fix",
    "FixShown",
    "PostFailed",
    "Poster",
    "RunProblem",
    "RunReport",
    "Subscribed",
    "SubscriptionStatus",
    "canonical_zone",
    "cause_of",
    "digest_service",
    "due_day",
    "fetch_unreconciled",
    "from_snapshot",
    "next_run",
    "org_zone",
    "parse_local_time",
    "run_problem",
    "scheduled_at",
    "search_query",
    "subscription_due_day",
    "subscription_next_run",
    "suggest_zone",
    "summarise",
    "to_snapshot",
    "xero_cause",
]
