"""Consent, refresh, rotation, grace period, invalid_grant — against the sandbox over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.demo.xero_world import TEAM, make_world
from bot.services.errors import NotConnected
from bot.xero.filters import TransactionFilter
from storage import grants


@pytest.fixture
def world(db, db_url):
    w = make_world(db, db_url)
    yield w
    w.services.close()
    w.sb.stop()


def test_consent_stores_an_encrypted_grant_with_both_organisations(world):
    result = world.consent()
    assert sorted(t.tenant_name for t in result.tenants) == sorted(t["name"] for t in world.sb.tenants)
    assert {t.tenant_id for t in result.added} == {t.tenant_id for t in result.tenants}
    assert sum(t.is_default for t in world.services.connect.organisations(TEAM, "U0ALICE")) == 1
    # Stored only as ciphertext.
    with world.db.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT access_token_enc, refresh_token_enc FROM grants").one()
    access = grants.valid_access_token(world.db, result.grant.id, lambda rt: None).token
    assert access not in row[0] and access not in row[1]


def test_same_state_cannot_complete_twice(world):
    from urllib.parse import parse_qs, urlparse

    import requests

    from bot.services.errors import ConsentFailed
    from bot.signin import SlackIdentity

    browser = "B" * 43
    url = world.services.connect.xero_consent_url_after_sign_in(
        SlackIdentity("U0ALICE", TEAM), browser=browser
    )
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    connect = world.services.connect
    connect.complete_consent(code=params["code"], state=params["state"], error=None, browser=browser)
    with pytest.raises(ConsentFailed) as err:
        connect.complete_consent(code=params["code"], state=params["state"], error=None, browser=browser)
    assert err.value.reason == "used"


def _list_once(world, user="U0ALICE"):
    org = world.services.connect.default_org(TEAM, user)
    source = world.services.tokens.source(TEAM, user, org.tenant_id)
    return world.services.xero.list_bank_transactions(source, TransactionFilter(), page=1, page_size=5)


def test_expired_access_token_is_refreshed_and_rotated(world):
    result = world.consent()
    _list_once(world)
    assert world.refresh_requests() == []
    world.sb.clock.advance(31 * 60)
    _list_once(world)
    world.sb.clock.advance(31 * 60)
    _list_once(world)
    refreshes = world.refresh_requests()
    assert len(refreshes) == 2
    used = [r.form["refresh_token"] for r in refreshes]
    assert used[0] != used[1]  # the second refresh used the rotated token
    assert grants.get_grant(world.db, result.grant.id).generation == result.grant.generation + 2


def test_lost_refresh_response_is_retried_within_the_grace_period(world):
    world.consent()
    world.sb.clock.advance(31 * 60)
    world.sb.faults.drop_next_refresh_response()
    page = _list_once(world)
    assert page.transactions
    refreshes = world.refresh_requests()
    assert len(refreshes) == 2
    assert refreshes[0].form["refresh_token"] == refreshes[1].form["refresh_token"]


def test_revoked_at_xero_means_reconnect_with_a_fresh_link(world):
    result = world.consent()
    world.sb.revoke_user(world.sb.user["xero_user_id"])
    world.sb.clock.advance(31 * 60)
    with pytest.raises(NotConnected) as err:
        _list_once(world)
    assert err.value.reconnect is True
    assert "state=" in err.value.consent_url and err.value.consent_url.startswith(
        world.services.settings.connect_start_url
    )
    assert grants.get_grant(world.db, result.grant.id).status == "needs_reconnect"
    # Asking again does not hammer Xero: the grant is known dead.
    before = len(world.refresh_requests())
    with pytest.raises(NotConnected):
        _list_once(world)
    assert len(world.refresh_requests()) == before
    # Reconnecting brings it back.
    world.consent()
    assert grants.get_grant(world.db, result.grant.id).status == "active"
    assert _list_once(world).transactions


def test_a_401_forces_one_refresh_and_one_retry(world):
    world.consent()
    _list_once(world)
    # The bot's clock runs 5 minutes behind Xero's: it believes the token still has 4 minutes
    # left, Xero says it expired. The 401 must lead to one refresh and one retry.
    world.lag[0] = timedelta(minutes=5)
    world.sb.clock.advance(31 * 60)
    assert _list_once(world).transactions
    assert len(world.refresh_requests()) == 1


def test_tenants_of_one_user_are_invisible_to_another(world):
    world.consent(user="U0ALICE")
    org = world.services.connect.default_org(TEAM, "U0ALICE")
    with pytest.raises(NotConnected):
        world.services.tokens.source(TEAM, "U0BOB", org.tenant_id)


def test_disconnect_all_revokes_at_xero_and_forgets_tokens(world):
    world.consent()
    names = world.services.connect.disconnect(TEAM, "U0ALICE", None)
    assert len(names) == len(world.sb.tenants)
    assert any(r.path.endswith("/connect/revocation") for r in world.reqs())
    assert world.services.connect.organisations(TEAM, "U0ALICE") == []
    with world.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM grants").scalar() == 0


def test_disconnect_one_org_deletes_only_that_connection(world):
    world.consent()
    orgs = world.services.connect.organisations(TEAM, "U0ALICE")
    target = orgs[1]
    assert world.services.connect.disconnect(TEAM, "U0ALICE", target.tenant_name) == [target.tenant_name]
    left = world.services.connect.organisations(TEAM, "U0ALICE")
    assert target.tenant_id not in {t.tenant_id for t in left} and len(left) == len(orgs) - 1
    assert any(r.method == "DELETE" and target.connection_id in r.path for r in world.reqs())


def test_disconnect_removes_the_users_digests_for_that_organisation(world):
    from storage import digests

    world.consent()
    orgs = world.services.connect.organisations(TEAM, "U0ALICE")
    for org in orgs:
        digests.upsert_subscription(
            world.db,
            slack_team_id=TEAM,
            channel_id="C0BOOKS",
            owner_user_id="U0ALICE",
            tenant_id=org.tenant_id,
            tenant_name=org.tenant_name,
            local_time="09:00",
            timezone="UTC",
            skip_when_clear=False,
        )
    world.services.connect.disconnect(TEAM, "U0ALICE", orgs[1].tenant_name)
    left = digests.subscriptions_of_user(world.db, TEAM, "U0ALICE")
    assert [s.tenant_id for s in left] == [orgs[0].tenant_id]


def test_reconnecting_with_a_different_xero_login_gets_the_user_going_again(world):
    first = world.consent()
    world.sb.revoke_user(world.sb.user["xero_user_id"])
    world.sb.clock.advance(31 * 60)
    with pytest.raises(NotConnected) as err:
        _list_once(world)
    assert err.value.reconnect is True

    # The bookkeeper signs in to Xero as a colleague's login that holds the same organisations.
    other = world.sb.add_user("colleague@example.com", "Colleague", "Books")
    world.sb.login_as(other["xero_user_id"])
    second = world.consent()
    assert second.grant.id != first.grant.id
    assert _list_once(world).transactions
    orgs = world.services.connect.organisations(TEAM, "U0ALICE")
    assert sorted(o.tenant_id for o in orgs) == sorted(t["tenant_id"] for t in world.sb.tenants)
    assert {o.grant_id for o in orgs} == {second.grant.id}
    assert grants.get_grant(world.db, first.grant.id) is None  # the dead login's grant is gone
