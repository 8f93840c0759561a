"""The connect DM's reading lines and the Home's "last synced", from what the sync reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bot.slack.mirror_blocks import home_sync_line, read_message, reading_message, synced_ago

NOW = datetime(2026, 12, 1, 14, 2, tzinfo=UTC)


def progress(read=0, expected=None, complete=False, as_of=None):
    return SimpleNamespace(rows_read=read, rows_expected=expected, complete=complete, as_of=as_of, error=None)


def outcome(**kw):
    return SimpleNamespace(**{"complete": False, "paused": False, "busy": False, "error": None, **kw})


def test_reading_line_counts_against_xeros_item_count():
    msg = reading_message("Harbour Coffee Roasters", progress(12_000, 50_000))
    assert msg["text"] == "Reading Harbour Coffee Roasters from Xero… 12,000 of about 50,000"


def test_the_last_line_says_done_paused_or_why_it_stopped():
    done = read_message("Harbour", outcome(complete=True), progress(49_210, 50_000, True))
    assert done["text"].startswith("✅ Read 49,210 transactions from Harbour")
    paused = read_message("Harbour", outcome(paused=True), progress(25_000, 1_000_000))
    assert "25,000 of about 1,000,000" in paused["text"] and "tomorrow" in str(paused["blocks"])
    failed = read_message("Harbour", outcome(error="XeroUnavailable: down"), progress(3_000, 50_000))
    assert "stopped at 3,000 of about 50,000" in failed["text"] and "XeroUnavailable" in str(failed["blocks"])


def test_home_line_says_how_long_ago():
    assert synced_ago(NOW - timedelta(minutes=2, seconds=10), NOW) == "last synced 2 min ago"
    assert synced_ago(NOW - timedelta(seconds=20), NOW) == "last synced just now"
    assert home_sync_line(progress(10, 50, complete=True, as_of=NOW - timedelta(hours=3)), NOW) == (
        "last synced 3 h ago"
    )
    assert home_sync_line(progress(1_000, 5_000), NOW) == "reading from Xero: 1,000 of about 5,000"
    assert home_sync_line(progress(), NOW) == "not read from Xero yet"


def test_an_organisation_queued_behind_another_says_it_is_next_not_zero_read():
    from bot.slack.mirror_blocks import waiting_message

    text = waiting_message("Kestrel *Design*")["blocks"][0]["text"]
    assert text["type"] == "plain_text"
    assert text["text"] == "Kestrel *Design*: next, once the one above is read."
