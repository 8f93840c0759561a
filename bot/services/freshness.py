"""How current an organisation's mirror is: what search and the digest need to know of the sync.

Search asks :class:`MirrorKeeper` to bring a stale mirror up to date before answering, waits only
briefly, and answers from the mirror either way, saying how fresh it is. Defined apart from the
sync itself so search depends on this small promise, not on how the sync keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Freshness:
    tenant_id: str
    complete: bool  # the first sync has finished: the mirror holds every transaction
    as_of: datetime | None  # when the mirror was last known in step with Xero (UTC)
    rows_read: int = 0  # first-sync progress while it is still filling
    rows_expected: int | None = None  # Xero's itemCount, when it said
    error: str | None = None  # why the last attempt to catch up failed (Xero down, rate-limited)


class MirrorKeeper(Protocol):
    def freshness(self, tenant_id: str) -> Freshness:
        """What the mirror holds now, without calling Xero."""
        ...

    def ensure_fresh(self, tenant_id: str, *, max_age: float, wait: float) -> Freshness:
        """Run a delta if the mirror is older than ``max_age`` seconds (one per organisation
        across processes), waiting at most ``wait`` seconds for it; never raises for Xero
        trouble — the answer says how fresh the mirror is instead."""
        ...


__all__ = ["Freshness", "MirrorKeeper"]
