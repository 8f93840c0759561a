"""A clock in its own process (``multiprocessing`` spawn), driven tick by tick from the test.

Lives outside the test module so the spawned interpreter imports only this and the bot.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Any


def run_clock_process(env: dict[str, str], ticks: list[str], barrier: Any, results: Any, name: str) -> None:
    """Build the real services from ``env`` and run :meth:`Clock.tick` at each instant, in step
    with the other clock (``barrier``); put ``(name, sent, claimed, error)`` on ``results``."""
    sent = claimed = 0
    error = None
    try:
        from bot.config import Settings
        from bot.jobs import Clock, slack_client
        from bot.services.container import build_services

        settings = Settings.from_env(env, dotenv_path=None)
        current = {"now": datetime.fromisoformat(ticks[0])}
        services = build_services(settings, now=lambda: current["now"], xero_timeout=(2.0, 10.0))
        clock = Clock(services, slack_client(settings))
        for tick in ticks:
            current["now"] = datetime.fromisoformat(tick)
            barrier.wait(timeout=60)
            report = clock.tick(current["now"])
            sent += report.sent
            claimed += report.claimed
        services.close()
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test with it
        error = traceback.format_exc()
        barrier.abort()
    results.put((name, sent, claimed, error))
