"""The organisation's facts a message needs — its ShortCode for "Open in Xero" and its time zone —
read once per message (never per row) through ``ConnectService.organisation``, which keeps them
after the first ``GET /Organisation``.

If Xero can't be asked the first time, the message is still worth showing: links then open
Xero without choosing the organisation and times say UTC, which is what :data:`NO_FACTS` means.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.services.errors import ServiceError, XeroError
from bot.slack.blocks import NO_FACTS, OrgFacts

log = logging.getLogger(__name__)


def org_facts(services: Any, team_id: str, user_id: str, tenant_id: str) -> OrgFacts:
    try:
        details = services.connect.organisation(team_id, user_id, tenant_id)
    except (ServiceError, XeroError) as exc:
        log.info("organisation details of %s unavailable (%s); links and times without them", tenant_id, exc)
        return NO_FACTS
    return OrgFacts(short_code=details.short_code, zone=details.timezone)
