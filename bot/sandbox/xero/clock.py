"""The sandbox's notion of "now".

Xero's behaviour hangs on time: 30-minute access tokens, a 30-minute refresh grace period,
60-day idle refresh tokens, 5-minute auth codes, rate-limit windows. Tests must cross those
lines without waiting, so every time-dependent rule in the sandbox reads this clock and tests
move it forward with :meth:`SandboxClock.advance`.

By default the clock also ticks with real time (a demo left running for half an hour sees its
token expire like it would at Xero). ``ticking=False`` freezes it for fully deterministic tests.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """A thread-safe clock that starts at ``start`` and can be moved forward at will."""

    def __init__(self, start: datetime | None = None, *, ticking: bool = True) -> None:
        if start is None:
            start = datetime.now(UTC).replace(microsecond=0)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._start = start.astimezone(UTC)
        self._ticking = ticking
        self._origin = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def start(self) -> datetime:
        """The instant the clock was created at; the generated data ends just before it."""
        return self._start

    def now(self) -> datetime:
        """The current sandbox time, timezone-aware UTC."""
        with self._lock:
            elapsed = self._offset + (time.monotonic() - self._origin if self._ticking else 0.0)
        return self._start + timedelta(seconds=elapsed)

    def timestamp(self) -> float:
        """The current sandbox time as POSIX seconds."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Jump forward by ``seconds`` (never backwards: time in Xero does not run back)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
