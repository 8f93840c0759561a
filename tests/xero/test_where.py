from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.xero.filters import TransactionFilter
from bot.xero.where import ALLOWED_STATUSES, ALLOWED_TYPES, build_where

ACCOUNT = uuid.UUID("bd9e85e0-0478-433d-ae9f-0b3c4f04bfe4")
CONTACT = uuid.UUID("6d42f03b-181f-43e3-93fb-2025c012de92")


def test_empty_filter_means_no_where():
    assert build_where(TransactionFilter(status=None)) is None


def test_default_filter_is_authorised_only():
    assert build_where(TransactionFilter()) == 'Status=="AUTHORISED"'


def test_full_filter_optimised_clauses_first():
    f = TransactionFilter(
        date_from=date(2024, 1, 1),
        date_to=date(2024, 3, 31),
        types=("SPEND", "RECEIVE"),
        status="AUTHORISED",
        is_reconciled=False,
        bank_account_id=ACCOUNT,
        contact_id=CONTACT,
        min_total=Decimal("100"),
        max_total=Decimal("250.5"),
    )
    assert build_where(f) == (
        '(Type=="SPEND" OR Type=="RECEIVE") AND Status=="AUTHORISED"'
        " AND Date>=DateTime(2024,01,01) AND Date<=DateTime(2024,03,31)"
        ' AND Contact.ContactID==guid("6d42f03b-181f-43e3-93fb-2025c012de92")'
        " AND IsReconciled==false"
        ' AND BankAccount.AccountID==guid("bd9e85e0-0478-433d-ae9f-0b3c4f04bfe4")'
        " AND Total>=100.00 AND Total<=250.50"
    )


def test_single_type_and_reconciled_true():
    f = TransactionFilter(types=("SPEND",), status=None, is_reconciled=True)
    assert build_where(f) == 'Type=="SPEND" AND IsReconciled==true'


def test_duplicate_types_collapse():
    assert build_where(TransactionFilter(types=("SPEND", "SPEND"), status=None)) == 'Type=="SPEND"'


def test_amount_precision_is_kept():
    assert build_where(TransactionFilter(status=None, min_total=Decimal("0.125"))) == "Total>=0.125"


@pytest.mark.parametrize(
    "bad",
    [
        {"types": ('SPEND") OR (Type=="RECEIVE',)},
        {"status": 'AUTHORISED" OR Status!="x'},
        {"status": "authorised"},
        {"types": ("spend",)},
        {"min_total": Decimal("NaN")},
        {"min_total": Decimal("1E+40")},
    ],
)
def test_values_outside_the_allow_list_raise_value_error(bad):
    with pytest.raises(ValueError):
        build_where(TransactionFilter(**bad))


@pytest.mark.parametrize(
    "bad",
    [
        {"bank_account_id": 'x") OR 1==1 OR ("'},
        {"bank_account_id": str(ACCOUNT)},
        {"contact_id": str(CONTACT)},
        {"date_from": "2024-01-01"},
        {"date_to": 20240101},
        {"min_total": 100},
        {"max_total": 250.5},
        {"max_total": "250"},
        {"is_reconciled": "false"},
        {"is_reconciled": 0},
        {"types": "SPEND"},
        {"types": (1,)},
        {"status": 1},
    ],
)
def test_untyped_values_raise_type_error(bad):
    with pytest.raises(TypeError):
        build_where(TransactionFilter(**bad))


def test_rejects_non_filter():
    with pytest.raises(TypeError):
        build_where({"status": "AUTHORISED"})  # type: ignore[arg-type]


# ---------------------------------------------------------------- grammar property

_GUID = r'guid\("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"\)'
_DT = r"DateTime\(\d{4},\d{2},\d{2}\)"
_AMOUNT = r"-?\d+\.\d{2,}"
_TYPE = "(?:" + "|".join(re.escape(f'Type=="{t}"') for t in sorted(ALLOWED_TYPES)) + ")"
_CLAUSE = "|".join(
    [
        _TYPE,
        r"\(" + _TYPE + r"(?: OR " + _TYPE + r")+\)",
        "(?:" + "|".join(re.escape(f'Status=="{s}"') for s in sorted(ALLOWED_STATUSES)) + ")",
        r"Date(?:>=|<=)" + _DT,
        r"Contact\.ContactID==" + _GUID,
        r"IsReconciled==(?:true|false)",
        r"BankAccount\.AccountID==" + _GUID,
        r"Total(?:>=|<=)" + _AMOUNT,
    ]
)
_GRAMMAR = re.compile(rf"(?:{_CLAUSE})(?: AND (?:{_CLAUSE}))*")

_amounts = st.decimals(min_value=Decimal("-1e14"), max_value=Decimal("1e14"), allow_nan=False, places=4)
_filters = st.builds(
    TransactionFilter,
    date_from=st.none() | st.dates() | st.datetimes().map(datetime.date),
    date_to=st.none() | st.dates(),
    types=st.lists(st.sampled_from(sorted(ALLOWED_TYPES)), max_size=5).map(tuple),
    status=st.none() | st.sampled_from(sorted(ALLOWED_STATUSES)),
    is_reconciled=st.none() | st.booleans(),
    bank_account_id=st.none() | st.uuids(),
    contact_id=st.none() | st.uuids(),
    min_total=st.none() | _amounts,
    max_total=st.none() | _amounts,
)


@given(_filters)
def test_where_always_matches_the_grammar(f):
    where = build_where(f)
    constrained = [
        f.date_from,
        f.date_to,
        f.types,
        f.status,
        f.is_reconciled is not None,
        f.bank_account_id,
        f.contact_id,
        f.min_total is not None,
        f.max_total is not None,
    ]
    if where is None:
        assert not any(constrained)
        return
    assert _GRAMMAR.fullmatch(where), where
    # Each requested constraint shows up exactly once.
    assert where.count("Status==") == (f.status is not None)
    assert where.count("IsReconciled==") == (f.is_reconciled is not None)


@given(st.text(min_size=1))
def test_any_text_in_a_guid_field_is_refused(text):
    with pytest.raises(TypeError):
        build_where(TransactionFilter(bank_account_id=text))  # type: ignore[arg-type]
