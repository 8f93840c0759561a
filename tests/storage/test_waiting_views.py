"""Modals waiting for their user to connect, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from storage.waiting_views import KEEP_FOR, forget_waiting, remember_waiting, take_waiting

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_a_waiting_view_is_taken_once_and_only_by_its_user(db):
    remember_waiting(db, "T1", "U1", "V1", "meta-1", now=lambda: T0)
    remember_waiting(db, "T1", "U1", "V1", "meta-1b", now=lambda: T0)  # the same modal again: kept once
    remember_waiting(db, "T1", "U2", "V2", "meta-2", now=lambda: T0)
    assert take_waiting(db, "T1", "U3", now=lambda: T0) == []
    [view] = take_waiting(db, "T1", "U1", now=lambda: T0)
    assert (view.view_id, view.payload) == ("V1", "meta-1b")
    assert take_waiting(db, "T1", "U1", now=lambda: T0) == []


def test_old_waiting_views_are_dropped_and_a_forgotten_one_is_not_taken(db):
    remember_waiting(db, "T1", "U1", "V1", "m", now=lambda: T0)
    assert take_waiting(db, "T1", "U1", now=lambda: T0 + KEEP_FOR + timedelta(seconds=1)) == []
    remember_waiting(db, "T1", "U1", "V2", "m", now=lambda: T0)
    forget_waiting(db, "T1", "U1", "V2")
    assert take_waiting(db, "T1", "U1", now=lambda: T0) == []


def test_two_processes_completing_the_consent_at_once_fill_each_view_once(db):
    for n in range(5):
        remember_waiting(db, "T1", "U1", f"V{n}", "m", now=lambda: T0)
    taken: list[str] = []
    barrier = threading.Barrier(3)

    def take():
        barrier.wait()
        taken.extend(v.view_id for v in take_waiting(db, "T1", "U1", now=lambda: T0))

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == [f"V{n}" for n in range(5)]
