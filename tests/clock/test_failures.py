"""Why a digest did not go out, in words its owner can act on (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.sandbox.slack.validate import problems
from bot.services.digest import SubscriptionStatus, cause_of, run_problem, xero_cause
from bot.slack.digest_blocks import failed_dm, problem_words, status_message
from bot.xero.errors import RateLimited, XeroUnavailable, XeroValidationError
from storage import digests as ledger
from storage.digests import Run, Subscription

NOW = datetime(2026, 12, 2, 20, 30, tzinfo=UTC)  # 09:30 in Auckland
DAY = date(2026, 12, 3)
SUB = Subscription(
    7,
    "T",
    "C0BOOKS",
    "U0ALICE",
    "ten",
    "*Star* Roasters",
    "09:00",
    "Pacific/Auckland",
    True,
    False,
    None,
    NOW,
)


def run(status: str, detail: str | None, finished: datetime | None = NOW) -> Run:
    return Run(1, SUB.id, DAY, status, NOW - timedelta(minutes=1), finished, detail)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (RateLimited(37), "Xero asked Recon to slow down"),
        (RateLimited(3600, "day"), "daily request limit"),
        (XeroUnavailable(), "Xero wasn't responding"),
        (XeroValidationError(["bad"]), "refused Recon's request"),
    ],
)
def test_xero_causes_name_the_problem_without_stale_retry_advice(exc, words):
    cause = xero_cause(exc)
    assert words in cause
    assert "try again in" not in cause and not cause.startswith("xero:")


def test_details_written_by_older_versions_read_the_same_way():
    legacy = "xero: Xero asked us to slow down — try again in 37 s."
    assert cause_of(legacy) == "Xero asked us to slow down"
    assert cause_of("slack: ratelimited") == "Slack was limiting how fast Recon could post"
    assert cause_of(None).startswith("Recon hit an unexpected problem")


def test_a_run_still_being_retried_says_when_next():
    problem = run_problem(run(ledger.retry_status(1), "Xero wasn't responding"), NOW)
    assert problem.retrying_at == NOW + ledger.RETRY_BACKOFF and problem.attempt == 1
    words = problem_words(problem, SUB)
    assert words == "Xero wasn't responding. Recon tries again at 09:40 NZDT (attempt 2 of 3)."


def test_a_run_that_gave_up_says_what_happens_next():
    problem = run_problem(run(ledger.STATUS_FAILED, "Xero wasn't responding"), NOW)
    words = problem_words(problem, SUB, NOW + timedelta(hours=23))
    assert "Xero wasn't responding, and Recon has stopped trying for that day." in words
    assert (
        "The next digest goes out Fri 4 Dec 2026 08:30" in words
        and "`/recon digest now` in <#C0BOOKS>" in words
    )


def test_not_in_channel_says_how_to_invite_and_unknown_says_to_look():
    not_in = run_problem(run(ledger.STATUS_FAILED, "not_in_channel"), NOW)
    assert not_in.cannot_post and "/invite @Recon" in problem_words(not_in, SUB)
    unknown = run_problem(run(ledger.STATUS_UNKNOWN, "ReadTimeout"), NOW)
    assert unknown.unknown_outcome and "look in <#C0BOOKS>" in problem_words(unknown, SUB)
    assert run_problem(run(ledger.STATUS_SENT, "12 items"), NOW) is None


def test_the_owners_dm_and_status_say_the_same_words():
    problem = run_problem(run(ledger.STATUS_FAILED, "Xero wasn't responding"), NOW)
    next_run = NOW + timedelta(hours=23)
    dm = failed_dm(SUB, problem, next_run)
    status = status_message([SubscriptionStatus(SUB, next_run, run(ledger.STATUS_FAILED, "x"), problem)])
    assert problems(dm) == [] and problems(status) == []
    words = problem_words(problem, SUB, next_run)
    assert words in dm["blocks"][1]["text"]["text"]
    assert words in status["blocks"][1]["fields"][1]["text"]
    assert dm["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "⚠ The digest of *Star* Roasters for Thu 3 Dec 2026 didn't go out.",
        "emoji": False,
    }
