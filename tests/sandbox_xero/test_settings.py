"""Accounts, TrackingCategories, Organisation."""

from __future__ import annotations

from bot.sandbox.xero import XeroSandbox

from .conftest import Api


def test_bank_accounts_by_type(sb: XeroSandbox, api: Api) -> None:
    response = api.get("Accounts", params={"where": 'Type=="BANK"'})
    assert response.status_code == 200
    accounts = response.json()["Accounts"]
    assert {a["Type"] for a in accounts} == {"BANK"}
    assert {a["Name"] for a in accounts} == {a["name"] for a in sb.tenants[0]["bank_accounts"]}
    assert any(a["Status"] == "ARCHIVED" for a in accounts)
    currencies = {a["CurrencyCode"] for a in accounts}
    assert currencies == {"NZD", "USD"}


def test_active_bank_accounts(api: Api) -> None:
    accounts = api.get("Accounts", params={"where": 'Status=="ACTIVE" AND Type=="BANK"'}).json()["Accounts"]
    assert accounts and all(a["Status"] == "ACTIVE" and a["Type"] == "BANK" for a in accounts)
    assert {a["BankAccountType"] for a in accounts} == {"BANK", "CREDITCARD"}


def test_full_chart_of_accounts_and_order(api: Api) -> None:
    accounts = api.get("Accounts", params={"order": "Code DESC"}).json()["Accounts"]
    codes = [a["Code"] for a in accounts]
    assert codes == sorted(codes, reverse=True)
    assert {"200", "404", "429"} <= set(codes)


def test_accounts_bad_where(api: Api) -> None:
    assert api.get("Accounts", params={"where": "Type=BANK"}).status_code == 400


def test_tracking_categories(sb: XeroSandbox, api: Api) -> None:
    categories = api.get("TrackingCategories").json()["TrackingCategories"]
    assert {c["Name"]: [o["Name"] for o in c["Options"]] for c in categories} == sb.tenants[0][
        "tracking_categories"
    ]
    assert all(c["Status"] == "ACTIVE" and c["TrackingCategoryID"] for c in categories)


def test_organisation(sb: XeroSandbox, api: Api) -> None:
    (org,) = api.get("Organisation").json()["Organisations"]
    assert org["Name"] == "Harbour Coffee Roasters"
    assert org["BaseCurrency"] == "NZD" and org["CountryCode"] == "NZ"
    assert org["Timezone"] == "NEWZEALANDSTANDARDTIME"
    assert org["OrganisationID"] == api.tenant_id and org["ShortCode"]
    kestrel = Api(sb, api.token, sb.tenants[1]["tenant_id"]).get("Organisation").json()["Organisations"][0]
    assert (kestrel["Name"], kestrel["BaseCurrency"], kestrel["Timezone"]) == (
        "Kestrel Design Studio",
        "GBP",
        "GMTSTANDARDTIME",
    )
