"""``recon-bot demo --script``: the whole bot, offline, driven the way a newcomer would drive it.

The journey runs as a real subprocess (``python -m bot demo``) against the real pieces: the Xero
sandbox, the Slack stand-in, the bot's web app and its clock, over 127.0.0.1. The script's own
``expect`` lines check each outcome, so a zero exit status means every one of them was seen. The
same run, with time pinned, must be what docs/demo.md shows (see :mod:`bot.demo.walkthrough`).
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from bot.demo import main, walkthrough

ROOT = Path(__file__).resolve().parents[2]
JOURNEY = ROOT / walkthrough.JOURNEY
PAGE = ROOT / walkthrough.PAGE


def run(script: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    path = tmp_path / "script.txt"
    path.write_text(script, encoding="utf-8")
    out = io.StringIO()
    status = main(["--script", str(path), "--transactions", "120", *extra], out=out)
    return status, out.getvalue()


@pytest.fixture(scope="module")
def journey() -> subprocess.CompletedProcess[str]:
    """One run of the journey as a real process, with the options docs/demo.md is made with."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--script", str(JOURNEY), *walkthrough.DEMO_OPTIONS],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=ROOT,
    )


def test_the_whole_journey_through_the_real_processes(journey) -> None:
    out = journey.stdout
    assert journey.returncode == 0, out[-3000:] + journey.stderr[-2000:]
    assert "✓ script finished" in out
    # The Connect button went through Sign in with Slack before Xero, and the page named Alice.
    assert "Signed in to Slack as @alice → Xero consent → back to Recon" in out
    assert "Connected for Alice Ng in Recon Demo." in out
    # What the script checked, seen from outside: the edit reached the sandbox and the audit log…
    assert "Reference:     INV-DEMO-1" in out
    assert '→ "INV-DEMO-1" · success' in out
    # …the colleague's change won, and Recon recorded the refused write.
    assert "This transaction changed in Xero after you opened it, so nothing was changed." in out
    assert '→ "MINE" · conflict' in out
    assert "\x1b[" not in out  # not a terminal: no colour codes
    # Time is pinned: Xero's history and Recon's audit log agree with the demo's clock.
    assert "2026-11-28 18:45:40 UTC · API · Reference changed from 'INV-4248' to 'INV-DEMO-1'" in out
    assert '2026-11-28 18:45:40 · @alice · Harbour Coffee Roasters · b899b7fd… · reference: "INV-4248"' in out


def test_docs_demo_page_shows_what_the_journey_prints(journey) -> None:
    assert journey.returncode == 0, "the journey failed; see the test above"
    committed = PAGE.read_text(encoding="utf-8")
    regenerated = walkthrough.render(committed, journey.stdout)
    assert regenerated == committed, (
        f"docs/demo.md is out of date with tests/demo/journey.txt; regenerate it with: "
        f"{walkthrough.REGENERATE}\n\n{walkthrough.diff(committed, regenerated)[:6000]}"
    )


def test_the_page_quotes_steps_by_what_was_typed() -> None:
    transcript = (
        "banner\n@alice in #books> /recon help\nhelp text\n· ✓ expect: help\n# a comment\n"
        "@alice in #books> press 1\none\ntwo\nthree\nfour\n✓ script finished: 2 step(s)\n"
    )
    page = (
        "<!-- journey: press 1 | first 1, last 1 -->\nold\n<!-- /journey -->\n"
        "<!-- journey: transcript -->\n<!-- /journey -->"
    )
    assert walkthrough.render(page, transcript) == (
        "<!-- journey: press 1 | first 1, last 1 -->\n```\n@alice in #books> press 1\none\n…\nfour\n```\n"
        "<!-- /journey -->\n<!-- journey: transcript -->\n```\nbanner\n@alice in #books> /recon help\n"
        "help text\n# a comment\n@alice in #books> press 1\none\ntwo\nthree\nfour\n"
        "✓ script finished: 2 step(s)\n```\n<!-- /journey -->"
    )
    # Excerpts follow the script's order: a step quoted twice must appear twice.
    with pytest.raises(walkthrough.WalkthroughError, match="does not have after the previous quote"):
        walkthrough.render(page.replace("transcript", "press 1"), transcript)


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


def test_a_digest_that_cannot_be_posted_fails_the_step(tmp_path: Path) -> None:
    # Only the owner's DM and `/recon digest status` would show it otherwise; a script that
    # moves time on must stop there, as the journey's `time +70d` would have.
    from bot.demo.session import Session
    from bot.demo.transcript import Transcript
    from bot.demo.view import Style
    from bot.demo.world import DemoOptions, DemoWorld

    out = io.StringIO()
    options = DemoOptions(transactions=50, start_at=datetime.fromisoformat(walkthrough.START_AT))
    with DemoWorld(options) as world:
        session = Session(world, Transcript(out, Style(), 100))
        for line in ("/recon connect", "press 1", "/recon use harbour", "/recon digest on"):
            assert session.run_line(line).ok, line
        assert session.run_line("time +25h").ok  # a day's digest, posted
        world.xero.faults.fail_next(200, status=503)  # Xero is down for the next day's
        result = session.run_line("time +1d")
    assert not result.ok
    assert any("was not posted" in e for e in result.errors), result.errors


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
