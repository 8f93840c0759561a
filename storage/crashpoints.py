"""Named points where the chaos bench may SIGKILL a refreshing process; inert unless asked.

``RECON_CHAOS_CRASH_AT=<point>`` in a process's environment makes that process kill itself with
SIGKILL the first time it reaches ``<point>`` — exactly what ``kill -9`` at that instant would do,
so the bench (``bench/chaos.py``) can prove a refresh survives dying at its worst moments. Never
set it in production; unset (the default), :func:`crash_point` only reads one variable.

Points (all in :func:`storage.grants.valid_access_token`):

* ``before_xero`` — the lease is taken and the attempt recorded; Xero has not been called;
* ``after_xero`` — Xero answered with a rotated pair; nothing of it is stored yet;
* ``before_commit`` — the rotated pair is written but its transaction is not committed.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "RECON_CHAOS_CRASH_AT"
POINTS = ("before_xero", "after_xero", "before_commit")


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
