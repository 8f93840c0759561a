"""A sync in a process of its own (``multiprocessing`` spawn), for the cross-process tests.

Lives outside the test module so the spawned interpreter imports only this and the bot.
"""

from __future__ import annotations

import traceback
from typing import Any


def sync_in_process(env: dict[str, str], tenant_id: str, barrier: Any, results: Any) -> None:
    """Build the real services from ``env``, wait for the others, sync ``tenant_id`` once and
    put ``(calls, busy, complete, error)`` on ``results``."""
    try:
        from bot.config import Settings
        from bot.services.container import build_services

        services = build_services(Settings.from_env(env, dotenv_path=None), migrate_schema=False)
        barrier.wait(timeout=60)
        outcome = services.sync.sync(tenant_id)
        services.close()
        results.put((outcome.calls, outcome.busy, outcome.complete, outcome.error))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test with it
        barrier.abort()
        results.put((0, False, False, traceback.format_exc()))
