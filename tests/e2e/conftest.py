"""One stack (Xero sandbox + Slack stand-in + the bot's real WSGI app on real sockets) per module.

Each test gets fresh Slack users, so tests don't see each other's messages; after each test the
stand-in must have accepted every Block Kit payload the bot sent.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.demo.stack import Stack

_ids = itertools.count(1)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(xero_options={"transactions": 300, "organisations": 2}) as running:
        yield running


@pytest.fixture
def person(stack: Stack) -> Callable[[str], Any]:
    def make(name: str) -> Any:
        n = next(_ids)
        return stack.slack.add_user(f"U{n:03d}{name.upper()[:6]}", f"{name}{n}")

    return make


@pytest.fixture(autouse=True)
def slack_accepted_everything(request: pytest.FixtureRequest) -> Iterator[None]:
    if "stack" not in request.fixturenames:
        yield
        return
    running: Stack = request.getfixturevalue("stack")
    before, warned = len(running.slack.invalid_payloads), len(running.slack.warnings)
    yield
    rejected = running.slack.invalid_payloads[before:]
    assert rejected == [], rejected
    assert running.slack.warnings[warned:] == []
