"""Token keep-alive and reconnect DMs against the Xero sandbox over HTTP."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs import keep_tokens_alive, send_reconnect_notices
from storage import grants
from storage.models import GRANT_NEEDS_RECONNECT
from tests.clock.world import TEAM

DAY = 24 * 3600


def refresh_token(world, grant_id: int) -> str:
    token = grants.refresh_token_for_revocation(world.db, grant_id)
    assert token
    return token


def connect_button_urls(message) -> list[str]:
    return [
        e["url"]
        for b in message.blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if e.get("action_id") == "recon_link_connect"
    ]


def test_only_grants_idle_for_seven_days_are_refreshed(world):
    alice = world.connect("U0ALICE").grant
    world.xero.clock.advance(3 * DAY)
    bob = world.connect("U0BOB").grant
    world.xero.clock.advance(4 * DAY + 60)
    carol = world.connect("U0CAROL").grant
    stale_token = refresh_token(world, alice.id)
    fresh_tokens = {refresh_token(world, bob.id), refresh_token(world, carol.id)}

    report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)

    assert report.refreshed == [alice.id]
    assert world.refresh_tokens_used() == [stale_token]  # as seen by Xero
    assert not fresh_tokens & set(world.refresh_tokens_used())
    after = grants.get_grant(world.db, alice.id)
    assert after.generation == alice.generation + 1
    assert after.last_refresh_outcome == "refreshed"
    assert after.last_refreshed_at == world.xero.clock.now()
    # The rotated token works: the organisation is still readable, and nothing is due again.
    assert world.digests.build_now(TEAM, "U0ALICE").count >= 0
    assert keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client).refreshed == []


def test_keep_alive_every_week_outlives_the_60_day_idle_expiry(world):
    alice = world.connect("U0ALICE").grant
    for _ in range(10):  # 70 days of nobody using Recon, the clock running every few minutes
        world.xero.clock.advance(7 * DAY)
        keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert grants.get_grant(world.db, alice.id).status == "active"
    assert world.digests.build_now(TEAM, "U0ALICE").org_name


def test_xero_down_is_recorded_and_tried_again_next_run(world):
    alice = world.connect("U0ALICE").grant
    world.xero.clock.advance(8 * DAY)
    world.services.oauth.sleep = lambda _s: None
    world.xero.faults.fail_next(10, status=503)
    report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert report.failed == [alice.id]
    grant = grants.get_grant(world.db, alice.id)
    assert grant.status == "active" and grant.generation == alice.generation
    assert grant.last_refresh_outcome == "XeroUnavailable"
    world.xero.faults.clear()
    world.xero.clock.advance(300)
    again = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert again.refreshed == [alice.id]


def test_a_dead_refresh_token_gets_exactly_one_reconnect_dm(world):
    alice = world.connect("U0ALICE").grant
    world.xero.revoke_user(world.people["U0ALICE"])
    world.xero.clock.advance(8 * DAY)
    for _ in range(3):
        report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
        world.xero.clock.advance(300)
        world.clock.tick(world.xero.clock.now())
    assert report.needs_reconnect == [] and report.refreshed == []  # no longer active, not retried
    grant = grants.get_grant(world.db, alice.id)
    assert grant.status == GRANT_NEEDS_RECONNECT and grant.last_refresh_outcome == "invalid_grant"
    dms = world.slack.dms("U0ALICE")
    assert len(dms) == 1
    [url] = connect_button_urls(dms[0])
    assert url.startswith(world.settings.connect_start_url) and "state=" in url
    assert any(t["name"] in dms[0].blocks[0]["text"]["text"] for t in world.tenants)
    # The link works: reconnecting revives the grant, and a later incident gets a new DM.
    world.connect("U0ALICE")
    assert grants.get_grant(world.db, alice.id).status == "active"


def test_a_grant_the_web_process_marked_dead_gets_one_dm_from_the_clock(world):
    bob = world.connect("U0BOB").grant
    assert grants.mark_needs_reconnect(world.db, bob.id, expected_generation=bob.generation)
    now = world.xero.clock.now()
    assert send_reconnect_notices(world.services, now, world.clock.client) == [bob.id]
    assert send_reconnect_notices(world.services, now + timedelta(minutes=1), world.clock.client) == []
    assert len(world.slack.dms("U0BOB")) == 1


def test_expired_oauth_states_are_purged(world):
    world.services.connect.consent_url(TEAM, "U0ALICE")
    world.clock.tick(world.xero.clock.now())
    with world.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM oauth_states").scalar() == 1
    world.clock.tick(world.xero.clock.now() + timedelta(days=2))
    with world.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM oauth_states").scalar() == 0


# --------------------------------------------------------------------------- lost answers


def test_a_lost_refresh_answer_is_retried_by_the_clock_inside_the_grace_period(world):
    """Xero rotated, every answer was lost; the user walks away. The clock retries in time."""
    import pytest

    from bot.xero.errors import XeroUnavailable

    alice = world.connect("U0ALICE").grant
    stored = refresh_token(world, alice.id)
    world.services.oauth.sleep = lambda _s: None
    world.xero.clock.advance(31 * 60)  # the access token has expired: the next use refreshes
    world.xero.faults.drop_next_refresh_response(3)  # the first try and both retries
    with pytest.raises(XeroUnavailable):  # what a Slack request needing the token would meet
        world.services.tokens.access_token(alice.id)
    assert world.refresh_tokens_used() == [stored] * 3  # Xero rotated; we never heard the answer

    world.xero.clock.advance(5 * 60)  # the clock's next keep-alive run
    report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert report.refreshed == [alice.id]
    assert world.refresh_tokens_used() == [stored] * 4  # the same token, inside the 30 minutes
    after = grants.get_grant(world.db, alice.id)
    assert after.status == "active" and after.generation == alice.generation + 1
    assert after.refresh_pending_generation is None

    # Long after the grace period the connection still works, and it is not retried again.
    world.xero.clock.advance(45 * 60)
    assert keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client).refreshed == []
    assert world.digests.build_now(TEAM, "U0ALICE").org_name


# --------------------------------------------------------------------------- isolation


def _make_undecryptable(world, grant_id: int) -> None:
    """As after a key was dropped too early: the row's ciphertext is under a key we no longer have."""
    from cryptography.fernet import Fernet

    from storage.crypto import TokenCipher

    foreign = TokenCipher([Fernet.generate_key().decode()])
    with world.db.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE grants SET access_token_enc = ?, refresh_token_enc = ? WHERE id = ?"
            if world.db.is_sqlite
            else "UPDATE grants SET access_token_enc = %s, refresh_token_enc = %s WHERE id = %s",
            (foreign.encrypt("gone-access"), foreign.encrypt("gone-refresh"), grant_id),
        )


def test_an_undecryptable_grant_is_marked_and_the_others_are_still_refreshed(world, caplog):
    import logging

    alice = world.connect("U0ALICE").grant  # the oldest: it is looked at first
    world.xero.clock.advance(60)
    bob = world.connect("U0BOB").grant
    _make_undecryptable(world, alice.id)
    world.xero.clock.advance(8 * DAY)

    with caplog.at_level(logging.INFO):
        report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)

    assert report.refreshed == [bob.id]
    assert report.needs_reconnect == [alice.id]
    dead = grants.get_grant(world.db, alice.id)
    assert dead.status == GRANT_NEEDS_RECONNECT and dead.last_refresh_outcome == "undecryptable"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1 and f"grant {alice.id}" in lines[0] and "RECON_ENCRYPTION_KEY" in lines[0]
    assert "gone-" not in caplog.text
    assert len(world.slack.dms("U0ALICE")) == 1  # asked to reconnect, once
    # The next runs do not trip over it again.
    world.xero.clock.advance(8 * DAY)
    again = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert again.refreshed == [bob.id] and again.needs_reconnect == []
    assert len(world.slack.dms("U0ALICE")) == 1


def test_a_grant_deleted_mid_run_or_a_database_error_does_not_end_the_run(world):
    from sqlalchemy.exc import OperationalError

    alice = world.connect("U0ALICE").grant
    world.xero.clock.advance(60)
    bob = world.connect("U0BOB").grant
    world.xero.clock.advance(60)
    carol = world.connect("U0CAROL").grant
    world.xero.clock.advance(8 * DAY)

    real = world.services.tokens.access_token

    def flaky(grant_id, **kwargs):
        if grant_id == alice.id:
            grants.delete_grant(world.db, alice.id)  # the user disconnected while the run was going
        if grant_id == bob.id:
            raise OperationalError("UPDATE grants", {}, Exception("server closed the connection"))
        return real(grant_id, **kwargs)

    world.services.tokens.access_token = flaky
    report = keep_tokens_alive(world.services, world.xero.clock.now(), world.clock.client)
    assert report.refreshed == [carol.id]
    assert report.failed == [bob.id]
    assert grants.get_grant(world.db, alice.id) is None
    assert grants.get_grant(world.db, bob.id).status == "active"
