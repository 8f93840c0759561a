"""`SlackSandbox`: the offline Slack that tests, the demo and benchmarks talk to.

One object owns the workspace state, the Web API server the bot calls, and the people who
send the bot commands and clicks. Read accessors return snapshots (deep copies) so an
assertion never races a bot thread that is changing the same message.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bot.sandbox.slack import delivery as wire
from bot.sandbox.slack.actors import SandboxUser
from bot.sandbox.slack.delivery import Delivery, Forge
from bot.sandbox.slack.models import Channel, Clock, InvalidPayload, Message, User, View, Visible
from bot.sandbox.slack.openid import AUTHORIZE_PATH, SIGNIN_PATH, OpenIDProvider
from bot.sandbox.slack.payloads import Team
from bot.sandbox.slack.render import Rendered, render_message, render_view
from bot.sandbox.slack.server import BackgroundServer
from bot.sandbox.slack.socket_mode import SocketModeServer, SocketResult
from bot.sandbox.slack.webapi import ApiCall, Faults, ResponseUrlPost, WebApi
from bot.sandbox.slack.workspace import Workspace

log = logging.getLogger(__name__)

# Fake credentials: only meaningful between the stand-in and a bot configured to match.
SANDBOX_SIGNING_SECRET = "sandbox-signing-secret"
SANDBOX_BOT_TOKEN = "xoxb-sandbox"
SANDBOX_VERIFICATION_TOKEN = "sandbox-verification-token"
SANDBOX_APP_TOKEN = "xapp-1-sandbox"
SANDBOX_CLIENT_ID = "1000000001.2000000002"
SANDBOX_CLIENT_SECRET = "0c5e2b9a7d414f6e8a3b1c2d3e4f5a6b"  # 32 hex characters, as Slack issues
T = TypeVar("T")


class SlackSandbox:
    """An offline Slack workspace with one installed app (the bot under test)."""

    def __init__(
        self,
        signing_secret: str = SANDBOX_SIGNING_SECRET,
        bot_token: str = SANDBOX_BOT_TOKEN,
        team_id: str = "T0RECON",
        team_domain: str = "recon-demo",
        bot_user_id: str = "U0RECONBOT",
        bot_id: str = "B0RECON",
        app_id: str = "A0RECON",
        clock: Clock | None = None,
        *,
        verification_token: str = SANDBOX_VERIFICATION_TOKEN,
        ack_timeout: float = wire.ACK_TIMEOUT_S,
        sign_clock: Clock | None = None,
        app_token: str = SANDBOX_APP_TOKEN,
        socket_mode: bool = False,
        team_name: str = "Recon Sandbox",
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        id_token_clock: Clock | None = None,
    ) -> None:
        """`clock` is Slack's own clock (trigger and response_url expiry, ts values); tests may
        move it. `sign_clock` stamps `X-Slack-Request-Timestamp` and defaults to the wall clock,
        because the bot checks the 5-minute window against *its* clock, which tests rarely move.

        `socket_mode` is the app's "Enable Socket Mode" switch: when on, deliveries go to the
        app's WebSocket connection (opened via `apps.connections.open` with `app_token`)
        instead of being POSTed to `bot_url`. It may be flipped at any time.

        `client_id`/`client_secret` are the app's credentials for Sign in with Slack (`openid`),
        whose ID tokens `id_token_clock` stamps (the wall clock unless a harness's bot follows
        another); `team_name` is the workspace's name as Slack shows it.
        """
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.clock: Clock = clock or time.time
        self.sign_clock: Clock = sign_clock or time.time
        self.ack_timeout = ack_timeout
        self.team = Team(team_id, team_domain, app_id, verification_token, bot_user_id, bot_id)
        self.workspace = Workspace(
            team_id=team_id,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            app_id=app_id,
            clock=self.clock,
        )
        self.socket_mode = socket_mode
        self.api = WebApi(self.workspace, bot_token=bot_token, app_token=app_token)
        self.api.open_socket = self._open_socket
        self.openid = OpenIDProvider(
            self.workspace,
            client_id=client_id,
            client_secret=client_secret,
            team_name=team_name,
            id_token_clock=id_token_clock or time.time,
        )
        self.api.openid = self.openid
        self._socket: SocketModeServer | None = None
        self._socket_lock = threading.Lock()
        self.bot_url: str | None = None
        self.deliveries: list[Delivery] = []
        self._server: BackgroundServer | None = None
        self._url: str | None = None
        self._people: dict[str, SandboxUser] = {}
        self.workspace.add_user(User(bot_user_id, "recon", "Recon", "UTC", team_id, is_bot=True))

    # -------------------------------------------------------------- lifecycle
    def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackSandbox:
        self._server = BackgroundServer(self.api, host, port).start()
        self._url = self._server.url
        return self

    def stop(self) -> None:
        with self._socket_lock:
            if self._socket is not None:
                self._socket.stop()
                self._socket = None
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> SlackSandbox:
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("SlackSandbox.start() has not been called")
        return self._url

    @property
    def api_url(self) -> str:
        """Pass as `WebClient(base_url=…)`: slack_sdk appends the method name."""
        return f"{self.url}/api/"

    def response_url(self, token: str) -> str:
        return f"{self.url}/response/{token}"

    # --------------------------------------------------------------- Sign in with Slack
    @property
    def client_id(self) -> str:
        return self.openid.client_id

    @property
    def client_secret(self) -> str:
        return self.openid.client_secret

    @property
    def team_name(self) -> str:
        return self.openid.team_name

    @property
    def openid_authorize_url(self) -> str:
        """Pass as `SLACK_OIDC_AUTHORIZE_URL`."""
        return f"{self.url}{AUTHORIZE_PATH}"

    def register_redirect_url(self, url: str) -> None:
        self.openid.register_redirect_url(url)

    def sign_in(self, browser: Any, user_id: str) -> None:
        """Sign a browser (a `requests.Session`) in to this workspace as `user_id`, over HTTP.

        The stand-in sets its session cookie as Slack would; from then on Slack's authorize page
        knows who this browser is. Signing in as someone else replaces the session.
        """
        answer = browser.post(f"{self.url}{SIGNIN_PATH}", data={"user": user_id}, timeout=10)
        if answer.status_code != 200:
            raise ValueError(f"could not sign in as {user_id}: HTTP {answer.status_code}")

    # --------------------------------------------------------------- Socket Mode
    @property
    def app_token(self) -> str:
        """The app-level token (`xapp-…`) that `apps.connections.open` accepts."""
        return self.api.app_token or ""

    @app_token.setter
    def app_token(self, value: str) -> None:
        self.api.app_token = value

    def _open_socket(self) -> str:
        """`apps.connections.open`: start the WebSocket endpoint on first use, issue a URL."""
        with self._socket_lock:
            if self._socket is None:
                self._socket = SocketModeServer(self.team.app_id).start()
            return self._socket.issue_url()

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode connections the app holds open right now."""
        with self._socket_lock:
            return self._socket.connection_count if self._socket is not None else 0

    # --------------------------------------------------------------- setup
    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
    ) -> SandboxUser:
        user = self.workspace.add_user(User(user_id, name, real_name or name, tz, self.team.team_id, email))
        person = SandboxUser(self, user)
        self._people[user_id] = person
        return person

    def user(self, user_id: str) -> SandboxUser:
        return self._people[user_id]

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: list[str] | None = None,
        bot_member: bool = True,
        is_private: bool = False,
    ) -> Channel:
        return self.workspace.add_channel(
            Channel(channel_id, name, set(members or []), bot_member=bot_member, is_private=is_private)
        )

    def invite_bot(self, channel_id: str) -> None:
        with self.workspace.lock:
            self.workspace.channels[channel_id].bot_member = True

    @property
    def messages_tab_enabled(self) -> bool:
        return self.workspace.messages_tab_enabled

    @messages_tab_enabled.setter
    def messages_tab_enabled(self, value: bool) -> None:
        self.workspace.messages_tab_enabled = value

    # ------------------------------------------------------------- delivery
    def deliver(
        self, kind: str, payload: dict[str, Any], body: str, content_type: str, forge: Forge | None = None
    ) -> Delivery:
        """Send one signed payload to `bot_url` (or an envelope over Socket Mode); record the ack."""
        if self.socket_mode:
            return self._deliver_over_socket(kind, payload, forge)
        if not self.bot_url:
            raise RuntimeError("set SlackSandbox.bot_url to the bot's /slack/events URL first")
        status, text, headers, elapsed, error = wire.post(
            self.bot_url,
            signing_secret=self.signing_secret,
            body=body,
            content_type=content_type,
            now=self.sign_clock(),
            forge=forge,
            timeout=self.ack_timeout,
        )
        if error is None and status is not None and not 200 <= status < 300:
            error = "dispatch_failed"
        result = Delivery(
            kind=kind,
            payload=payload,
            status=status,
            body=text,
            headers=headers,
            elapsed=elapsed,
            failed=error,
        )
        with self.workspace.lock:
            self.deliveries.append(result)
        if error:
            log.info("delivery %s failed: %s (HTTP %s)", kind, error, status)
        return result

    def _deliver_over_socket(self, kind: str, payload: dict[str, Any], forge: Forge | None) -> Delivery:
        if forge is not None and any(vars(forge).values()):
            raise ValueError("Socket Mode deliveries are not signed: there is nothing to forge")
        with self._socket_lock:
            socket = self._socket
        if socket is None:
            outcome = SocketResult(envelope_id="", failed="dispatch_failed")
        else:
            outcome = socket.deliver(kind, payload, self.ack_timeout)
        result = Delivery(
            kind=kind,
            payload=payload,
            status=None,
            body=outcome.body,
            elapsed=outcome.elapsed,
            failed=outcome.failed,
            envelope_id=outcome.envelope_id or None,
        )
        with self.workspace.lock:
            self.deliveries.append(result)
        if outcome.failed:
            log.info("socket mode delivery %s failed: %s", kind, outcome.failed)
        return result

    # ------------------------------------------------------------- what users see
    def messages(self, channel: str) -> list[Message]:
        """Public messages in a channel (id or name), oldest first."""
        ws = self.workspace
        with ws.lock:
            channel_id = ws.resolve_channel(channel).id
            return copy.deepcopy(ws.channel_messages.get(channel_id, []))

    def ephemerals(self, user_id: str, channel: str | None = None) -> list[Message]:
        ws = self.workspace
        with ws.lock:
            found = ws.ephemeral.get(user_id, [])
            if channel:
                channel_id = ws.resolve_channel(channel).id
                found = [m for m in found if m.channel == channel_id]
            return copy.deepcopy(found)

    def dms(self, user_id: str) -> list[Message]:
        """Messages in the app's DM with a user (App Home → Messages tab)."""
        ws = self.workspace
        with ws.lock:
            return copy.deepcopy(ws.channel_messages.get(ws.dm_channel(user_id).id, []))

    def open_views(self, user_id: str) -> list[View]:
        """The user's modal stack, bottom first (the last one is what they see)."""
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.stack(user_id))

    def view(self, view_id: str) -> View:
        with self.workspace.lock:
            return copy.deepcopy(self.workspace.views[view_id])

    def home(self, user_id: str) -> View | None:
        ws = self.workspace
        with ws.lock:
            view = ws.views.get(ws.homes.get(user_id, ""))
            return copy.deepcopy(view)

    def screen(self, item: Visible, width: int = 100) -> Rendered | None:
        """What the change in `item` looks like now (for a console printing `events` in order).

        None when there is nothing left to show (a deleted message, a closed view).
        """
        ws = self.workspace
        with ws.lock:
            if item.kind in {"message", "ephemeral", "updated"} and item.channel and item.ref:
                for pool in (
                    ws.channel_messages.get(item.channel, []),
                    ws.ephemeral.get(item.user or "", []),
                ):
                    for message in pool:
                        if message.ts == item.ref and message.channel == item.channel:
                            return render_message(copy.deepcopy(message), width=width)
                return None
            view = ws.views.get(item.ref or "")
            if view is None or view.closed:
                return None
            snapshot = copy.deepcopy(view)
        return render_view(snapshot, width=min(width, 72))

    # ------------------------------------------------------------- records
    @property
    def calls(self) -> list[ApiCall]:
        with self.workspace.lock:
            return list(self.api.calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def response_url_posts(self) -> list[ResponseUrlPost]:
        with self.workspace.lock:
            return list(self.api.response_url_posts)

    @property
    def invalid_payloads(self) -> list[InvalidPayload]:
        with self.workspace.lock:
            return list(self.workspace.invalid_payloads)

    @property
    def warnings(self) -> list[str]:
        with self._socket_lock:
            socket_warnings = list(self._socket.warnings) if self._socket is not None else []
        with self.workspace.lock:
            return list(self.workspace.warnings) + socket_warnings

    @property
    def events(self) -> list[Visible]:
        with self.workspace.lock:
            return list(self.workspace.events)

    def subscribe(self, listener: Callable[[Visible], None]) -> None:
        """Call `listener` for every visible change, in order (for the demo console)."""
        self.workspace.subscribe(listener)

    @property
    def faults(self) -> Faults:
        return self.api.faults

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
        """Poll until `predicate()` is truthy (the bot answers after its ack, on its own thread)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(interval)
