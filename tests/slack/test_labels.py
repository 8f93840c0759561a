"""The remembered organisation names behind "Searching <org>…"."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from bot.slack.labels import OrgLabels


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_name_is_loaded_once_then_remembered_until_it_expires():
    clock, loads = Clock(), []
    labels = OrgLabels(ttl=60, clock=clock)

    def load():
        loads.append(1)
        return "Harbour"

    assert labels.get("T", "U", load) == "Harbour"
    clock.now = 59
    assert labels.get("T", "U", load) == "Harbour" and len(loads) == 1
    clock.now = 61
    labels.get("T", "U", load)
    assert len(loads) == 2


def test_no_organisation_is_never_remembered():
    labels, loads = OrgLabels(), []
    for _ in range(3):
        assert labels.get("T", "U", lambda: loads.append(1)) is None
    assert len(loads) == 3


def test_forget_after_a_change_of_default():
    labels = OrgLabels()
    labels.get("T", "U", lambda: "Old")
    labels.forget("T", "U")
    assert labels.get("T", "U", lambda: "New") == "New"


def test_a_burst_of_acks_for_one_user_reads_the_database_once():
    labels, loads = OrgLabels(), []
    started, everyone_in = [], threading.Event()

    def slow_load():
        loads.append(1)
        everyone_in.wait(2)  # still loading while the other 19 ask for the same name
        return "Harbour"

    def ask():
        started.append(1)
        if len(started) == 20:
            everyone_in.set()
        return labels.get("T", "U", slow_load)

    with ThreadPoolExecutor(20) as pool:
        names = list(pool.map(lambda _: ask(), range(20)))
    assert names == ["Harbour"] * 20 and len(loads) == 1


def test_the_memory_is_bounded():
    labels = OrgLabels(size=2)
    for user in ("A", "B", "C"):
        labels.get("T", user, lambda u=user: u)
    loads = []
    labels.get("T", "A", lambda: loads.append(1) or "A")
    assert loads == [1]  # the oldest was dropped
