"""Xero-shaped JSON used across the Xero layer tests (copied from the shapes in Xero's spec examples)."""

from __future__ import annotations

import copy
from typing import Any

TXN_ID = "d20b6c54-7f5d-4ce6-ab83-55f609719126"
BANK_ID = "bd9e85e0-0478-433d-ae9f-0b3c4f04bfe4"
CONTACT_ID = "6d42f03b-181f-43e3-93fb-2025c012de92"
LINE_1 = "52208ff9-528a-4985-a9ad-b2b1d4210e38"
LINE_2 = "1a2b3c4d-0000-4000-8000-000000000002"
REGION_ID = "351953c4-8127-4009-88c3-f9cd8c9cbe9f"
NORTH_ID = "ce205173-7387-4651-9726-2cf4c5405ba2"
TENANT = "70784a63-d24b-46a9-a4db-0e70a274b056"

_TXN: dict[str, Any] = {
    "BankTransactionID": TXN_ID,
    "Type": "SPEND",
    "Status": "AUTHORISED",
    "Date": "/Date(1476316800000+0000)/",
    "DateString": "2016-10-13T00:00:00",
    "Contact": {"ContactID": CONTACT_ID, "Name": "Zephyr Plumbing Ltd"},
    "BankAccount": {"AccountID": BANK_ID, "Code": "090", "Name": "Business Bank Account"},
    "Reference": "ZP-4471",
    "Url": "https://docs.example.com/zp-4471",
    "IsReconciled": False,
    "LineAmountTypes": "Inclusive",
    "LineItems": [
        {
            "LineItemID": LINE_1,
            "Description": "Call-out fee",
            "Quantity": 1.0,
            "UnitAmount": 1000.1,
            "LineAmount": 1000.1,
            "AccountCode": "429",
            "TaxType": "INPUT2",
            "TaxAmount": 130.45,
            "Tracking": [
                {
                    "Name": "Region",
                    "Option": "North",
                    "TrackingCategoryID": REGION_ID,
                    "TrackingOptionID": NORTH_ID,
                }
            ],
        },
        {
            "LineItemID": LINE_2,
            "Description": "Parts",
            "Quantity": 2.0,
            "UnitAmount": 117.23,
            "LineAmount": 234.46,
            "AccountID": "a3a2d3a3-1111-4aaa-8bbb-222222222222",
            "TaxType": "INPUT2",
            "TaxAmount": 30.58,
            "ItemCode": "PARTS",
            "Tracking": [{"Name": "Region", "Option": "South"}],
        },
    ],
    "SubTotal": 1073.53,
    "TotalTax": 161.03,
    "Total": 1234.56,
    "CurrencyCode": "NZD",
    "UpdatedDateUTC": "/Date(1476389616437+0000)/",
    "HasAttachments": False,
}


def txn_json(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(_TXN)
    data.update(overrides)
    return data


def txns_envelope(txns: list[dict[str, Any]], page: int = 1, page_count: int = 1, page_size: int = 100):
    return {
        "Id": "5e5c1b66-2c4a-4f71-9ed8-6e9f2c7c5e37",
        "Status": "OK",
        "ProviderName": "Recon tests",
        "DateTimeUTC": "/Date(1551212901659)/",
        "pagination": {"page": page, "pageSize": page_size, "pageCount": page_count, "itemCount": len(txns)},
        "BankTransactions": txns,
    }
