"""A short-lived, per-process memory of each user's default organisation name.

Only for the words in "Searching <org>…": that ack must go out in milliseconds even when 50
searches arrive at once, and a database read was nearly all of its cost. The search itself
always resolves the organisation from the database, so a stale name here can only make the
ack's wording lag (at most ``ttl`` seconds, and only when another process changed the default).
"No organisation" is never remembered, so someone who has just connected is named at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

Key = tuple[str, str]


class OrgLabels:
    def __init__(self, *, ttl: float = 60.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._names: OrderedDict[Key, tuple[float, str]] = OrderedDict()
        self._loading: dict[Key, threading.Event] = {}
        self._follower_wait = 0.5

    def get(self, team_id: str, user_id: str, load: Callable[[], str | None]) -> str | None:
        """The remembered name, or ``load()`` — once, however many acks for this user arrive at once."""
        key = (team_id, user_id)
        with self._lock:
            hit = self._names.get(key)
            if hit is not None and self._clock() - hit[0] < self._ttl:
                return hit[1]
            loading = self._loading.get(key)
            leader = loading is None
            if leader:
                loading = self._loading[key] = threading.Event()
        if not leader:
            loading.wait(self._follower_wait)
            with self._lock:
                hit = self._names.get(key)
            return hit[1] if hit is not None else load()
        try:
            name = load()
            if name is not None:
                with self._lock:
                    self._names[key] = (self._clock(), name)
                    self._names.move_to_end(key)
                    while len(self._names) > self._size:
                        self._names.popitem(last=False)
            return name
        finally:
            with self._lock:
                self._loading.pop(key, None)
            loading.set()

    def forget(self, team_id: str, user_id: str) -> None:
        """After this user's default may have changed (use, make default, disconnect, consent)."""
        with self._lock:
            self._names.pop((team_id, user_id), None)
