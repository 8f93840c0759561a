"""Fault injection: the failures a Xero client must survive, on demand.

Faults apply to identity and accounting calls (token, revocation, connections, api.xro), never
to the browser consent page or the ``/_sandbox`` control surface. Latency and hangs are real
wall-clock waits because the client's timeouts are wall-clock; they end early when the sandbox
stops so shutdown stays quick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class FailPlan:
    status: int


class Gate:
    """Holds admitted API calls in flight until released (for concurrency tests)."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._lock = threading.Lock()
        self._waiting = 0
        self._arrived = threading.Condition(self._lock)

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until ``count`` calls are held (True) or ``timeout`` passes (False)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._waiting >= count, timeout)

    def hold(self, stop: threading.Event) -> None:
        with self._arrived:
            self._waiting += 1
            self._arrived.notify_all()
        try:
            while not self._open.wait(0.05):
                if stop.is_set():
                    return
        finally:
            with self._lock:
                self._waiting -= 1

    def release(self) -> None:
        self._open.set()


class Faults:
    """The switchboard behind ``sb.faults``; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._latency_ms = 0
        self._fail: list[FailPlan] = []
        self._timeouts: list[float] = []
        self._drop_refresh = 0
        self._gate: Gate | None = None

    # --- configuration (public API) ---------------------------------------------------

    def latency(self, ms: int) -> None:
        """Add ``ms`` milliseconds to every identity/accounting call (0 clears)."""
        with self._lock:
            self._latency_ms = max(0, int(ms))

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` identity/accounting calls answer ``status`` without doing anything."""
        with self._lock:
            self._fail.extend(FailPlan(status) for _ in range(n))

    def timeout_next(self, n: int = 1, seconds: float = 30.0) -> None:
        """The next ``n`` calls are carried out, then hang ``seconds`` before answering.

        The work is done first on purpose: a client that times out cannot know whether its
        write happened, which is what idempotency keys are for.
        """
        with self._lock:
            self._timeouts.extend(float(seconds) for _ in range(n))

    def drop_next_refresh_response(self, n: int = 1) -> None:
        """Apply the next refresh (the old token is now superseded), then drop the connection."""
        with self._lock:
            self._drop_refresh += n

    def hold_calls(self) -> Gate:
        """Admitted accounting calls wait at a gate until ``gate.release()`` (concurrency tests)."""
        with self._lock:
            self._gate = Gate()
            return self._gate

    def clear(self) -> None:
        with self._lock:
            self._latency_ms = 0
            self._fail.clear()
            self._timeouts.clear()
            self._drop_refresh = 0
            if self._gate is not None:
                self._gate.release()
            self._gate = None

    def state(self) -> dict[str, int | float]:
        with self._lock:
            return {
                "latency_ms": self._latency_ms,
                "fail_next": len(self._fail),
                "timeout_next": len(self._timeouts),
                "drop_next_refresh_response": self._drop_refresh,
                "holding": self._gate is not None,
            }

    # --- consumption (the app) ---------------------------------------------------------

    def take_latency(self) -> float:
        with self._lock:
            return self._latency_ms / 1000.0

    def take_failure(self) -> FailPlan | None:
        with self._lock:
            return self._fail.pop(0) if self._fail else None

    def take_timeout(self) -> float | None:
        with self._lock:
            return self._timeouts.pop(0) if self._timeouts else None

    def take_drop_refresh(self) -> bool:
        with self._lock:
            if self._drop_refresh > 0:
                self._drop_refresh -= 1
                return True
            return False

    def gate(self) -> Gate | None:
        with self._lock:
            return self._gate

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of wall-clock time, or less if the sandbox is stopping."""
        if seconds > 0:
            self.stopping.wait(seconds)
