"""``recon-bot demo --script``: the whole bot, offline, driven the way a newcomer would drive it.

The journey runs as a real subprocess (``python -m bot demo``) against the real pieces: the Xero
sandbox, the Slack stand-in, the bot's web app and its clock, over 127.0.0.1. The script's own
``expect`` lines check each outcome, so a zero exit status means every one of them was seen.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bot.demo import main

JOURNEY = Path(__file__).with_name("journey.txt")


def run(script: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    path = tmp_path / "script.txt"
    path.write_text(script, encoding="utf-8")
    out = io.StringIO()
    status = main(["--script", str(path), "--transactions", "120", *extra], out=out)
    return status, out.getvalue()


def test_the_whole_journey_through_the_real_processes() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--script", str(JOURNEY)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = completed.stdout
    assert completed.returncode == 0, out[-3000:] + completed.stderr[-2000:]
    assert "✓ script finished" in out
    # What the script checked, seen from outside: the edit reached the sandbox and the audit log…
    assert "Reference:     INV-DEMO-1" in out
    assert '→ "INV-DEMO-1" · success' in out
    # …the colleague's change won, and Recon recorded the refused write.
    assert "This transaction changed in Xero after you opened it, so nothing was changed." in out
    assert '→ "MINE" · conflict' in out
    assert "\x1b[" not in out  # not a terminal: no colour codes


def test_a_step_where_recon_reports_an_error_stops_the_script_with_a_failure(tmp_path: Path) -> None:
    status, out = run("/recon connect\npress 1\n/recon search from:2025-13-45\n/recon help\n", tmp_path)
    assert status == 1
    assert "✗ line 3 failed: /recon search from:2025-13-45" in out
    assert "from:2025-13-45" in out.split("✗ line 3 failed")[1]  # the reason names the bad token
    assert "@alice in #books> /recon help" not in out  # nothing after the failing step ran


def test_expect_error_accepts_a_deliberate_failure_and_then_carries_on(tmp_path: Path) -> None:
    script = (
        "/recon connect\npress 1\n"
        "/recon search from:2025-13-45\nexpect-error from:2025-13-45\n"
        "/recon use nowhere-ltd\nexpect-error No connected organisation matches\n"
        "/recon use kestrel\nexpect Kestrel Design Studio is now your default\n"
    )
    status, out = run(script, tmp_path)
    assert status == 0, out
    assert "✓ expect-error: from:2025-13-45" in out


def test_an_expect_error_after_a_step_that_worked_fails(tmp_path: Path) -> None:
    status, out = run("/recon help\nexpect-error\n", tmp_path)
    assert status == 1
    assert "expected the last step to fail, but it succeeded" in out


def test_an_expectation_that_never_appears_fails(tmp_path: Path) -> None:
    status, out = run("/recon help\nexpect Olympus Mons Trading\n", tmp_path)
    assert status == 1
    assert "expected to see “Olympus Mons Trading”, but it did not appear" in out


def test_console_mistakes_are_explained_and_fail_a_script(tmp_path: Path) -> None:
    status, out = run("/recon connect\npress 9\n", tmp_path)
    assert status == 1
    assert "There's no 9 — the last thing shown has 1." in out


def test_a_web_api_call_slack_refuses_fails_the_step(tmp_path: Path) -> None:
    # The consent DM is Recon's chat.postMessage; Slack refusing it is a failure even though the
    # browser page itself said "Connected".
    from bot.demo.session import Session
    from bot.demo.transcript import Transcript
    from bot.demo.view import Style
    from bot.demo.world import DemoOptions, DemoWorld

    out = io.StringIO()
    with DemoWorld(DemoOptions(transactions=50)) as world:
        session = Session(world, Transcript(out, Style(), 100))
        assert session.run_line("/recon connect").ok
        world.slack.faults.fail_next("chat.postMessage", "channel_not_found")
        result = session.run_line("press 1")
    assert not result.ok
    assert any("chat.postMessage with error 'channel_not_found'" in e for e in result.errors), result.errors


def test_unreadable_script_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["--script", str(tmp_path / "missing.txt")], out=io.StringIO()) == 2


def test_the_result_views_done_button_can_be_pressed_in_the_console(tmp_path: Path) -> None:
    script = (
        "/recon connect\npress 1\n/recon search from:365d status:unreconciled\npress edit\n"
        "fill reference DONE-1\nsubmit\nexpect Saved in\npress done\nexpect the modal closed\n"
    )
    status, out = run(script, tmp_path)
    assert status == 0, out[-2000:]
    assert "✓ expect: the modal closed" in out
