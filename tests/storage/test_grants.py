from datetime import UTC, datetime, timedelta

import pytest

from storage import grants
from storage.models import GRANT_NEEDS_RECONNECT, TENANT_GONE
from tests.storage.fakes import Conn, Tokens

T = "T1"


def connect(db, user="U1", xero_user="xu-1", conns=None, tokens=None, event="evt-1"):
    return grants.save_consent(
        db,
        slack_team_id=T,
        slack_user_id=user,
        xero_user_id=xero_user,
        tokens=tokens or Tokens("access-A", "refresh-A"),
        connections=conns
        or [Conn("c1", "ten-1", "Harbour Coffee", event), Conn("c2", "ten-2", "Kestrel", event)],
        auth_event_id=event,
    )


def test_consent_stores_grant_with_tenants_and_a_default(db):
    result = connect(db)
    assert result.created
    assert [t.tenant_name for t in result.tenants] == ["Harbour Coffee", "Kestrel"]
    assert [t.tenant_name for t in result.added] == ["Harbour Coffee", "Kestrel"]
    tenants = grants.user_tenants(db, T, "U1")
    assert [t.is_default for t in tenants] == [True, False]
    assert result.grant.status == "active" and result.grant.generation == 1


def test_reconnecting_same_xero_login_updates_instead_of_duplicating(db):
    first = connect(db)
    grants.set_default_tenant(db, T, "U1", "ten-2")
    second = connect(
        db,
        tokens=Tokens("access-B", "refresh-B"),
        conns=[Conn("c2", "ten-2", "Kestrel Design", "evt-2"), Conn("c3", "ten-3", "New Org", "evt-2")],
        event="evt-2",
    )
    assert second.grant.id == first.grant.id and not second.created
    assert second.grant.generation == 2
    assert [t.tenant_name for t in second.added] == ["New Org"]
    assert len(grants.user_grants(db, T, "U1")) == 1
    live = {t.tenant_id: t for t in grants.user_tenants(db, T, "U1")}
    assert set(live) == {"ten-2", "ten-3"}
    assert live["ten-2"].is_default and live["ten-2"].tenant_name == "Kestrel Design"
    with db.session() as s:
        from sqlalchemy import select

        from storage.models import Tenant

        gone = s.scalar(select(Tenant).where(Tenant.tenant_id == "ten-1"))
        assert gone.status == TENANT_GONE and not gone.is_default


def test_tenants_are_private_to_their_slack_user(db):
    connect(db, user="U1")
    assert grants.find_user_tenant(db, T, "U1", "ten-1") is not None
    assert grants.find_user_tenant(db, T, "U2", "ten-1") is None
    assert grants.find_user_tenant(db, "T-other", "U1", "ten-1") is None
    with pytest.raises(LookupError):
        grants.set_default_tenant(db, T, "U2", "ten-1")


def test_only_one_default_per_grant_is_enforced_by_the_database(db):
    connect(db)
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    from storage.models import Tenant

    with pytest.raises(IntegrityError), db.session() as s:
        s.execute(update(Tenant).values(is_default=True))


def test_set_default_moves_the_flag(db):
    connect(db)
    grants.set_default_tenant(db, T, "U1", "ten-2")
    assert [t.is_default for t in grants.user_tenants(db, T, "U1")] == [False, True]


def test_keepalive_selection_and_reconnect_notice_once(db):
    old = connect(db, user="U1").grant
    connect(db, user="U2", xero_user="xu-2")
    later = lambda: datetime.now(UTC) + timedelta(days=8)  # noqa: E731
    assert set(grants.grants_due_for_keepalive(db, older_than=timedelta(days=7), now=later)) == {
        old.id,
        old.id + 1,
    }
    assert grants.grants_due_for_keepalive(db, older_than=timedelta(days=7)) == []
    assert grants.mark_needs_reconnect(db, old.id, expected_generation=old.generation)
    assert grants.get_grant(db, old.id).status == GRANT_NEEDS_RECONNECT
    assert [g.id for g in grants.grants_awaiting_reconnect_notice(db)] == [old.id]
    assert grants.claim_reconnect_notice(db, old.id) is True
    assert grants.claim_reconnect_notice(db, old.id) is False
    assert grants.grants_awaiting_reconnect_notice(db) == []
    # Reconnecting clears the incident, so a later one is announced again.
    connect(db, user="U1", tokens=Tokens("a2", "r2"))
    assert grants.get_grant(db, old.id).status == "active"
    assert grants.get_grant(db, old.id).reconnect_notified_at is None


def test_mark_needs_reconnect_is_compare_and_set(db):
    g = connect(db).grant
    assert grants.mark_needs_reconnect(db, g.id, expected_generation=g.generation + 1) is False
    assert grants.get_grant(db, g.id).status == "active"


def test_delete_grant_and_remove_tenant(db):
    g = connect(db).grant
    grants.remove_tenant(db, g.id, "ten-1")
    remaining = grants.user_tenants(db, T, "U1")
    assert [t.tenant_id for t in remaining] == ["ten-2"] and remaining[0].is_default
    grants.delete_grant(db, g.id)
    assert grants.user_tenants(db, T, "U1") == []


def test_keepalive_looks_at_grants_that_just_failed_last(db):
    first = connect(db, user="U1").grant
    second = connect(db, user="U2", xero_user="xu-2").grant
    later = lambda: datetime.now(UTC) + timedelta(days=8)  # noqa: E731
    assert grants.grants_due_for_keepalive(db, older_than=timedelta(days=7), now=later) == [
        first.id,
        second.id,
    ]
    grants.record_refresh_failure(db, first.id, "XeroUnavailable", now=later)
    assert grants.grants_due_for_keepalive(db, older_than=timedelta(days=7), now=later) == [
        second.id,
        first.id,
    ]


# --------------------------------------------------------------------------- another Xero login


def test_tenant_lookups_prefer_the_live_grant_over_a_dead_one(db):
    """The same organisations held by a dead grant (older id) and a live one."""
    dead = connect(db, xero_user="xu-old", conns=[Conn("c1", "ten-1", "Harbour Coffee")]).grant
    grants.mark_needs_reconnect(db, dead.id, expected_generation=dead.generation)
    with db.session() as s:  # a dead grant that also holds an organisation the new login lacks
        from storage.models import Tenant

        s.add(Tenant(grant_id=dead.id, tenant_id="ten-9", tenant_name="Elsewhere", connection_id="c9"))
    live = connect(db, xero_user="xu-new", tokens=Tokens("access-N", "refresh-N"), event="evt-2").grant
    found = grants.find_user_tenant(db, T, "U1", "ten-1")
    assert found.grant_id == live.id and found.grant_status == "active"
    tenants = grants.user_tenants(db, T, "U1")
    assert sorted(t.tenant_id for t in tenants) == ["ten-1", "ten-2", "ten-9"]  # each once
    assert sum(t.is_default for t in tenants) == 1
    assert grants.set_default_tenant(db, T, "U1", "ten-1").grant_id == live.id


def test_consent_with_another_login_removes_the_users_dead_grants_for_those_organisations(db):
    old = connect(db, xero_user="xu-old").grant
    grants.set_default_tenant(db, T, "U1", "ten-2")
    grants.mark_needs_reconnect(db, old.id, expected_generation=old.generation)
    other_user = connect(db, user="U2", xero_user="xu-old2").grant  # someone else's: untouched
    grants.mark_needs_reconnect(db, other_user.id, expected_generation=other_user.generation)

    new = connect(db, xero_user="xu-new", tokens=Tokens("access-N", "refresh-N"), event="evt-2")
    assert new.created
    assert [g.id for g in grants.user_grants(db, T, "U1")] == [new.grant.id]
    tenants = grants.user_tenants(db, T, "U1")
    assert {t.tenant_id: t.grant_id for t in tenants} == {"ten-1": new.grant.id, "ten-2": new.grant.id}
    assert [t.tenant_id for t in tenants if t.is_default] == ["ten-2"]  # the user's choice survives
    assert grants.get_grant(db, other_user.id).status == GRANT_NEEDS_RECONNECT
