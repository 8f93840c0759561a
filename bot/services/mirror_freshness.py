"""How fresh a mirror is, read from the sync state alone: a :class:`MirrorKeeper` that never syncs.

For processes that answer from the mirror without keeping it (and for tests of search): it says
what the last sync left behind, and ``ensure_fresh`` can only report it. The sync service is
the keeper that also brings a mirror up to date.
"""

from __future__ import annotations

from bot.services.freshness import Freshness
from storage.db import Database
from storage.mirror_search import mirror_progress


class StoredFreshness:
    def __init__(self, db: Database) -> None:
        self._db = db

    def freshness(self, tenant_id: str) -> Freshness:
        progress = mirror_progress(self._db, tenant_id)
        if progress is None:
            return Freshness(tenant_id, complete=False, as_of=None)
        return Freshness(
            tenant_id,
            complete=progress.complete,
            as_of=progress.in_step_at,
            rows_read=progress.rows,
            rows_expected=progress.expected,
            error=progress.last_error,
        )

    def ensure_fresh(self, tenant_id: str, *, max_age: float, wait: float) -> Freshness:
        del max_age, wait  # nothing here can sync: say how things stand
        return self.freshness(tenant_id)


__all__ = ["StoredFreshness"]
