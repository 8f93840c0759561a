"""The App Home tab: built from the database (no Xero call), published with ``views.publish``."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from bot.slack import blocks
from bot.slack.mirror_blocks import home_sync_line

log = logging.getLogger(__name__)

DIGEST_BLOCKS_MODULE = "bot.slack.digest_blocks"


def digest_section(services: Any, team_id: str, user_id: str) -> list[dict[str, Any]]:
    """The digest helper's Home section, when that part of Recon is installed."""
    try:
        module = importlib.import_module(DIGEST_BLOCKS_MODULE)
    except ImportError:
        return []
    digest = getattr(services, "digest", None)
    lister = getattr(digest, "subscriptions", None)
    subscriptions = lister(team_id, user_id) if callable(lister) else []
    return list(module.home_section(subscriptions))


def build_home(services: Any, team_id: str, user_id: str) -> dict[str, Any]:
    connect = services.connect
    orgs = connect.organisations(team_id, user_id)
    needs_reconnect = any(o.grant_status == blocks.GRANT_NEEDS_RECONNECT for o in orgs) or any(
        g.status == blocks.GRANT_NEEDS_RECONNECT for g in connect.grants(team_id, user_id)
    )
    # A fresh link each time the tab opens: links last 10 minutes and work once.
    consent_url = connect.consent_url(team_id, user_id)
    return blocks.home_view(
        orgs,
        consent_url=consent_url,
        needs_reconnect=needs_reconnect,
        digest_blocks=digest_section(services, team_id, user_id),
        sync_lines=sync_lines(services, [o.tenant_id for o in orgs]),
    )


def sync_lines(services: Any, tenant_ids: list[str]) -> dict[str, str]:
    """ "last synced 2 min ago" per organisation, from the mirror's state (no Xero call)."""
    sync = getattr(services, "sync", None)
    if sync is None:
        return {}
    now = services.now()
    return {t: home_sync_line(sync.freshness(t), now) for t in tenant_ids}


def publish_home(services: Any, client: Any, team_id: str, user_id: str) -> None:
    client.views_publish(user_id=user_id, view=build_home(services, team_id, user_id))
