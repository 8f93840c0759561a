"""The sync's state row: the lease, the day's budget, page writes that move with their checkpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.services.mirror_rows import row_from_transaction
from storage.mirror import count_rows, forget_tenant, get_row, upsert_rows
from storage.mirror_state import (
    LeaseLost,
    apply_page,
    date_chunks,
    get_sync_state,
    release_lease,
    renew_lease,
    reserve_call,
    take_lease,
    write_through,
)
from tests.storage.test_mirror import _txn

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float):
    return lambda: T0 + timedelta(seconds=seconds)


def test_one_lease_holder_at_a_time_and_an_expired_lease_is_free(db):
    assert take_lease(db, "t-1", "a", T0 + timedelta(seconds=120), now=at(0))
    assert not take_lease(db, "t-1", "b", T0 + timedelta(seconds=150), now=at(30))
    assert take_lease(db, "t-2", "b", T0 + timedelta(seconds=150), now=at(30))  # another organisation
    assert take_lease(db, "t-1", "b", T0 + timedelta(seconds=250), now=at(121))  # a's ran out
    with pytest.raises(LeaseLost):
        renew_lease(db, "t-1", "a", T0 + timedelta(seconds=300))
    release_lease(db, "t-1", "a")  # not a's to give back: b keeps it
    assert get_sync_state(db, "t-1").lease_owner == "b"
    release_lease(db, "t-1", "b")
    assert take_lease(db, "t-1", "c", T0 + timedelta(seconds=300), now=at(122))


def test_the_days_share_is_counted_before_each_call_and_starts_again_next_day(db):
    take_lease(db, "t-1", "a", T0 + timedelta(minutes=2), now=at(0))
    day = date(2026, 12, 1)
    assert [reserve_call(db, "t-1", cap=3, day=day) for _ in range(5)] == [True] * 3 + [False] * 2
    state = get_sync_state(db, "t-1")
    assert (state.calls_today, state.calls_day) == (3, day)
    assert reserve_call(db, "t-1", cap=3, day=day + timedelta(days=1))
    assert get_sync_state(db, "t-1").calls_today == 1


def test_a_page_and_its_checkpoint_are_written_only_by_the_lease_holder(db):
    take_lease(db, "t-1", "a", T0 + timedelta(minutes=2), now=at(0))
    rows = [row_from_transaction(_txn(f"b-{n}")) for n in range(3)]
    applied = apply_page(db, "t-1", "a", rows=rows, state={"first_sync_page": 2}, now=at(1))
    assert (applied.inserted, applied.written) == (3, 3)
    again = apply_page(db, "t-1", "a", rows=rows[:1], removed_ids=["b-2", "nope"], now=at(2))
    assert (again.inserted, again.removed) == (0, 1)
    state = get_sync_state(db, "t-1")
    assert state.row_count == count_rows(db, "t-1") == 2 and state.first_sync_page == 2
    with pytest.raises(LeaseLost):
        apply_page(db, "t-1", "b", rows=[row_from_transaction(_txn("b-9"))], state={"first_sync_page": 9})
    assert get_row(db, "t-1", "b-9") is None and get_sync_state(db, "t-1").first_sync_page == 2
    forget_tenant(db, "t-1")
    with pytest.raises(LeaseLost):  # forgotten meanwhile: the page is not written back
        apply_page(db, "t-1", "a", rows=rows, now=at(3))
    assert count_rows(db, "t-1") == 0


def test_an_older_copy_never_replaces_a_newer_row(db):
    take_lease(db, "t-1", "a", T0 + timedelta(minutes=2), now=at(0))
    newer = _txn("b-1", reference="FROM-THE-EDIT", updated_date_utc=T0 + timedelta(seconds=10))
    assert write_through(db, "t-1", row_from_transaction(newer), now=at(1))
    older = _txn("b-1", reference="STALE-DELTA", updated_date_utc=T0)
    apply_page(db, "t-1", "a", rows=[row_from_transaction(older)], now=at(2))
    assert get_row(db, "t-1", "b-1").reference == "FROM-THE-EDIT"
    same_time = _txn(
        "b-1", reference="FROM-THE-EDIT", is_reconciled=True, updated_date_utc=newer.updated_date_utc
    )
    apply_page(db, "t-1", "a", rows=[row_from_transaction(same_time)], now=at(3))
    assert get_row(db, "t-1", "b-1").is_reconciled  # reconciling need not move UpdatedDateUTC
    assert get_sync_state(db, "t-1").row_count == 1
    assert not write_through(db, "t-unmirrored", row_from_transaction(newer))
    assert count_rows(db, "t-unmirrored") == 0


def test_date_chunks_cover_every_date_and_hold_at_most_so_many_rows(db):
    rows = [
        row_from_transaction(_txn(f"b-{n}", date=date(2026, 1, 1) + timedelta(days=n // 10)))
        for n in range(95)
    ]
    upsert_rows(db, "t-1", rows)
    chunks = date_chunks(db, "t-1", 30)
    assert chunks[0][0] is None and chunks[-1][1] is None
    for (_, end), (start, _) in zip(chunks, chunks[1:], strict=False):
        assert start == end + timedelta(days=1)
    for start, end in chunks:
        inside = [r for r in rows if (start is None or r.date >= start) and (end is None or r.date <= end)]
        assert 0 < len(inside) <= 30
    assert date_chunks(db, "t-empty", 30) == [(None, None)]
