"""Rate limits: per-minute, concurrent, daily, app-wide; headers and Retry-After."""

from __future__ import annotations

import threading

import requests

from bot.sandbox.xero import XeroSandbox

from .conftest import Api, connect, frozen_clock, refresh


def test_every_accounting_answer_carries_the_remaining_headers(api: Api) -> None:
    first = api.get("Organisation")
    second = api.get("Organisation")
    assert first.headers["X-MinLimit-Remaining"] == "59"
    assert second.headers["X-MinLimit-Remaining"] == "58"
    assert second.headers["X-DayLimit-Remaining"] == "4998"
    assert second.headers["X-AppMinLimit-Remaining"] == "9998"


def test_sixty_first_call_in_a_minute_is_429_with_retry_after(sb: XeroSandbox, api: Api) -> None:
    for _ in range(30):
        assert api.get("Organisation").status_code == 200
    sb.clock.advance(20)
    for _ in range(30):
        assert api.get("Organisation").status_code == 200
    limited = api.get("Organisation")
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert limited.headers["Retry-After"] == "40"  # the first 30 calls leave the window in 40 s
    assert limited.headers["X-MinLimit-Remaining"] == "0"
    sb.clock.advance(40)
    assert api.get("Organisation").status_code == 200


def test_minute_limit_is_per_tenant(sb: XeroSandbox, api: Api) -> None:
    for _ in range(60):
        api.get("Organisation")
    assert api.get("Organisation").status_code == 429
    other = Api(sb, api.token, sb.tenants[1]["tenant_id"])
    assert other.get("Organisation").status_code == 200


def test_daily_limit() -> None:
    sb = XeroSandbox(transactions=10, organisations=1, daily_limit=5, clock=frozen_clock()).start()
    try:
        tokens = connect(sb)
        api = Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"])
        remaining = [api.get("Organisation").headers["X-DayLimit-Remaining"] for _ in range(5)]
        assert remaining == ["4", "3", "2", "1", "0"]
        limited = api.get("Organisation")
        assert limited.status_code == 429
        assert limited.headers["X-Rate-Limit-Problem"] == "day"
        wait = int(limited.headers["Retry-After"])
        assert 0 < wait <= 86_400
        sb.clock.advance(wait - 2)
        api.token = refresh(sb, tokens["refresh_token"]).json()["access_token"]
        assert api.get("Organisation").status_code == 429
        sb.clock.advance(2)
        assert api.get("Organisation").status_code == 200
    finally:
        sb.stop()


def test_app_minute_limit_spans_tenants() -> None:
    sb = XeroSandbox(transactions=10, organisations=2, app_minute_limit=3, clock=frozen_clock()).start()
    try:
        token = connect(sb)["access_token"]
        a, b = (Api(sb, token, t["tenant_id"]) for t in sb.tenants)
        assert [
            a.get("Organisation").status_code,
            b.get("Organisation").status_code,
            a.get("Organisation").status_code,
        ] == [200, 200, 200]
        limited = b.get("Organisation")
        assert limited.status_code == 429
        assert limited.headers["X-Rate-Limit-Problem"] == "appminute"
    finally:
        sb.stop()


def test_sixth_concurrent_call_is_429(sb: XeroSandbox, api: Api) -> None:
    gate = sb.faults.hold_calls()
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(api.get("Organisation").status_code)) for _ in range(5)
    ]
    for t in threads:
        t.start()
    try:
        assert gate.wait_for(5)
        sixth = api.get("Organisation")
        assert sixth.status_code == 429
        assert sixth.headers["X-Rate-Limit-Problem"] == "concurrent"
        assert int(sixth.headers["Retry-After"]) >= 1
    finally:
        gate.release()
        for t in threads:
            t.join(5)
    assert answers == [200] * 5
    sb.faults.clear()
    assert api.get("Organisation").status_code == 200


def test_identity_calls_are_not_rate_limited(sb: XeroSandbox, api: Api) -> None:
    for _ in range(70):
        response = requests.get(
            f"{sb.url}/connections", headers={"Authorization": f"Bearer {api.token}"}, timeout=5
        )
        assert response.status_code == 200
    assert api.get("Organisation").status_code == 200


def test_rejected_calls_do_not_count(sb: XeroSandbox, api: Api) -> None:
    bad = Api(sb, api.token, "00000000-0000-0000-0000-000000000000")
    for _ in range(5):
        assert bad.get("Organisation").status_code == 403
    assert api.get("Organisation").headers["X-MinLimit-Remaining"] == "59"
