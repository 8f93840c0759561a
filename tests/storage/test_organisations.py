from datetime import UTC, datetime

from storage.organisations import forget_organisation, get_organisation, save_organisation

T = "11111111-1111-1111-1111-111111111111"


def test_organisation_details_are_kept_replaced_and_forgotten(db):
    assert get_organisation(db, T) is None
    first = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    save_organisation(
        db, tenant_id=T, name="Harbour Coffee", short_code="!a1B2c", country_code="NZ",
        timezone="Pacific/Auckland", base_currency="NZD", now=lambda: first,
    )  # fmt: skip
    stored = get_organisation(db, T)
    assert (stored.name, stored.short_code, stored.country_code, stored.timezone) == (
        "Harbour Coffee", "!a1B2c", "NZ", "Pacific/Auckland",
    )  # fmt: skip
    assert stored.fetched_at == first
    save_organisation(
        db, tenant_id=T, name="Harbour Coffee Ltd", short_code="!zz9", country_code="NZ",
        timezone="Pacific/Auckland", base_currency="NZD",
    )  # fmt: skip
    assert get_organisation(db, T).short_code == "!zz9"
    assert get_organisation(db, T).name == "Harbour Coffee Ltd"
    forget_organisation(db, T)
    assert get_organisation(db, T) is None
