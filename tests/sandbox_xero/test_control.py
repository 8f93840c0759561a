"""The /_sandbox control surface and the ``recon-bot sandbox`` command."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import threading
import time

import requests

from bot.demo.stack import free_port
from bot.sandbox.xero import XeroSandbox
from bot.sandbox.xero.cli import main

from .conftest import Api, connect, refresh


def test_clock_advance_over_http(sb: XeroSandbox, tokens: dict) -> None:
    before = requests.get(f"{sb.url}/_sandbox/clock", timeout=5).json()["now"]
    after = requests.post(f"{sb.url}/_sandbox/clock/advance", json={"seconds": 31 * 60}, timeout=5).json()[
        "now"
    ]
    assert after > before
    api = Api(sb, tokens["access_token"], sb.tenants[0]["tenant_id"])
    assert api.get("Organisation").status_code == 401
    assert (
        requests.post(f"{sb.url}/_sandbox/clock/advance", json={"seconds": -1}, timeout=5).status_code == 400
    )


def test_faults_over_http(sb: XeroSandbox, api: Api) -> None:
    state = requests.post(
        f"{sb.url}/_sandbox/faults", json={"fail_next": {"n": 1, "status": 502}}, timeout=5
    ).json()
    assert state["fail_next"] == 1
    assert api.get("Organisation").status_code == 502
    requests.post(f"{sb.url}/_sandbox/faults", json={"fail_next": 3}, timeout=5)
    requests.delete(f"{sb.url}/_sandbox/faults", timeout=5)
    assert api.get("Organisation").status_code == 200


def test_requests_log_over_http(sb: XeroSandbox, api: Api) -> None:
    requests.delete(f"{sb.url}/_sandbox/requests", timeout=5)
    api.get("Organisation")
    log = requests.get(f"{sb.url}/_sandbox/requests", timeout=5).json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [("GET", "/api.xro/2.0/Organisation", 200)]


def test_revoke_over_http(sb: XeroSandbox, tokens: dict) -> None:
    body = requests.post(
        f"{sb.url}/_sandbox/revoke", json={"xero_user_id": sb.user["xero_user_id"]}, timeout=5
    )
    assert body.json() == {"connections_removed": 2}
    assert refresh(sb, tokens["refresh_token"]).status_code == 400


def test_transactions_over_http(sb: XeroSandbox) -> None:
    tenant = sb.tenants[0]["tenant_id"]
    txn_id = sb.transaction_ids(tenant)[0]
    url = f"{sb.url}/_sandbox/transactions/{tenant}/{txn_id}"
    before = requests.get(url, timeout=5).json()
    assert before == sb.get_transaction(tenant, txn_id)
    sb.clock.advance(1)
    after = requests.patch(url, json={"Reference": "edited elsewhere"}, timeout=5).json()
    assert after["Reference"] == "edited elsewhere"
    assert after["UpdatedDateUTC"] != before["UpdatedDateUTC"]
    history = requests.get(f"{url}/history", timeout=5).json()
    assert history[-1]["Changes"] == "Edited"
    assert requests.patch(url, json={"Total": 1}, timeout=5).status_code == 400
    assert requests.get(f"{sb.url}/_sandbox/transactions/{tenant}/nope", timeout=5).status_code == 404


def test_register_redirect_uri_and_login_over_http(sb: XeroSandbox) -> None:
    requests.post(f"{sb.url}/_sandbox/redirect-uris", json={"uri": "http://127.0.0.1:9999/cb"}, timeout=5)
    assert "http://127.0.0.1:9999/cb" in sb.redirect_uris
    other = sb.add_user("sam@kestrel.example", "Sam", "Okafor", [sb.tenants[1]["tenant_id"]])
    requests.post(f"{sb.url}/_sandbox/login", json={"xero_user_id": other["xero_user_id"]}, timeout=5)
    tokens = connect(sb)
    names = [
        c["tenantName"]
        for c in requests.get(
            f"{sb.url}/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5
        ).json()
    ]
    assert names == ["Kestrel Design Studio"]


def test_summary(sb: XeroSandbox) -> None:
    body = requests.get(f"{sb.url}/_sandbox", timeout=5).json()
    assert body["url"] == sb.url
    assert [t["name"] for t in body["tenants"]] == ["Harbour Coffee Roasters", "Kestrel Design Studio"]


def test_unknown_path_and_wrong_method(sb: XeroSandbox) -> None:
    assert requests.get(f"{sb.url}/nowhere", timeout=5).status_code == 404
    assert requests.get(f"{sb.url}/connect/token", timeout=5).status_code == 405


def test_discovery_document(sb: XeroSandbox) -> None:
    body = requests.get(f"{sb.url}/.well-known/openid-configuration", timeout=5).json()
    assert body["token_endpoint"] == f"{sb.url}/connect/token"
    assert body["authorization_endpoint"] == f"{sb.url}/identity/connect/authorize"


# --- recon-bot sandbox ---------------------------------------------------------------------


def _settings(text: str) -> dict[str, str]:
    return dict(re.findall(r"^(XERO_[A-Z_]+)=(\S+)$", text, re.MULTILINE))


def test_cli_main_in_a_thread_serves_until_stopped() -> None:
    port = free_port()
    out = io.StringIO()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            main(
                [
                    "--port",
                    str(port),
                    "--transactions",
                    "20",
                    "--seed",
                    "3",
                    "--redirect-uri",
                    "http://127.0.0.1:7000/cb",
                    "--minute-limit",
                    "600",
                ],
                stop=stop,
                out=out,
            )
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "XERO_API_URL=" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.02)
        settings = _settings(out.getvalue())
        assert settings["XERO_API_URL"] == f"http://127.0.0.1:{port}"
        assert settings["XERO_IDENTITY_URL"] == f"http://127.0.0.1:{port}"
        assert settings["XERO_AUTHORIZE_URL"] == f"http://127.0.0.1:{port}/identity/connect/authorize"
        assert settings["XERO_CLIENT_ID"] == "recon-sandbox-client"
        assert settings["XERO_CLIENT_SECRET"] == "recon-sandbox-secret"
        summary = requests.get(f"{settings['XERO_API_URL']}/_sandbox", timeout=5).json()
        assert summary["settings"]["minute_limit"] == 600
        response = requests.get(
            settings["XERO_AUTHORIZE_URL"],
            params={
                "response_type": "code",
                "client_id": settings["XERO_CLIENT_ID"],
                "redirect_uri": "http://127.0.0.1:7000/cb",
                "scope": "openid offline_access accounting.transactions",
                "state": "s",
            },
            allow_redirects=False,
            timeout=5,
        )
        assert response.status_code == 302
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert "stopped" in out.getvalue()


def test_cli_as_a_process_exits_zero_on_ctrl_c() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.sandbox.xero.cli",
            "--port",
            str(port),
            "--transactions",
            "10",
            "--latency-ms",
            "5",
            "--consent",
            "prompt",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        settings = _settings("".join(lines))
        assert (
            requests.get(f"{settings['XERO_API_URL']}/_sandbox", timeout=5).json()["settings"]["consent"]
            == "prompt"
        )
        proc.send_signal(subprocess.signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_reports_a_busy_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert (
            main(["--port", str(port), "--transactions", "1"], stop=threading.Event(), out=io.StringIO()) == 1
        )
