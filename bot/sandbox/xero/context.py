"""Everything a request handler may need, in one place, plus the request recorder."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .clock import SandboxClock
from .faults import Faults
from .identity import Identity
from .ledger import Ledger
from .limits import RateLimiter
from .model import User

MAX_RECORDED = 10_000


class Recorder:
    """Keeps the most recent requests (bounded, so long benchmarks do not grow memory)."""

    def __init__(self, limit: int = MAX_RECORDED) -> None:
        self._items: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(entry)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class Context:
    clock: SandboxClock
    identity: Identity
    ledger: Ledger
    limiter: RateLimiter
    faults: Faults
    recorder: Recorder
    consent: str  # "auto" | "prompt"
    login_user_id: str  # who "is logged in" at the consent page
    settings: dict[str, Any] = field(default_factory=dict)

    def login_user(self) -> User:
        return self.identity.users[self.login_user_id]
