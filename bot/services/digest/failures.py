"""Why a digest did not go out, in words an owner can act on — pure functions.

The ledger keeps each run's ``detail``: for a Xero failure the cause itself (a sentence with no
internal prefix and no "try again in 37 s", which would be stale by the time anyone reads it),
for a Slack refusal Slack's error code. :func:`run_problem` turns a run into a
:class:`RunProblem` computed *now*: the cause, whether Recon is still trying (and when next),
and the next step. The owner's DM and ``/recon digest status`` both say exactly that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from bot.xero.errors import (
    OAuthError,
    RateLimited,
    XeroError,
    XeroUnauthorized,
    XeroUnavailable,
    XeroValidationError,
)
from storage import digests as ledger
from storage.digests import Run

# Slack's refusals that mean "the bot can't post in that channel".
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})

_LEGACY_PREFIX = re.compile(r"^(xero|slack): ")
_STALE_ADVICE = re.compile(r"\s*[—-]\s*(please )?try again in [^.]*\.?$", re.IGNORECASE)

_SLACK_CAUSES = {
    "not_in_channel": "Recon isn't a member of the channel",
    "channel_not_found": "Recon can't see the channel (it's private, or it was deleted)",
    "is_archived": "the channel is archived",
    "restricted_action": "the channel doesn't allow apps to post",
    "ratelimited": "Slack was limiting how fast Recon could post",
    "service_unavailable": "Slack wasn't available",
    "request_timeout": "Slack didn't answer in time",
    "slack_unreachable": "Recon couldn't reach Slack",
}


def xero_cause(exc: XeroError) -> str:
    """The cause of a Xero failure as the ledger keeps it (no retry advice: it goes stale)."""
    if isinstance(exc, RateLimited):
        if exc.problem.startswith("day"):
            return "Xero's daily request limit for this organisation was used up"
        if exc.problem.startswith("concurrent"):
            return "Xero had too many requests to this organisation in progress at once"
        if exc.problem.startswith("app"):
            return "Xero was limiting requests from Recon"
        return "Xero asked Recon to slow down (too many requests to this organisation in a minute)"
    if isinstance(exc, XeroUnavailable):
        return "Xero wasn't responding"
    if isinstance(exc, XeroUnauthorized):
        return "Xero didn't accept the owner's sign-in for this organisation"
    if isinstance(exc, OAuthError):
        return "Xero's sign-in service refused to refresh the owner's connection"
    if isinstance(exc, XeroValidationError):
        return "Xero refused Recon's request for the unreconciled transactions"
    return "Xero couldn't send the unreconciled transactions"


def slack_detail(code: str) -> str:
    """What the ledger keeps for a Slack refusal: the code, so a repeat can be recognised."""
    return code


def cause_of(detail: str | None) -> str:
    """The stored ``detail`` as a cause sentence (also reading details written by older versions)."""
    if not detail:
        return "Recon hit an unexpected problem while preparing it"
    text = _STALE_ADVICE.sub("", _LEGACY_PREFIX.sub("", detail.strip()))
    if text in _SLACK_CAUSES:
        return _SLACK_CAUSES[text]
    if re.fullmatch(r"[a-z_]+", text):
        return f"Slack refused the post ({text})"
    if text.startswith("attempt ") and " posting at " in text:
        return "Recon stopped while posting it"
    if text == "gave up":
        return "it kept failing"
    return text.rstrip(".")


@dataclass(frozen=True)
class RunProblem:
    """A run that went wrong, as of now.

    ``retrying_at`` is when the next attempt is due (None: Recon has stopped trying for that
    day); ``code`` is Slack's error code when Slack refused the post.
    """

    local_date: date
    cause: str
    retrying_at: datetime | None
    attempt: int
    unknown_outcome: bool = False
    code: str | None = None

    @property
    def cannot_post(self) -> bool:
        return self.code in CANNOT_POST


def run_problem(run: Run | None, now: datetime) -> RunProblem | None:
    """None for a run that went fine (or is in progress); else what went wrong and what's next."""
    if run is None:
        return None
    detail = run.detail
    code = _LEGACY_PREFIX.sub("", detail or "").strip()
    code = code if re.fullmatch(r"[a-z_]+", code or "") else None
    if run.status == ledger.STATUS_UNKNOWN:
        return RunProblem(run.local_date, "Slack didn't confirm the post", None, 0, unknown_outcome=True)
    if run.status == ledger.STATUS_FAILED:
        return RunProblem(run.local_date, cause_of(detail), None, ledger.MAX_ATTEMPTS, code=code)
    if run.status.startswith("retry "):
        due = (run.finished_at or run.claimed_at) + ledger.RETRY_BACKOFF
        return RunProblem(run.local_date, cause_of(detail), max(due, now), run.attempt, code=code)
    return None
