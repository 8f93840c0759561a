"""Everything on 127.0.0.1: the Xero sandbox, the Slack stand-in and the bot's web app.

Used by the end-to-end tests, ``bench/ack.py`` and the demo. Each piece talks to the others
over real sockets exactly as in production — the bot only knows them through its settings — on
free ports, with a throw-away SQLite database::

    with Stack() as stack:
        alice = stack.slack.add_user("U0ALICE", "alice")
        stack.connect(alice)                      # /recon connect → Sign in with Slack → Xero → DM
        alice.command("/recon", "search zephyr")  # signed, delivered to stack.events_url

By default the bot runs in this process (tests can reach ``stack.services``). With
``in_process=False`` it runs as ``recon-bot serve`` in a child process, so a benchmark measures
a bot that does not share an interpreter (and its GIL) with the load generator and the
stand-ins; ``stack.services`` is then None.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from bot.config import (
    NEEDS_SIGNIN,
    NEEDS_SLACK,
    NEEDS_SOCKET,
    NEEDS_XERO,
    SLACK_SIGNIN_CALLBACK_PATH,
    Settings,
)
from bot.sandbox.slack import SlackSandbox
from bot.sandbox.xero import XeroSandbox

log = logging.getLogger(__name__)

CHILD_START_TIMEOUT_S = 30.0
# How a child-process bot is run: `recon-bot serve`, gunicorn as in the Procfile, or
# `recon-bot serve --socket-mode` (Slack over the stand-in's WebSocket, no signing secret).
SERVERS = ("serve", "gunicorn", "socket-mode")


class _Late:
    """A WSGI app filled in after the server is bound (the bot's settings need the port)."""

    def __init__(self) -> None:
        self.app: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return self.app(environ, start_response)


class _Quiet(WSGIRequestHandler):
    """No access log: tests and the demo have their own output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_environ(
    xero: XeroSandbox,
    *,
    database_url: str,
    redirect_uri: str,
    slack: SlackSandbox | None = None,
    encryption_key: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment that points a bot at these stand-ins (settings are all it knows of them)."""
    slack_env = (
        {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "RECON_SLACK_CLIENT_ID": slack.client_id,
            "RECON_SLACK_CLIENT_SECRET": slack.client_secret,
            "SLACK_OIDC_AUTHORIZE_URL": slack.openid_authorize_url,
        }
        if slack is not None
        else {
            "SLACK_BOT_TOKEN": "xoxb-offline",
            "SLACK_SIGNING_SECRET": "offline-signing-secret",
            "RECON_SLACK_CLIENT_ID": "1.1",
            "RECON_SLACK_CLIENT_SECRET": "offline-slack-client-secret",
        }
    )
    return {
        **slack_env,
        **xero.bot_settings(),
        "XERO_REDIRECT_URI": redirect_uri,
        "DATABASE_URL": database_url,
        "RECON_ENCRYPTION_KEY": encryption_key or Fernet.generate_key().decode(),
        **extra,
    }


class Stack:
    """The three parties wired together. ``bot_url`` is the bot's base URL; Slack posts to ``events_url``.

    ``xero_options`` go to :class:`XeroSandbox` (``transactions``, ``organisations``, limits…);
    ``workers`` sizes the services executor (the pool for Xero work, in-process only), and
    ``executor`` replaces it (the demo passes one that counts work in flight).
    """

    def __init__(
        self,
        *,
        xero: XeroSandbox | None = None,
        slack: SlackSandbox | None = None,
        xero_options: dict[str, Any] | None = None,
        workers: int = 32,
        executor: Executor | None = None,
        env: dict[str, str] | None = None,
        in_process: bool = True,
        server: str = "serve",
    ) -> None:
        self.xero = xero or XeroSandbox(**(xero_options or {}))
        self.slack = slack or SlackSandbox()
        self.in_process = in_process
        if server not in SERVERS:
            raise ValueError(f"server must be one of {', '.join(SERVERS)}")
        self.server = server
        self._workers = workers
        self._executor = executor
        self._extra_env = dict(env or {})
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self.services: Any = None
        self.settings: Settings | None = None
        self.environ: dict[str, str] = {}
        self.web: Any = None
        self.bolt: Any = None
        self.bot_url = ""
        self.events_url = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Stack:
        try:
            self.xero.start()
            self.slack.start()
            self._tmp = tempfile.TemporaryDirectory(prefix="recon-stack-")
            if self.in_process:
                late = _Late()
                self._server = make_server("127.0.0.1", 0, late, threaded=True, request_handler=_Quiet)
                port = self._server.server_port
            else:
                port = free_port()
            self.bot_url = f"http://127.0.0.1:{port}"
            self.events_url = f"{self.bot_url}/slack/events"
            redirect_uri = f"{self.bot_url}/xero/callback"
            self.xero.register_redirect_uri(redirect_uri)
            # The Slack app's Redirect URL for Sign in with Slack, and ID tokens stamped by the
            # clock the bot follows (the Xero sandbox's), as real Slack, Xero and bot share one.
            self.slack.register_redirect_url(f"{self.bot_url}{SLACK_SIGNIN_CALLBACK_PATH}")
            self.slack.openid.id_token_clock = self.xero.clock.timestamp
            self.environ = bot_environ(
                self.xero,
                slack=self.slack,
                database_url=f"sqlite:///{Path(self._tmp.name) / 'recon.db'}",
                redirect_uri=redirect_uri,
                PORT=str(port),
                **self._extra_env,
            )
            needs = [NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN]
            if self.server == "socket-mode":
                del self.environ["SLACK_SIGNING_SECRET"]  # nothing reaches the bot from Slack over HTTP
                self.environ["SLACK_APP_TOKEN"] = self.slack.app_token
                needs.append(NEEDS_SOCKET)
            self.settings = Settings.from_env(self.environ, needs=needs, dotenv_path=None)
            if self.in_process:
                self._start_here(late)
            else:
                self._start_child()
            self.slack.bot_url = self.events_url
        except BaseException:
            self.stop()
            raise
        return self

    def _start_here(self, late: _Late) -> None:
        from bot.services.container import build_services
        from bot.web import build_web

        assert self._server is not None and self.settings is not None
        # A given executor serves the mirror's deltas too, so whoever counts work in flight (the
        # demo's console) also waits for a delta a search started.
        self.services = build_services(
            self.settings,
            now=self.xero.clock.now,
            workers=self._workers,
            executor=self._executor,
            sync_executor=self._executor,
        )
        self.web, self.bolt = build_web(self.settings, self.services)
        late.app = self.web
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="recon-web", daemon=True
        )
        self._thread.start()

    def _start_child(self) -> None:
        """``recon-bot serve`` (or gunicorn) with this stack's settings; waits until /healthz answers."""
        assert self._tmp is not None and self.settings is not None
        log_path = self.log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "XERO_"))}
        env.update(self.environ)
        if self.server == "gunicorn":
            # As in the Procfile: the release step migrates, then threaded workers serve.
            subprocess.run(
                [sys.executable, "-m", "bot", "db", "upgrade"],
                env=env,
                cwd=self._tmp.name,
                check=True,
                capture_output=True,
            )
            command = [
                sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--threads", "16",
                "--workers", "2", "--bind", f"127.0.0.1:{self.settings.port}", "bot.web:create_app()",
            ]  # fmt: skip
        else:
            command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1"]
            if self.server == "socket-mode":
                command.append("--socket-mode")
        with open(log_path, "wb") as out:
            self._child = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._tmp.name,  # no stray .env from the caller's directory
            )
        deadline = time.monotonic() + CHILD_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                raise RuntimeError(f"the bot exited at start-up:\n{log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.bot_url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet, or a worker still booting
            time.sleep(0.05)
        raise RuntimeError(f"the bot did not come up in {CHILD_START_TIMEOUT_S:.0f} s")

    @property
    def child(self) -> subprocess.Popen[bytes] | None:
        """The bot's process when it runs out of process (None in-process or once stopped)."""
        return self._child

    @property
    def log_path(self) -> Path:
        """What a child-process bot printed."""
        assert self._tmp is not None
        return Path(self._tmp.name) / "bot.log"

    def stop_bot(self) -> None:
        """Stop taking requests; work already handed to the executor goes on (see :meth:`stop`)."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
                self._thread = None
            self._server.server_close()
            self._server = None

    def stop(self) -> None:
        """Stop everything (the bot first, so nothing new starts)."""
        self.xero.faults.clear()  # release held calls so in-flight work can finish
        if self._child is not None:
            self._child.send_signal(signal.SIGINT)
            try:
                self._child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
            self._child = None
        self.stop_bot()
        if self.services is not None:
            self.services.close()  # queued work is cancelled; running work ends against stopped stand-ins
            self.services = None
        self.slack.stop()
        self.xero.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ conveniences
    def consent_url_from(self, message: Any) -> str:
        """The URL of the Connect/Reconnect button in a message the bot showed."""
        for block in message.blocks or []:
            for element in block.get("elements") or [block.get("accessory") or {}]:
                if (
                    isinstance(element, dict)
                    and element.get("url")
                    and "connect" in element.get("action_id", "")
                ):
                    return element["url"]
        raise LookupError("no Connect button in that message")

    def browser(self, signed_in_as: Any) -> requests.Session:
        """A fresh browser, signed in to the Slack stand-in as ``signed_in_as`` (a user or an id)."""
        session = requests.Session()
        self.slack.sign_in(session, getattr(signed_in_as, "id", signed_in_as))
        return session

    def follow_consent(
        self, consent_url: str, signed_in_as: Any, *, browser: requests.Session | None = None
    ) -> requests.Response:
        """Be a browser opening a Connect link: Recon's start → Sign in with Slack (as
        ``signed_in_as``) → Recon → Xero's consent (auto-approving) → Recon's callback.

        ``browser`` continues in a browser that already exists (its cookies go along)."""
        session = browser or self.browser(signed_in_as)
        return session.get(consent_url, timeout=10, allow_redirects=True)

    def connect(self, user: Any, *, timeout: float = 5.0) -> requests.Response:
        """``/recon connect`` as ``user``, press the button in their browser, wait for the welcome DM."""
        before = len(self.slack.dms(user.id))
        user.command("/recon", "connect")
        message = self.slack.wait_for(lambda: _last_with_url(self.slack.ephemerals(user.id)), timeout)
        page = self.follow_consent(self.consent_url_from(message), user)
        if page.status_code != 200:
            raise RuntimeError(f"consent failed: HTTP {page.status_code}")
        self.slack.wait_for(lambda: len(self.slack.dms(user.id)) > before, timeout)
        return page


def _last_with_url(messages: list[Any]) -> Any:
    for message in reversed(messages):
        for block in message.blocks or []:
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("url"):
                    return message
    return None
