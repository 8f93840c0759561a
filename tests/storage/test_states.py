from datetime import UTC, datetime, timedelta

import pytest

from storage.states import StateProblem, StateRejected, consume_state, create_state, purge_expired_states


def test_state_round_trip_binds_the_slack_user(db):
    state = create_state(db, "T1", "U1")
    owner = consume_state(db, state)
    assert (owner.slack_team_id, owner.slack_user_id) == ("T1", "U1")


def test_state_is_stored_only_as_a_hash(db):
    state = create_state(db, "T1", "U1")
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT state_hash FROM oauth_states").all()
    assert rows and all(state not in row[0] for row in rows)


def test_state_works_once(db):
    state = create_state(db, "T1", "U1")
    consume_state(db, state)
    with pytest.raises(StateRejected) as err:
        consume_state(db, state)
    assert err.value.problem is StateProblem.USED


def test_expired_state_is_rejected(db):
    state = create_state(db, "T1", "U1")
    later = lambda: datetime.now(UTC) + timedelta(minutes=10, seconds=1)  # noqa: E731
    with pytest.raises(StateRejected) as err:
        consume_state(db, state, now=later)
    assert err.value.problem is StateProblem.EXPIRED


@pytest.mark.parametrize("bad", [None, "", "short", "x" * 43 + "!", "<script>", "a" * 44])
def test_malformed_state_is_rejected_as_tampered(db, bad):
    with pytest.raises(StateRejected) as err:
        consume_state(db, bad)
    assert err.value.problem is StateProblem.MALFORMED


def test_unknown_and_altered_states_are_rejected(db):
    state = create_state(db, "T1", "U1")
    altered = ("B" if state[0] != "B" else "C") + state[1:]
    with pytest.raises(StateRejected) as err:
        consume_state(db, altered)
    assert err.value.problem is StateProblem.UNKNOWN
    assert consume_state(db, state).slack_user_id == "U1"  # the real one still works


def test_purge_removes_only_long_expired_states(db):
    create_state(db, "T1", "U1")
    assert purge_expired_states(db) == 0
    assert purge_expired_states(db, now=lambda: datetime.now(UTC) + timedelta(days=2)) == 1
