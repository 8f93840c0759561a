"""Button values and modal metadata: round trips, size limits, and refusing what isn't ours."""

from __future__ import annotations

import pytest

from bot.slack.refs import (
    BUTTON_VALUE_LIMIT,
    METADATA_LIMIT,
    DisconnectRef,
    EditMeta,
    EditRef,
    RefError,
    is_slack_response_url,
)
from tests.slack.fakes import TENANT_A, TXN_ID, UPDATED


def test_edit_ref_round_trips():
    ref = EditRef(TENANT_A, TXN_ID, "CURSOR")
    assert EditRef.decode(ref.encode()) == ref


def test_edit_ref_drops_the_cursor_rather_than_exceed_a_button_value():
    ref = EditRef(TENANT_A, TXN_ID, "c" * BUTTON_VALUE_LIMIT)
    encoded = ref.encode()
    assert len(encoded) <= BUTTON_VALUE_LIMIT
    assert EditRef.decode(encoded) == EditRef(TENANT_A, TXN_ID, None)


@pytest.mark.parametrize(
    "raw",
    ["", "not json", "[]", '{"t":"x"}', '{"t":"a b","x":"' + TXN_ID + '"}', '{"t":"ok","x":"not-a-guid"}'],
)
def test_edit_ref_refuses_values_that_are_not_ours(raw):
    with pytest.raises(RefError):
        EditRef.decode(raw)


def test_edit_meta_round_trips_the_exact_version_timestamp():
    meta = EditMeta(TENANT_A, TXN_ID, UPDATED, "https://hooks.slack.com/actions/T/1/x", "CURSOR")
    back = EditMeta.decode(meta.encode())
    assert back == meta and back.updated == UPDATED


def test_edit_meta_gives_up_the_refresh_before_the_edit_when_too_long():
    meta = EditMeta(TENANT_A, TXN_ID, UPDATED, "https://hooks.slack.com/" + "r" * 900, "c" * 2000)
    encoded = meta.encode()
    assert len(encoded) <= METADATA_LIMIT
    back = EditMeta.decode(encoded)
    assert back.cursor is None and back.response_url is None and back.updated == UPDATED


def test_disconnect_ref_all_or_one():
    assert DisconnectRef.decode(DisconnectRef(None).encode()).org is None
    assert DisconnectRef.decode(DisconnectRef("Acme & Co").encode()).org == "Acme & Co"
    with pytest.raises(RefError):
        DisconnectRef.decode("{}")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("http://hooks.slack.com/commands/T1/2/abc", False),
        ("https://evil.example/hook", False),
        ("https://slack.com/api/../x", True),
        (None, False),
    ],
)
def test_only_slack_response_urls_are_posted_to(url, ok):
    assert is_slack_response_url(url, "https://slack.com/api/") is ok


def test_the_configured_local_slack_counts_as_slack():
    assert is_slack_response_url("http://127.0.0.1:5000/response/abc", "http://127.0.0.1:5000/api/")
