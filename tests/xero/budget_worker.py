"""A process that spends from the shared Xero budget, for the cross-process tests.

``python -m tests.xero.budget_worker URL TENANT THREADS SECONDS WINDOW`` runs THREADS threads
that each take a slot, "call Xero" for a few milliseconds and release it, for SECONDS seconds,
then prints one JSON line per call: when it started and ended (after acquire, before release).
``python -m tests.xero.budget_worker URL TENANT hold N LEASE`` takes N slots, says ``held`` and
waits to be killed: a process that dies mid-call.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from cryptography.fernet import Fernet

from bot.xero.errors import RateLimited
from bot.xero.throttle import Throttle
from storage.budget import DatabaseBudget, Limits
from storage.crypto import TokenCipher
from storage.db import Database


def _budget(url: str, **limits) -> DatabaseBudget:
    return DatabaseBudget(Database(url, TokenCipher([Fernet.generate_key().decode()])), Limits(**limits))


def spend(url: str, tenant: str, threads: int, seconds: float, window: float) -> None:
    throttle = Throttle(_budget(url, window=window))
    calls: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker() -> None:
        while time.time() < stop:
            try:
                permit = throttle.acquire(tenant, max_wait=window)
            except RateLimited:
                continue
            start = time.time()
            time.sleep(0.004)
            end = time.time()
            permit.release()
            with lock:
                calls.append((start, end))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    for start, end in calls:
        print(json.dumps([start, end]))


def hold(url: str, tenant: str, n: int, lease: float) -> None:
    throttle = Throttle(_budget(url, lease=lease))
    permits = [throttle.acquire(tenant, max_wait=0) for _ in range(n)]
    print("held", len(permits), flush=True)
    time.sleep(600)


if __name__ == "__main__":
    url, tenant, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "hold":
        hold(url, tenant, int(sys.argv[4]), float(sys.argv[5]))
    else:
        spend(url, tenant, int(mode), float(sys.argv[4]), float(sys.argv[5]))
