"""Fault injection: latency, failures, hangs, a refresh answer lost on the way back."""

from __future__ import annotations

import time

import pytest
import requests

from bot.sandbox.xero import XeroSandbox

from .conftest import Api, authorize, refresh


def test_latency_makes_a_short_client_timeout_fire(sb: XeroSandbox, api: Api) -> None:
    sb.faults.latency(1000)
    with pytest.raises(requests.Timeout):
        api.get("Organisation", timeout=0.1)
    sb.faults.latency(0)
    assert api.get("Organisation", timeout=5).status_code == 200


def test_fail_next_answers_the_status_then_recovers(sb: XeroSandbox, api: Api) -> None:
    sb.faults.fail_next(2, status=503)
    assert [api.get("Organisation").status_code for _ in range(3)] == [503, 503, 200]


def test_fail_next_applies_to_identity_calls(sb: XeroSandbox, tokens: dict) -> None:
    sb.faults.fail_next(1, status=500)
    failed = refresh(sb, tokens["refresh_token"])
    assert failed.status_code == 500
    assert failed.json()["error"] == "temporarily_unavailable"
    assert refresh(sb, tokens["refresh_token"]).status_code == 200  # the failed call changed nothing


def test_fail_next_429_looks_like_a_rate_limit(sb: XeroSandbox, api: Api) -> None:
    sb.faults.fail_next(1, status=429)
    response = api.get("Organisation")
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_fail_next_does_not_touch_the_consent_page(sb: XeroSandbox) -> None:
    sb.faults.fail_next(1, status=500)
    assert authorize(sb).status_code == 302


def test_timeout_next_hangs_after_doing_the_work(sb: XeroSandbox, api: Api) -> None:
    txn_id = next(
        t
        for t in sb.transaction_ids(api.tenant_id)
        if sb.get_transaction(api.tenant_id, t)["Type"] == "SPEND"
        and sb.get_transaction(api.tenant_id, t)["Status"] == "AUTHORISED"
    )
    sb.faults.timeout_next(1, seconds=30)
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{sb.url}/api.xro/2.0/BankTransactions/{txn_id}",
            json={"Reference": "did it happen?"},
            headers={
                "Authorization": f"Bearer {api.token}",
                "xero-tenant-id": api.tenant_id,
                "Accept": "application/json",
                "Idempotency-Key": "retry-me",
            },
            timeout=0.3,
        )
    # The server acts before it hangs; allow it a moment on a busy machine.
    deadline = time.monotonic() + 5
    while sb.get_transaction(api.tenant_id, txn_id).get("Reference") != "did it happen?":
        assert time.monotonic() < deadline, "the timed-out update was never applied"
        time.sleep(0.01)
    retry = api.post(
        f"BankTransactions/{txn_id}", {"Reference": "did it happen?"}, headers={"Idempotency-Key": "retry-me"}
    )
    assert retry.status_code == 200
    assert [h["Changes"] for h in sb.history(api.tenant_id, txn_id)].count("Edited") == 1


def test_dropped_refresh_response_then_retry_with_the_same_token(sb: XeroSandbox, tokens: dict) -> None:
    sb.faults.drop_next_refresh_response()
    with pytest.raises(requests.ConnectionError):
        refresh(sb, tokens["refresh_token"])
    retry = refresh(sb, tokens["refresh_token"])  # inside the grace period
    assert retry.status_code == 200
    fresh = retry.json()
    assert refresh(sb, fresh["refresh_token"]).status_code == 200
    dropped = [r for r in sb.requests if r.get("dropped")]
    assert len(dropped) == 1 and dropped[0]["path"] == "/connect/token"


def test_dropped_refresh_and_a_late_retry_is_invalid_grant(sb: XeroSandbox, tokens: dict) -> None:
    sb.faults.drop_next_refresh_response()
    with pytest.raises(requests.ConnectionError):
        refresh(sb, tokens["refresh_token"])
    sb.clock.advance(31 * 60)
    assert refresh(sb, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_clear_removes_pending_faults(sb: XeroSandbox, api: Api) -> None:
    sb.faults.fail_next(3)
    sb.faults.latency(5000)
    sb.faults.clear()
    assert api.get("Organisation", timeout=2).status_code == 200


def test_requests_are_recorded(sb: XeroSandbox, api: Api) -> None:
    sb.clear_requests()
    api.get("BankTransactions", params={"where": 'Type=="SPEND"', "page": 1})
    (entry,) = sb.requests
    assert entry["method"] == "GET" and entry["path"] == "/api.xro/2.0/BankTransactions"
    assert entry["query"] == {"where": 'Type=="SPEND"', "page": "1"}
    assert entry["tenant_id"] == api.tenant_id and entry["status"] == 200
    assert entry["headers"]["Authorization"].startswith("Bearer ")
    refresh_body = {"grant_type": "refresh_token", "refresh_token": "nope"}
    requests.post(
        f"{sb.url}/connect/token", data=refresh_body, auth=(sb.client_id, sb.client_secret), timeout=5
    )
    assert sb.requests[-1]["form"] == refresh_body and sb.requests[-1]["status"] == 400
