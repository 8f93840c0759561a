"""The bot's HTTP side: one WSGI app for Slack, the Xero consent callback and a health check.

Routes:

* ``POST /slack/events`` — slash commands, interactivity and events, all through Bolt (which
  checks the signature and rejects timestamps more than 5 minutes old with 401). Not served in
  Socket Mode, where Slack talks over the socket instead.
* ``GET /connect/start`` — what the Connect button opens: spends the link's state and sends the
  browser to Sign in with Slack (with a browser-binding cookie).
* ``GET|POST /connect/slack`` — where Slack sends the browser back: the ID token must name the
  link's owner, or the browser gets a page saying so and nothing reaches Xero; else on to Xero.
* ``GET /xero/callback`` — where Xero sends the browser after consent. Small HTML pages for
  every outcome; never a token, code or state in the page; the Slack user also gets a DM.
* ``GET /healthz`` — 200 ``{"status": "ok"}`` when the database answers, else 503.

HEAD on any of the three consent routes answers 200 and spends nothing (link checkers probe
with HEAD).

``serve()`` runs it with werkzeug's threaded server (``recon-bot serve``); production runs
``create_app()`` under gunicorn (see the Procfile).
"""

from __future__ import annotations

import html
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from bot.config import CONNECT_START_PATH, SLACK_SIGNIN_CALLBACK_PATH
from bot.services.errors import ConsentFailed
from bot.slack import blocks, editing
from bot.slack.app import Identity, build_app, make_client
from bot.slack.first_sync import read_organisations
from bot.slack.handoff import AFTER_RESPONSE, AckFirst, guarded, run_after_response
from bot.slack.home import publish_home

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
CALLBACK_PATH = "/xero/callback"
HEALTH_PATH = "/healthz"
# The browser-binding secret of a Connect link in flight (see bot.services.signin). Long enough
# for the two 10-minute steps after the start; `__Host-` pins it to our host when served on https.
BROWSER_COOKIE = "recon_connect"
BROWSER_COOKIE_MAX_AGE_S = 30 * 60
HTTP_THREADS = 64  # connections served at once by `recon-bot serve`
MAX_SLACK_BODY = 1024 * 1024  # Slack's payloads are far smaller; refuse anything bigger unread

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_SETTINGS = 2

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the callback URL carries the code and state
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'",
}

# ConsentFailed.reason → (HTTP status, page title)
_CONSENT_PAGES = {
    "cancelled": (200, "Nothing was connected"),
    "expired": (400, "This link has expired"),
    "used": (400, "This link was already used"),
    "invalid": (400, "This link isn't valid"),
    "xero_error": (502, "Xero couldn't finish connecting"),
    "other_user": (403, "This link was made for someone else"),
    "other_browser": (400, "Open the link in the browser you started in"),
    "slack_cancelled": (200, "Nothing was connected"),
    "slack_error": (502, "Slack couldn't confirm who you are"),
}


class ReconWeb:
    """The WSGI callable. ``bolt`` is None in Socket Mode (Slack arrives over the socket)."""

    def __init__(
        self,
        services: Any,
        bolt: App | None,
        client: WebClient,
        *,
        ack_first: AckFirst | None = None,
        team_app_id: str | None = None,
        secure_cookies: bool = False,
    ):
        self.services = services
        self.bolt = bolt
        self.client = client
        self.ack_first = ack_first or AckFirst()
        self._app_id = team_app_id
        self._lock = threading.Lock()
        self.secure_cookies = secure_cookies
        self.browser_cookie = f"__Host-{BROWSER_COOKIE}" if secure_cookies else BROWSER_COOKIE

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_SLACK_BODY
        response = self.route(request)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == EVENTS_PATH and self.bolt is not None:
            if request.method != "POST":
                return _plain("Slack sends POST requests here.", 405, {"Allow": "POST"})
            return self.slack(request)
        if path in (CONNECT_START_PATH, SLACK_SIGNIN_CALLBACK_PATH, CALLBACK_PATH):
            if request.method == "HEAD":
                # Link checkers probe with HEAD; only the browser's GET may spend the one-time state.
                return _plain("", 200)
            # Slack's callback also takes a form POST, in case Slack answers with response_mode=form_post.
            allowed = ("GET", "POST") if path == SLACK_SIGNIN_CALLBACK_PATH else ("GET",)
            if request.method not in allowed:
                return _plain("The browser comes here with GET.", 405, {"Allow": ", ".join(allowed)})
            if path == CONNECT_START_PATH:
                return self.connect_start(request)
            if path == SLACK_SIGNIN_CALLBACK_PATH:
                return self.slack_callback(request)
            return self.xero_callback(request)
        if path == HEALTH_PATH:
            return self.health()
        return _plain("Not found.", 404)

    # ------------------------------------------------------------------ Slack
    def slack(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _plain("Request body too large.", 413)
        after: list[Callable[[], None]] = []
        bolt_request = BoltRequest(
            body=raw.decode("utf-8", errors="replace"),
            query=request.query_string.decode("latin-1"),
            headers={k.lower(): [v] for k, v in request.headers.items()},
            context={AFTER_RESPONSE: after},
        )
        assert self.bolt is not None
        self.ack_first.enter()
        try:
            bolt_response = self.bolt.dispatch(bolt_request)
        finally:
            self.ack_first.exit()
        if bolt_response.status == 200:
            self._learn_app_id(bolt_request.body)
        response = Response(bolt_response.body, status=bolt_response.status)
        for name, values in bolt_response.headers.items():
            for value in values:
                response.headers.add(name, value)
        # How long the ack took inside the bot (standard header; bench/ack.py reads it).
        response.headers["Server-Timing"] = f"ack;dur={(time.perf_counter() - started) * 1000:.1f}"
        if after:
            # Follow-up work starts once Slack has the ack, so it can't overtake it.
            response.call_on_close(lambda: run_after_response(after))
        return response

    def _learn_app_id(self, body: Any) -> None:
        """Remember our app id from a verified request, for the ``slack://app`` link on the consent page."""
        if self._app_id or not isinstance(body, dict):
            return
        app_id = body.get("api_app_id")
        if isinstance(app_id, str) and app_id:
            with self._lock:
                self._app_id = app_id

    # ------------------------------------------------------------------ Sign in with Slack
    def connect_start(self, request: Request) -> Response:
        """The Connect button: spend its state, give the browser its binding, go to Slack."""
        try:
            step = self.services.signin.start(
                state=request.args.get("state"), browser=request.cookies.get(self.browser_cookie)
            )
        except ConsentFailed as exc:
            return _refused("connect start", exc)
        except Exception:  # noqa: BLE001 - the browser gets a page; the log gets the traceback
            log.exception("connect start failed")
            return _went_wrong()
        return self._redirect(step.location, step.browser)

    def slack_callback(self, request: Request) -> Response:
        """Slack's answer: on to Xero only if the ID token names the link's owner."""
        values = request.form if request.method == "POST" else request.args
        try:
            step = self.services.signin.finish(
                code=values.get("code"),
                state=values.get("state"),
                error=values.get("error"),
                browser=request.cookies.get(self.browser_cookie),
            )
        except ConsentFailed as exc:
            return _refused("sign-in callback", exc)
        except Exception:  # noqa: BLE001 - the browser gets a page; the log gets the traceback
            log.exception("sign-in callback failed")
            return _went_wrong()
        return self._redirect(step.location, step.browser)

    def _redirect(self, location: str, browser: str) -> Response:
        response = Response("", status=302, headers={**_SECURITY_HEADERS, "Location": location})
        # SameSite=None (with Secure) so the cookie also comes back on a cross-site form POST
        # from Slack; on plain http (local runs) browsers demand Lax instead.
        response.set_cookie(
            self.browser_cookie,
            browser,
            max_age=BROWSER_COOKIE_MAX_AGE_S,
            path="/",
            secure=self.secure_cookies,
            httponly=True,
            samesite="None" if self.secure_cookies else "Lax",
        )
        return response

    # ------------------------------------------------------------------ Xero consent
    def xero_callback(self, request: Request) -> Response:
        args = request.args
        try:
            result = self.services.connect.complete_consent(
                code=args.get("code"),
                state=args.get("state"),
                error=args.get("error"),
                browser=request.cookies.get(self.browser_cookie),
            )
        except ConsentFailed as exc:
            return _refused("consent callback", exc)
        except Exception:  # noqa: BLE001 - the browser gets a page; the log gets the traceback
            log.exception("consent callback failed")
            return _went_wrong()
        team_id = result.grant.slack_team_id
        user_id = result.grant.slack_user_id
        self.services.executor.submit(
            guarded(
                lambda: self._welcome(team_id, user_id, result),
                lambda exc: log.warning("consent DM to %s failed: %s", user_id, exc),
                "consent DM",
            )
        )
        names = [t.tenant_name for t in (result.added or result.tenants)]
        listed = "".join(f"<li>{html.escape(n)}</li>" for n in names[:50])
        home = self._slack_link(team_id)
        holder = html.escape(result.slack_user_name or f"Slack user {user_id}")
        workspace = html.escape(result.slack_team_name or f"workspace {team_id}")
        body = (
            f"<p>Connected for <strong>{holder}</strong> in <strong>{workspace}</strong>.</p>"
            f"<p>Recon can now use {'this organisation' if len(names) == 1 else 'these organisations'} "
            f"with your Xero login:</p><ul>{listed}</ul>"
            "<p>You can close this tab and return to Slack — I've sent you a message there.</p>"
            f'<p><a class="button" href="{html.escape(home)}">Open Recon in Slack</a></p>'
        )
        return _page("Connected to Xero", body, 200, ok=True)

    def _welcome(self, team_id: str, user_id: str, result: Any) -> None:
        """The DM naming the organisations (with "Make default" buttons), then a fresh Home tab,
        and any open edit modal that was waiting for this connection gets its form; then the
        first sync of each new organisation, its progress shown in the same DM."""
        message = blocks.consent_success_dm(result.tenants, result.added)
        try:
            editing.resume_after_connect(self.services, self.client, team_id, user_id)
        except Exception:  # noqa: BLE001 - the modal keeps its "I've connected" button
            log.exception("could not fill the modals waiting for %s's connection", user_id)
        dm = self.client.chat_postMessage(channel=user_id, **message)
        try:
            publish_home(self.services, self.client, team_id, user_id)
        except SlackApiError as exc:
            log.info("home refresh after consent failed: %s", exc.response.get("error"))
        # Then read the new organisations into the mirror at once, the DM showing how far.
        read_organisations(
            self.services,
            self.client,
            dm,
            result.added or result.tenants,
            base=lambda: blocks.consent_success_dm(
                self.services.connect.organisations(team_id, user_id), result.added
            ),
        )

    def _slack_link(self, team_id: str) -> str:
        with self._lock:
            app_id = self._app_id
        if app_id:
            return blocks.slack_home_link(team_id, app_id)
        return f"slack://open?team={team_id}"

    # ------------------------------------------------------------------ health
    def health(self) -> Response:
        try:
            with self.services.db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"; the log says which
            log.warning("health check: database unreachable (%s)", type(exc).__name__)
            return _json({"status": "unavailable", "database": "unreachable"}, 503)
        return _json({"status": "ok"}, 200)


# ---------------------------------------------------------------------- responses
def _refused(step: str, exc: ConsentFailed) -> Response:
    status, title = _CONSENT_PAGES.get(exc.reason, (400, "Nothing was connected"))
    log.info("%s refused: %s", step, exc.reason)
    return _page(title, f"<p>{_sentence_html(str(exc))}</p>", status, ok=False)


def _went_wrong() -> Response:
    return _page(
        "Something went wrong",
        "<p>Recon couldn't finish connecting to Xero, so nothing was connected. "
        "Please run <code>/recon connect</code> in Slack and try again.</p>",
        500,
        ok=False,
    )


def _sentence_html(sentence: str) -> str:
    """A service sentence as HTML: escaped, with its `code` spans shown as code."""
    parts = html.escape(sentence, quote=False).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _plain(body: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, mimetype="text/plain", headers=headers)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers={"Cache-Control": "no-store"}
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Recon</title>
<style>
 body {{ font: 16px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
        background: #f4f5f7; color: #1d1c1d; margin: 0; }}
 main {{ max-width: 32rem; margin: 10vh auto; background: #fff; border-radius: 12px;
        padding: 2rem 2.25rem; box-shadow: 0 1px 3px rgba(0,0,0,.12); }}
 h1 {{ font-size: 1.4rem; margin: 0 0 1rem; }}
 .mark {{ font-size: 2.2rem; }}
 ul {{ padding-left: 1.2rem; }}
 code {{ background: #f0f0f0; padding: 0 .25rem; border-radius: 4px; }}
 a.button {{ display: inline-block; background: #13b5ea; color: #fff; text-decoration: none;
            padding: .55rem 1rem; border-radius: 6px; font-weight: 600; }}
 footer {{ color: #6b6b6b; font-size: .85rem; margin-top: 1.5rem; }}
</style></head>
<body><main>
<div class="mark">{mark}</div>
<h1>{title}</h1>
{body}
<footer>Recon — Xero bank transactions in Slack</footer>
</main></body></html>
"""


def _page(title: str, body_html: str, status: int, *, ok: bool) -> Response:
    page = _PAGE.format(title=html.escape(title), body=body_html, mark="✅" if ok else "⚠️")
    return Response(page, status=status, mimetype="text/html", headers=_SECURITY_HEADERS)


# ---------------------------------------------------------------------- assembly
def build_web(settings: Any, services: Any, *, socket_mode: bool = False, identity: Identity | None = None):
    """(WSGI app, Bolt app) wired together; the Bolt app is returned for Socket Mode's handler."""
    client = make_client(settings)
    ack_first = AckFirst()
    bolt = build_app(settings, services, identity=identity or Identity(client), ack_first=ack_first)
    secure = settings.public_base.startswith("https://")
    web = ReconWeb(
        services, None if socket_mode else bolt, client, ack_first=ack_first, secure_cookies=secure
    )
    return web, bolt


def _check_slack(identity: Identity, settings: Any) -> str | None:
    """One ``auth.test`` at start-up: a wrong token stops the process with one clear line."""
    try:
        me = identity.get()
    except SlackApiError as exc:
        error = exc.response.get("error")
        return f"Slack rejected SLACK_BOT_TOKEN ({error}); copy the app's Bot User OAuth Token again"
    except (SlackClientError, OSError) as exc:
        return f"can't reach Slack at {settings.slack_api_url} ({type(exc).__name__})"
    log.info("signed in to Slack team %s as bot user %s", me.team_id, me.user_id)
    return None


def create_app() -> ReconWeb:
    """For gunicorn: ``gunicorn 'bot.web:create_app()'``. Settings from the environment."""
    from bot.config import NEEDS_SIGNIN, NEEDS_SLACK, NEEDS_XERO, Settings, SettingsError
    from bot.services.container import build_services

    _configure_logging()
    try:
        settings = Settings.from_env(needs=[NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN])
    except SettingsError as exc:
        for line in exc.problems:
            print(f"recon: {line}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS) from None
    identity = Identity(make_client(settings))
    problem = _check_slack(identity, settings)
    if problem:
        print(f"recon: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS)
    services = build_services(settings)
    web, _bolt = build_web(settings, services, identity=identity)
    return web


class PooledWSGIServer(BaseWSGIServer):
    """werkzeug's server with a pool of ready threads instead of a new thread per connection.

    Starting a thread waits for it to run, and under load every start waits its turn for the
    interpreter lock, so with a thread per connection a burst of 50 Slack requests queued at
    the accept loop for over 100 ms. Ready threads make accepting a connection a queue put.
    """

    multithread = True

    def __init__(self, host: str, port: int, app: Any, *, threads: int = HTTP_THREADS, **kwargs: Any) -> None:
        super().__init__(host, port, app, **kwargs)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")
        ready = threading.Barrier(threads + 1)
        for _ in range(threads):
            self._pool.submit(ready.wait)
        ready.wait()

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._handle, request, client_address)

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's own policy: report and carry on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class QuietRequestHandler(WSGIRequestHandler):
    """Access log lines without query strings: the consent routes' carry codes and states."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        log.info('%s "%s %s" %s %s', self.address_string(), self.command, path, code, size)


def serve(settings: Any, *, socket_mode: bool = False, host: str = "0.0.0.0") -> int:
    """``recon-bot serve``: migrate, check the Slack token, then serve until interrupted."""
    from bot.services.container import build_services
    from storage import migrate

    _configure_logging()
    identity = Identity(make_client(settings))
    problem = _check_slack(identity, settings)
    if problem:
        print(f"recon: {problem}", file=sys.stderr)
        return EXIT_SETTINGS
    services = build_services(settings, migrate_schema=False)
    migrate.upgrade(services.db.engine)
    web, bolt = build_web(settings, services, socket_mode=socket_mode, identity=identity)
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(
            bolt, settings.slack_app_token.reveal(), web_client=WebClient(base_url=settings.slack_api_url)
        )
        socket_handler.connect()
    server = PooledWSGIServer(host, settings.port, web, handler=QuietRequestHandler)
    where = "Slack over Socket Mode; " if socket_mode else f"Slack at {EVENTS_PATH}; "
    routes = f"{CONNECT_START_PATH}, {SLACK_SIGNIN_CALLBACK_PATH}, {CALLBACK_PATH}, {HEALTH_PATH}"
    print(f"recon: serving on http://{host}:{settings.port} ({where}{routes})")
    if threading.current_thread() is threading.main_thread():
        # Platforms stop processes with SIGTERM; treat it like Ctrl-C so the socket and the
        # pools close cleanly instead of the process dying mid-request.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()  # werkzeug's loop swallows KeyboardInterrupt and returns
    except KeyboardInterrupt:
        pass
    finally:
        print("recon: stopping", flush=True)
        server.server_close()
        if socket_handler is not None:
            socket_handler.close()
        services.close()
    return EXIT_OK


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
