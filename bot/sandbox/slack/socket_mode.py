"""Socket Mode: Slack delivering over a WebSocket the app opened, instead of POSTing to it.

The app calls `apps.connections.open` with its app-level token (`xapp-…`) and gets a one-use
`ws://…/link/?ticket=…` URL. On connect Slack sends `{"type": "hello"}`; afterwards every
slash command, interaction and event arrives as an envelope

    {"envelope_id", "type": "slash_commands"|"interactive"|"events_api", "payload",
     "accepts_response_payload", ("retry_attempt", "retry_reason" for events_api)}

and the app answers `{"envelope_id": …, "payload": {…}}` within 3 seconds. The ack payload means
exactly what the HTTP ack body means, so `SlackSandbox` turns it back into that body and the
actors apply it the same way. Shapes follow slack_sdk's `SocketModeRequest`/`SocketModeResponse`.

`websockets` is imported lazily: only tests that use Socket Mode need it installed.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

# Delivery.kind → envelope type, and whether Slack lets the ack carry a response payload.
ENVELOPE_TYPES = {
    "slash_command": ("slash_commands", True),
    "view_submission": ("interactive", True),
    "block_actions": ("interactive", False),
    "view_closed": ("interactive", False),
    "event_callback": ("events_api", False),
}


def envelope(kind: str, payload: dict[str, Any], envelope_id: str) -> dict[str, Any]:
    """The envelope Slack wraps one delivery in (the payload is the HTTP body, as JSON)."""
    envelope_type, accepts = ENVELOPE_TYPES[kind]
    out: dict[str, Any] = {
        "envelope_id": envelope_id,
        "payload": payload,
        "type": envelope_type,
        "accepts_response_payload": accepts,
    }
    if envelope_type == "events_api":
        out["retry_attempt"] = 0
        out["retry_reason"] = ""
    return out


def ack_body(ack: dict[str, Any]) -> str:
    """The HTTP ack body an ack message stands for: its payload as JSON, or empty."""
    payload = ack.get("payload")
    if not payload:
        return ""
    return json.dumps(payload)


def hello(app_id: str, num_connections: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": num_connections,
        "debug_info": {"host": "applink-sandbox", "build_number": 1, "approximate_connection_time": 3600},
        "connection_info": {"app_id": app_id},
    }


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    ack: dict[str, Any] | None = None


@dataclass
class SocketResult:
    """How one envelope went: the ack body (HTTP-equivalent), time taken, and a failure code."""

    envelope_id: str
    body: str = ""
    elapsed: float = 0.0
    failed: str | None = None


class SocketModeServer:
    """A WebSocket endpoint on 127.0.0.1 that hands envelopes to connected apps and waits for acks."""

    def __init__(self, app_id: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app_id = app_id
        self.warnings: list[str] = []
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self._connections: list[Any] = []
        self._send_locks: dict[int, threading.Lock] = {}
        self._pending: dict[str, _Pending] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SocketModeServer:
        from websockets.sync.server import serve  # lazy: a test-only dependency

        self._server = serve(
            self._handle, self._host, self._port, process_request=self._check_ticket, ping_interval=None
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="slack-socket-mode", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    # ------------------------------------------------------------------ apps.connections.open
    def issue_url(self) -> str:
        """A fresh one-use WebSocket URL (what `apps.connections.open` returns)."""
        if self._server is None:
            raise RuntimeError("SocketModeServer.start() has not been called")
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: Any, request: Any) -> Any:
        """Refuse the handshake unless the URL carries an unused ticket (URLs are single-use)."""
        ticket = (parse_qs(urlsplit(request.path).query).get("ticket") or [""])[0]
        with self._lock:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        return None

    # ------------------------------------------------------------------ connections
    def _handle(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)
            self._send_locks[id(connection)] = threading.Lock()
            count = len(self._connections)
        try:
            self._send(connection, hello(self.app_id, count))
            for raw in connection:
                self._receive(raw)
        finally:
            with self._lock:
                self._connections.remove(connection)
                self._send_locks.pop(id(connection), None)

    def _receive(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            self._warn(f"socket mode: a message that is not JSON: {raw[:80]!r}")
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            pending = self._pending.get(str(envelope_id))
        if pending is None:
            self._warn(f"socket mode: ack for an unknown or expired envelope {envelope_id!r}")
            return
        pending.ack = message
        pending.done.set()

    def _send(self, connection: Any, message: dict[str, Any]) -> None:
        with self._lock:
            send_lock = self._send_locks.get(id(connection))
        if send_lock is None:
            raise ConnectionError("that connection has closed")
        with send_lock:
            connection.send(json.dumps(message))

    def _warn(self, text: str) -> None:
        with self._lock:
            self.warnings.append(text)
        log.info(text)

    # ------------------------------------------------------------------ delivery
    def deliver(self, kind: str, payload: dict[str, Any], timeout: float) -> SocketResult:
        """Send one envelope to the newest connection and wait up to `timeout` s for its ack.

        No connection → `dispatch_failed`; no ack in time → `operation_timeout` (what a user sees).
        """
        envelope_id = str(uuid.uuid4())
        result = SocketResult(envelope_id)
        with self._lock:
            connection = self._connections[-1] if self._connections else None
            pending = self._pending[envelope_id] = _Pending()
        started = time.monotonic()
        try:
            if connection is None:
                result.failed = "dispatch_failed"
                return result
            try:
                self._send(connection, envelope(kind, payload, envelope_id))
            except Exception as error:  # noqa: BLE001 - any send failure is Slack's dispatch_failed
                log.info("socket mode: send failed: %s", error)
                result.failed = "dispatch_failed"
                return result
            if not pending.done.wait(timeout) or pending.ack is None:
                result.failed = "operation_timeout"
                return result
            result.body = ack_body(pending.ack)
            return result
        finally:
            result.elapsed = time.monotonic() - started
            with self._lock:
                self._pending.pop(envelope_id, None)
