"""What the Slack layer may show of stored things: read-only views, without tokens.

The Slack layer talks to services only (README, Architecture); these are the types the services hand it,
named here so no listener or Block Kit builder needs to import ``storage``.
"""

from storage.digests import (
    STATUS_FAILED,
    STATUS_POSTING,
    STATUS_SENT,
    STATUS_SKIPPED,
    STATUS_UNKNOWN,
    Run,
    Subscription,
)
from storage.grants import GrantView, TenantView

__all__ = [
    "STATUS_FAILED",
    "STATUS_POSTING",
    "STATUS_SENT",
    "STATUS_SKIPPED",
    "STATUS_UNKNOWN",
    "GrantView",
    "Run",
    "Subscription",
    "TenantView",
]
