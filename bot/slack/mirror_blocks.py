"""What Slack shows of the mirror: the connect DM's reading progress and the Home's "last synced".

Pure functions of what the sync service reports (attributes only: ``rows_read``,
``rows_expected``, ``complete``, ``error``, ``as_of``), so they are tested without Slack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.slack import kit
from bot.slack import text as tx
from bot.slack.refs import BLOCK_MIRROR_PROGRESS


def _count(read: int, expected: int | None) -> str:
    if expected:
        return f"{read:,} of about {max(expected, read):,}"
    return f"{read:,} so far"


def reading_message(org_name: str, progress: Any) -> kit.Message:
    """While the first sync runs: "Reading Harbour Coffee Roasters from Xero… 12,000 of about 50,000"."""
    name = tx.plain(org_name, 100)
    line = f"Reading {name} from Xero… {_count(progress.rows_read, progress.rows_expected)}"
    return kit.message(
        line,
        [
            kit.section(kit.plain(line)),
            kit.context("Until it's done, searches ask Xero directly (a little slower)."),
        ],
    )


def waiting_message(org_name: str) -> kit.Message:
    """An organisation queued behind another's first read (they are read one after another)."""
    line = f"{tx.plain(org_name, 100)}: next, once the one above is read."
    return kit.message(line, [kit.section(kit.plain(line))])


def read_message(org_name: str, outcome: Any, progress: Any) -> kit.Message:
    """After the first sync stopped: done (with the count), paused for the day, or failing."""
    name = tx.plain(org_name, 100)
    if outcome.complete:
        line = f"✅ Read {progress.rows_read:,} transactions from {name}."
        notes = ["Searches now answer from Recon's copy, kept in step with Xero every few minutes."]
    elif outcome.paused:
        line = f"⏸ Read {_count(progress.rows_read, progress.rows_expected)} transactions from {name} so far."
        notes = [
            "That used Recon's share of today's Xero calls for this organisation; it carries on "
            "tomorrow by itself. Searches ask Xero directly until then."
        ]
    elif outcome.busy:
        line = f"Reading {name} from Xero… {_count(progress.rows_read, progress.rows_expected)}"
        notes = ["It is being read in the background; searches ask Xero directly until it's done."]
    else:
        line = f"⚠ Reading {name} from Xero stopped at {_count(progress.rows_read, progress.rows_expected)}."
        notes = [
            f"Xero said: {tx.plain(outcome.error or 'no answer', 200)}. Recon tries again within a "
            "few minutes; searches ask Xero directly until then."
        ]
    return kit.message(line, [kit.section(kit.plain(line)), kit.context(*notes)])


def with_progress(base: kit.Message, progress: list[kit.Block]) -> kit.Message:
    """The connect DM: its own content, then the reading lines, each marked with a block id so
    whatever redraws the DM (a "Make default" press) can keep them — :func:`progress_blocks`."""
    marked = [{**block, "block_id": f"{BLOCK_MIRROR_PROGRESS}{n}"} for n, block in enumerate(progress)]
    return kit.message(base["text"], list(base["blocks"]) + marked)


def progress_blocks(blocks: list[dict[str, Any]]) -> list[kit.Block]:
    """The reading lines of a connect DM as Slack holds it (a block action's ``message``)."""
    return [
        {k: v for k, v in b.items() if k != "block_id"}
        for b in blocks
        if str(b.get("block_id", "")).startswith(BLOCK_MIRROR_PROGRESS)
    ]


def synced_ago(as_of: datetime | None, now: datetime) -> str:
    """ "last synced 2 min ago" — the Home's line for one organisation."""
    if as_of is None:
        return "not synced yet"
    seconds = max(0, int((now - as_of).total_seconds()))
    if seconds < 60:
        return "last synced just now"
    if seconds < 90 * 60:
        return f"last synced {seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"last synced {seconds // 3600} h ago"
    return f"last synced {seconds // 86400} days ago"


def home_sync_line(progress: Any, now: datetime) -> str:
    """One organisation's mirror on the Home tab (plain words, no Xero text)."""
    if progress.complete:
        return synced_ago(progress.as_of, now)
    if progress.rows_read or progress.rows_expected:
        return f"reading from Xero: {_count(progress.rows_read, progress.rows_expected)}"
    return "not read from Xero yet"
