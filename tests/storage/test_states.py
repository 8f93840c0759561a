from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from storage.states import (
    PURPOSE_CONNECT,
    PURPOSE_SLACK,
    PURPOSE_XERO,
    StateProblem,
    StateRejected,
    consume_state,
    create_state,
    matches,
    purge_expired_states,
)

CONNECT = {"purpose": PURPOSE_CONNECT}


def test_state_round_trip_binds_the_slack_user(db):
    state = create_state(db, "T1", "U1", **CONNECT)
    owner = consume_state(db, state, **CONNECT)
    assert (owner.slack_team_id, owner.slack_user_id) == ("T1", "U1")


def test_a_state_is_256_bits(db):
    state = create_state(db, "T1", "U1", **CONNECT)
    assert len(state) == 43  # 32 bytes, url-safe base64 without padding


def test_state_nonce_and_browser_are_stored_only_as_hashes(db):
    state = create_state(db, "T1", "U1", purpose=PURPOSE_SLACK, nonce="N" * 43, browser="B" * 43)
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT state_hash, nonce_hash, browser_hash FROM oauth_states").all()
    assert rows and all(state not in row[0] for row in rows)
    assert all("N" * 43 not in (row[1] or "") and "B" * 43 not in (row[2] or "") for row in rows)
    owner = consume_state(db, state, purpose=PURPOSE_SLACK)
    assert matches(owner.nonce_hash, "N" * 43) and not matches(owner.nonce_hash, "M" * 43)
    assert matches(owner.browser_hash, "B" * 43) and not matches(owner.browser_hash, None)


def test_the_xero_step_carries_the_names_slack_gave(db):
    state = create_state(
        db, "T1", "U1", purpose=PURPOSE_XERO, slack_user_name="Alice", slack_team_name="Demo"
    )
    owner = consume_state(db, state, purpose=PURPOSE_XERO)
    assert (owner.slack_user_name, owner.slack_team_name) == ("Alice", "Demo")


def test_state_works_once(db):
    state = create_state(db, "T1", "U1", **CONNECT)
    consume_state(db, state, **CONNECT)
    with pytest.raises(StateRejected) as err:
        consume_state(db, state, **CONNECT)
    assert err.value.problem is StateProblem.USED


def test_two_racing_callbacks_with_one_state_get_one_owner(db):
    state = create_state(db, "T1", "U1", **CONNECT)

    def attempt(_):
        try:
            return consume_state(db, state, **CONNECT)
        except StateRejected as exc:
            return exc.problem

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert sum(1 for o in outcomes if not isinstance(o, StateProblem)) == 1
    assert {o for o in outcomes if isinstance(o, StateProblem)} == {StateProblem.USED}


@pytest.mark.parametrize("purpose", [PURPOSE_CONNECT, PURPOSE_SLACK, PURPOSE_XERO])
def test_a_state_works_only_at_its_own_step(db, purpose):
    state = create_state(db, "T1", "U1", purpose=purpose)
    for other in {PURPOSE_CONNECT, PURPOSE_SLACK, PURPOSE_XERO} - {purpose}:
        with pytest.raises(StateRejected) as err:
            consume_state(db, state, purpose=other)
        assert err.value.problem is StateProblem.UNKNOWN
    assert consume_state(db, state, purpose=purpose).slack_user_id == "U1"  # not spent by the misuse


def test_links_from_before_sign_in_with_slack_work_at_no_step(db):
    state = create_state(db, "T1", "U1", purpose=PURPOSE_XERO)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE oauth_states SET purpose = 'legacy'")  # what the migration leaves
    for purpose in (PURPOSE_CONNECT, PURPOSE_SLACK, PURPOSE_XERO):
        with pytest.raises(StateRejected) as err:
            consume_state(db, state, purpose=purpose)
        assert err.value.problem is StateProblem.UNKNOWN


def test_an_unknown_purpose_is_a_programming_error(db):
    with pytest.raises(ValueError):
        create_state(db, "T1", "U1", purpose="anything")


def test_expired_state_is_rejected(db):
    state = create_state(db, "T1", "U1", **CONNECT)
    later = lambda: datetime.now(UTC) + timedelta(minutes=10, seconds=1)  # noqa: E731
    with pytest.raises(StateRejected) as err:
        consume_state(db, state, now=later, **CONNECT)
    assert err.value.problem is StateProblem.EXPIRED


@pytest.mark.parametrize("bad", [None, "", "short", "x" * 43 + "!", "<script>", "a" * 44])
def test_malformed_state_is_rejected_as_tampered(db, bad):
    with pytest.raises(StateRejected) as err:
        consume_state(db, bad, **CONNECT)
    assert err.value.problem is StateProblem.MALFORMED


def test_unknown_and_altered_states_are_rejected(db):
    state = create_state(db, "T1", "U1", **CONNECT)
    altered = ("B" if state[0] != "B" else "C") + state[1:]
    with pytest.raises(StateRejected) as err:
        consume_state(db, altered, **CONNECT)
    assert err.value.problem is StateProblem.UNKNOWN
    assert consume_state(db, state, **CONNECT).slack_user_id == "U1"  # the real one still works


def test_purge_removes_only_long_expired_states(db):
    create_state(db, "T1", "U1", **CONNECT)
    assert purge_expired_states(db) == 0
    assert purge_expired_states(db, now=lambda: datetime.now(UTC) + timedelta(days=2)) == 1
