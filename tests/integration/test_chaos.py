"""The chaos bench, short: 30 rounds on each database must lose no grant and leak no token.

The full run (1,000 rounds, the tables in the closing note) is ``bench/chaos.py``; this is the
same harness — the bot's real services in 18 processes against the Xero sandbox, SIGKILLs at
each crash point, lost answers, 16 contenders, key rotations, two keep-alives at once — with
fewer rounds, so a regression in any of them fails the suite.
"""

from __future__ import annotations

import pytest

from bot.demo.chaos import SCENARIOS, Chaos, format_report

pytestmark = pytest.mark.slow


def test_thirty_rounds_of_chaos_lose_nothing(db_url, tmp_path):
    chaos = Chaos(db_url, tmp_path / "chaos", grants=6, seed=3)
    try:
        report = chaos.run(30)
    finally:
        chaos.close()
    print(format_report(report))
    assert {r.scenario for r in report.rounds} == set(SCENARIOS)
    assert report.problems == []
    assert report.lost == [] and report.plaintext == []
    assert report.scanned_files > 0
    by_scenario = {s: [r.refresh_calls for r in report.rounds if r.scenario == s] for s in SCENARIOS}
    assert set(by_scenario["contend"]) == {1}  # sixteen processes, one refresh at Xero
    assert set(by_scenario["keepalive"]) == {6}  # two clocks at once, each grant refreshed once
    kills = {r.variant.split(",")[0] for r in report.rounds if r.scenario == "kill"}
    assert kills == {"before_xero", "after_xero", "before_commit", "random"}
