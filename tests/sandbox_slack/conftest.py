"""A tiny fake bot (signature-checking WSGI app) and a started SlackSandbox around it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bot.sandbox.slack import ManualClock, SlackSandbox

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"

Ack = tuple[int, str, str]


@dataclass
class Received:
    content_type: str
    headers: dict[str, str]
    raw: str
    payload: dict[str, Any]

    @property
    def kind(self) -> str:
        if "command" in self.payload:
            return "slash_command"
        return str(self.payload.get("type"))


@dataclass
class FakeBot:
    """Verifies Slack signatures like a real app, records payloads, answers with `handler`."""

    verifier: SignatureVerifier
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    handler: Callable[[Received], Ack] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        raw = request.get_data(as_text=True)
        if not self.verifier.is_valid(
            body=raw,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
        ):
            self.rejected.append(raw)
            return Response("invalid signature", status=401)(environ, start_response)
        if request.mimetype == "application/json":
            payload = json.loads(raw)
        elif "payload" in request.form:
            payload = json.loads(request.form["payload"])
        else:
            payload = dict(request.form.items())
        item = Received(request.mimetype, dict(request.headers.items()), raw, payload)
        self.received.append(item)
        status, body, content_type = self.handler(item) if self.handler else (200, "", "text/plain")
        return Response(body, status=status, content_type=content_type)(environ, start_response)

    def last(self, kind: str) -> Received:
        return [r for r in self.received if r.kind == kind][-1]


def ack_json(body: dict[str, Any]) -> Ack:
    return 200, json.dumps(body), "application/json"


@pytest.fixture
def bot() -> Iterator[FakeBot]:
    fake = FakeBot(SignatureVerifier(SECRET))
    server = make_server("127.0.0.1", 0, fake, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"  # type: ignore[attr-defined]
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ss(bot: FakeBot, clock: ManualClock) -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox(signing_secret=SECRET, bot_token=TOKEN, clock=clock).start()
    sandbox.bot_url = bot.url  # type: ignore[attr-defined]
    sandbox.add_user("U0ALICE", "alice", real_name="Alice Ngata", tz="Pacific/Auckland")
    sandbox.add_user("U0BOB", "bob", real_name="Bob Tane")
    sandbox.add_channel("C0BOOKS", "books", members=["U0ALICE", "U0BOB"], bot_member=True)
    sandbox.add_channel("C0RANDOM", "random", members=["U0ALICE"], bot_member=False)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def client(ss: SlackSandbox) -> WebClient:
    return WebClient(token=TOKEN, base_url=ss.api_url)
