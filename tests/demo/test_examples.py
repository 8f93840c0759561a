"""Every search example Recon shows (help, syntax, Home, the consent DM) finds something in the
demo's own data — a newcomer who copies one sees results, not "No transactions match"."""

from __future__ import annotations

import re

import pytest

from bot.demo.world import DemoOptions
from bot.demo.xero_world import TEAM, make_world
from bot.services.query import SYNTAX_HELP
from bot.slack import blocks

USER = "U0ALICE"
_SEARCH = re.compile(r"`/recon search ([^`]+)`")
_TOKEN = re.compile(r"`((?:[a-z]+:(?:\"[^\"`]*\"|[^\s`]+)|\"[^`]+\"|[a-z][a-z ]+))`")
_ABSOLUTE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def examples() -> list[str]:
    texts = [SYNTAX_HELP, blocks.HELP_COMMANDS, blocks.HOME_HOWTO, str(blocks.consent_success_dm([]))]
    found = [q for text in texts for q in _SEARCH.findall(text)]
    # The syntax lines' own examples (`anchor milk`, `contact:"Zephyr Plumbing"`, …), one by one.
    # Absolute dates only show the format (the demo's data is dated relative to today).
    for line in SYNTAX_HELP.splitlines():
        if line.startswith("• "):
            found += [t for t in _TOKEN.findall(line.split(" — ", 1)[0]) if not _ABSOLUTE_DATE.search(t)]
    return sorted({q for q in found if "&lt;" not in q})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from cryptography.fernet import Fernet

    from storage import migrate
    from storage.crypto import TokenCipher
    from storage.db import Database

    url = f"sqlite:///{tmp_path_factory.mktemp('examples') / 'recon.db'}"
    db = Database(url, TokenCipher([Fernet.generate_key().decode()]))
    migrate.upgrade(db.engine)
    options = DemoOptions()
    w = make_world(db, url, transactions=options.transactions, seed=options.seed)
    w.consent(USER)
    yield w
    w.services.close()
    w.sb.stop()
    db.dispose()


def test_the_examples_are_the_ones_people_see():
    found = examples()
    assert "from:30d status:unreconciled" in found and "zephyr from:180d" in found
    assert 'contact:"Zephyr Plumbing"' in found and 'org:"Kestrel Design"' in found


@pytest.mark.parametrize("query", examples())
def test_each_example_finds_something_in_the_demos_data(world, query):
    result = world.services.search.search(TEAM, USER, query)
    assert result.rows, f"/recon search {query} finds nothing in the demo"
