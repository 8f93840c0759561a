"""HTTP plumbing shared by the accounting client and the OAuth client.

One ``requests.Session`` per process (connection pooling; TLS handshakes to Xero are the slow
part), a User-Agent naming Recon, exact JSON for ``Decimal`` money, and the retry back-off.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from decimal import Decimal
from importlib import metadata
from typing import Any

import requests
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 15.0)
MAX_BACKOFF = 8.0


def _version() -> str:
    try:
        return metadata.version("recon-bot")
    except metadata.PackageNotFoundError:
        return "0"


USER_AGENT = f"Recon/{_version()} (Slack bot for Xero bank reconciliation) requests/{requests.__version__}"

_session: requests.Session | None = None
_session_lock = threading.Lock()


def default_session() -> requests.Session:
    """The process-wide session, created on first use (after a fork it is simply re-created)."""
    global _session
    with _session_lock:
        if _session is None:
            session = requests.Session()
            # Retries are ours (they know which calls are safe to repeat), so urllib3's are off.
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            _session = session
        return _session


def backoff_delay(attempt: int, base: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential back-off with jitter (half fixed, half random) so retries from many workers spread."""
    ceiling = min(MAX_BACKOFF, base * (2**attempt))
    return ceiling / 2 + rand() * ceiling / 2


def dumps_json(obj: Any) -> str:
    """JSON with ``Decimal`` written as an exact number (``json.dumps`` refuses Decimals, and
    going through ``float`` could turn 0.1 into 0.1000000000000000055)."""
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError("cannot send a non-finite amount")
        return format(obj, "f")
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps_json(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps_json(v) for v in obj) + "]"
    return json.dumps(obj)


def loads_json(text: str) -> Any:
    """Parse Xero's JSON with non-integer numbers as ``Decimal`` — money never touches float."""
    return json.loads(text, parse_float=Decimal)
