"""After consent: read each new organisation from Xero at once, showing progress in the connect DM.

The DM that names the new organisations gets a line per organisation ("Reading Harbour Coffee
Roasters from Xero… 12,000 of about 50,000"), edited in place with ``chat.update`` as pages
arrive — at most every :data:`UPDATE_EVERY_S` seconds, so a fast read stays well inside
Slack's limits — and a last time with the count, or why it stopped. The reading itself is the
sync service's; this module only tells the user about it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.slack import kit
from bot.slack.mirror_blocks import read_message, reading_message, waiting_message, with_progress

log = logging.getLogger(__name__)

UPDATE_EVERY_S = 3.0


def read_organisations(
    services: Any,
    client: Any,
    dm: Any,
    tenants: Sequence[Any],
    *,
    base: Callable[[], kit.Message],
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Any]:
    """The first sync of each organisation not yet mirrored, one after another; their outcomes.

    ``dm`` is Slack's answer to posting the connect DM (its ``channel`` and ``ts``); ``base``
    builds that DM's own content, kept above the progress lines. It is built anew for each
    update, not once: the user may press "Make default" while the read runs, and an update
    from a copy taken at consent would put the old default back.
    """
    sync = getattr(services, "sync", None)
    if sync is None:
        return []
    todo = [t for t in tenants if not sync.freshness(t.tenant_id).complete]
    if not todo:
        return []
    lines = {t.tenant_id: waiting_message(t.tenant_name) for t in todo}
    lines[todo[0].tenant_id] = reading_message(todo[0].tenant_name, sync.freshness(todo[0].tenant_id))
    channel, ts = dm["channel"], dm["ts"]

    def show() -> None:
        message = with_progress(base(), [b for m in lines.values() for b in m["blocks"]])
        client.chat_update(channel=channel, ts=ts, **message)

    show()
    outcomes = []
    for tenant in todo:
        last = [monotonic()]
        if tenant is not todo[0]:  # its turn now: "next" becomes "Reading…"
            lines[tenant.tenant_id] = reading_message(tenant.tenant_name, sync.freshness(tenant.tenant_id))
            show()

        def progress(freshness: Any, tenant: Any = tenant, last: list[float] = last) -> None:
            if monotonic() - last[0] < UPDATE_EVERY_S:
                return
            last[0] = monotonic()
            lines[tenant.tenant_id] = reading_message(tenant.tenant_name, freshness)
            show()

        outcome = sync.first_sync(tenant.tenant_id, progress=progress)
        lines[tenant.tenant_id] = read_message(tenant.tenant_name, outcome, sync.freshness(tenant.tenant_id))
        show()
        outcomes.append(outcome)
    return outcomes
