"""Settings from the environment (and a ``.env`` file), validated all at once.

Start-up fails with one line per problem, each naming the variable, so an operator fixes every
mistake in one go instead of one restart per typo. Secrets are wrapped in :class:`Secret` so they
cannot leak through ``repr``, logging or tracebacks by accident.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

DEFAULT_SCOPES = "openid profile email offline_access accounting.banktransactions accounting.settings.read"
XERO_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
XERO_IDENTITY_URL = "https://identity.xero.com"
XERO_API_URL = "https://api.xero.com"
SLACK_API_URL = "https://slack.com/api/"
XERO_CALLBACK_PATH = "/xero/callback"  # the route bot.web serves for Xero's redirect
SLACK_OIDC_AUTHORIZE_URL = "https://slack.com/openid/connect/authorize"
# Sign in with Slack routes, served beside XERO_CALLBACK_PATH (see Settings.public_base).
CONNECT_START_PATH = "/connect/start"
SLACK_SIGNIN_CALLBACK_PATH = "/connect/slack"
_SLACK_CLIENT_ID_SHAPE = re.compile(r"^[0-9]+\.[0-9]+$")  # Basic Information → Client ID

# Which settings each process needs; ``check`` asks for all of them.
NEEDS_SLACK = "slack"
NEEDS_SOCKET = "socket"
NEEDS_XERO = "xero"
NEEDS_SIGNIN = "signin"  # the web process: Sign in with Slack in front of Xero's consent


class Secret:
    """A string that never shows itself in ``repr``/``str``; call :meth:`reveal` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# Xero's smallest developer tier, where every new app starts: 1,000 calls per organisation per
# day (5 connections). The standard tier allows 5,000.
STARTER_DAILY_LIMIT = 1000
STANDARD_DAILY_LIMIT = 5000

DEPRECATED = {
    "RECON_XERO_PROCESSES": (
        "RECON_XERO_PROCESSES is no longer used and can be removed: every process now shares one "
        "Xero budget through the database"
    ),
}


class SettingsError(Exception):
    """Every problem found, one human line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    slack_bot_token: Secret = field(default_factory=lambda: Secret(""))
    slack_signing_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_app_token: Secret = field(default_factory=lambda: Secret(""))
    slack_api_url: str = SLACK_API_URL
    xero_client_id: str = ""
    xero_client_secret: Secret = field(default_factory=lambda: Secret(""))
    xero_redirect_uri: str = ""
    xero_scopes: tuple[str, ...] = tuple(DEFAULT_SCOPES.split())
    xero_authorize_url: str = XERO_AUTHORIZE_URL
    xero_identity_url: str = XERO_IDENTITY_URL
    xero_api_url: str = XERO_API_URL
    database_url: str = "sqlite:///recon.db"
    encryption_keys: Secret = field(default_factory=lambda: Secret(""))
    port: int = 3000
    xero_daily_limit: int = STARTER_DAILY_LIMIT
    deprecations: tuple[str, ...] = ()  # settings still accepted but no longer used: one line each
    slack_client_id: str = ""
    slack_client_secret: Secret = field(default_factory=lambda: Secret(""))
    slack_oidc_authorize_url: str = SLACK_OIDC_AUTHORIZE_URL
    mirror_interval: int = 300  # seconds between the clock's syncs of each organisation
    mirror_max_age: int = 60  # seconds a search trusts the mirror before asking for a delta
    mirror_daily_share: float = 0.5  # of XERO_DAILY_LIMIT the sync may spend per organisation

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def public_base(self) -> str:
        """Where browsers reach Recon: XERO_REDIRECT_URI without its ``/xero/callback``.

        That is ``https://host``, or ``https://host/prefix`` behind a proxy that mounts Recon
        under a prefix. The Sign in with Slack routes are served beside the Xero callback and
        derived from it rather than set on their own: one host for the browser-binding cookie
        set at the start and read at both callbacks, and no second URL to keep in step.
        """
        uri = self.xero_redirect_uri
        if uri.endswith(XERO_CALLBACK_PATH):
            return uri[: -len(XERO_CALLBACK_PATH)]
        parts = urlparse(uri)
        return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    @property
    def connect_start_url(self) -> str:
        """What the Connect button opens: Recon's own start route."""
        return self.public_base + CONNECT_START_PATH

    @property
    def slack_oidc_redirect_uri(self) -> str:
        """Where Slack sends the browser back after Sign in with Slack (a Redirect URL of the app)."""
        return self.public_base + SLACK_SIGNIN_CALLBACK_PATH

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        needs: Iterable[str] = (),
        dotenv_path: str | None = ".env",
    ) -> Settings:
        """Read and validate; raise :class:`SettingsError` listing every problem."""
        settings, problems = cls.inspect(environ, needs=needs, dotenv_path=dotenv_path)
        if problems:
            raise SettingsError(problems)
        return settings

    @classmethod
    def inspect(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        needs: Iterable[str] = (),
        dotenv_path: str | None = ".env",
    ) -> tuple[Settings, list[str]]:
        """What could be read, and every problem, without raising: for ``recon-bot check``, which
        goes on to check the database and the network with whatever is usable. Each problem starts
        with the name of the variable it is about, and a value named there must not be relied on."""
        problems: list[str] = []
        return _build(environment(environ, dotenv_path), set(needs), problems), problems


def environment(environ: Mapping[str, str] | None = None, dotenv_path: str | None = ".env") -> dict[str, str]:
    """The variables settings are read from: the ``.env`` file, overridden by the environment."""
    env = dict(_read_dotenv(dotenv_path)) if dotenv_path else {}
    env.update(os.environ if environ is None else environ)
    return env


def _read_dotenv(path: str) -> Mapping[str, str]:
    if not os.path.exists(path):
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def _is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


def redirect_uri_problem(uri: str) -> str | None:
    """Why Xero would refuse ``uri`` or send the browser nowhere, or None when it is usable.

    Xero accepts http only for localhost, and Recon serves exactly one callback route, so a URI
    that fails either rule breaks every consent at its last step; start-up refuses it instead.
    """
    if not _is_http_url(uri):
        return "XERO_REDIRECT_URI must be an absolute http(s) URL"
    parsed = urlparse(uri)
    example = f"https://{parsed.hostname or 'recon.example.com'}{XERO_CALLBACK_PATH}"
    if parsed.fragment or uri.endswith("#"):
        return f"XERO_REDIRECT_URI must not contain a #fragment (OAuth forbids it), e.g. {example}"
    if not parsed.path.endswith(XERO_CALLBACK_PATH):
        return (
            f"XERO_REDIRECT_URI must end in {XERO_CALLBACK_PATH}, the only callback route Recon serves, "
            f"e.g. {example}"
        )
    if parsed.scheme != "https" and parsed.hostname not in LOCAL_HOSTS:
        return f"XERO_REDIRECT_URI must use https (Xero allows http only for localhost), e.g. {example}"
    return None


def _build(env: Mapping[str, str], needs: set[str], problems: list[str]) -> Settings:
    def get(name: str, default: str = "") -> str:
        return env.get(name, default).strip()

    def require(name: str, group: str) -> str:
        value = get(name)
        if group in needs and not value:
            problems.append(f"{name} is not set")
        return value

    bot_token = require("SLACK_BOT_TOKEN", NEEDS_SLACK)
    if bot_token and not bot_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    signing_secret = get("SLACK_SIGNING_SECRET")
    if NEEDS_SLACK in needs and NEEDS_SOCKET not in needs and not signing_secret:
        problems.append("SLACK_SIGNING_SECRET is not set")
    app_token = require("SLACK_APP_TOKEN", NEEDS_SOCKET)
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    if get("SLACK_CLIENT_ID") and get("SLACK_CLIENT_SECRET"):
        # Bolt silently switches to its own OAuth flow and ignores SLACK_BOT_TOKEN.
        problems.append(
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must not both be set: Recon uses a single "
            "workspace bot token, and Bolt would ignore SLACK_BOT_TOKEN"
        )

    urls = {
        "SLACK_API_URL": get("SLACK_API_URL", SLACK_API_URL),
        "SLACK_OIDC_AUTHORIZE_URL": get("SLACK_OIDC_AUTHORIZE_URL", SLACK_OIDC_AUTHORIZE_URL),
        "XERO_AUTHORIZE_URL": get("XERO_AUTHORIZE_URL", XERO_AUTHORIZE_URL),
        "XERO_IDENTITY_URL": get("XERO_IDENTITY_URL", XERO_IDENTITY_URL).rstrip("/"),
        "XERO_API_URL": get("XERO_API_URL", XERO_API_URL).rstrip("/"),
    }
    for name, value in urls.items():
        if not _is_http_url(value):
            problems.append(f"{name} must be an absolute http(s) URL")
    slack_api_url = urls["SLACK_API_URL"]
    if not slack_api_url.endswith("/"):
        slack_api_url += "/"

    client_id = require("XERO_CLIENT_ID", NEEDS_XERO)
    client_secret = require("XERO_CLIENT_SECRET", NEEDS_XERO)
    redirect_uri = require("XERO_REDIRECT_URI", NEEDS_XERO)
    if redirect_uri:
        problem = redirect_uri_problem(redirect_uri)
        if problem:
            problems.append(problem)
    # Sign in with Slack, in front of Xero's consent: only the web process serves it (the clock
    # hands out Connect links too, but they lead to the web process).
    slack_client_id = require("RECON_SLACK_CLIENT_ID", NEEDS_SIGNIN)
    if slack_client_id and not _SLACK_CLIENT_ID_SHAPE.match(slack_client_id):
        problems.append(
            "RECON_SLACK_CLIENT_ID must be the Slack app's Client ID (digits.digits, from Basic Information)"
        )
    slack_client_secret = require("RECON_SLACK_CLIENT_SECRET", NEEDS_SIGNIN)
    scopes = tuple(get("XERO_SCOPES", DEFAULT_SCOPES).replace(",", " ").split())
    if "offline_access" not in scopes:
        problems.append(
            "XERO_SCOPES must include offline_access, or Xero issues no refresh token and every "
            "connection dies after 30 minutes"
        )

    database_url = get("DATABASE_URL", "sqlite:///recon.db")
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    if not (database_url.startswith("sqlite") or database_url.startswith("postgresql+psycopg://")):
        problems.append("DATABASE_URL must be a sqlite:/// or postgresql:// URL")

    keys = get("RECON_ENCRYPTION_KEY")
    if keys:
        from storage.crypto import invalid_keys

        bad = invalid_keys(keys)
        if bad:
            problems.append(
                f"RECON_ENCRYPTION_KEY has a malformed key at position {', '.join(map(str, bad))}; "
                "each must be a Fernet key: 32 url-safe base64-encoded bytes"
            )
    elif not database_url.startswith("sqlite"):
        problems.append(
            "RECON_ENCRYPTION_KEY is not set; it is required with PostgreSQL "
            "(generate one with: recon-bot keygen)"
        )

    port_text = get("PORT", "3000")
    port = 0
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        problems.append("PORT must be a number between 1 and 65535")
    else:
        port = int(port_text)

    def whole(name: str, default: str, low: int, high: int, meaning: str) -> int:
        text = get(name, default)
        if not text.isdigit() or not low <= int(text) <= high:
            problems.append(f"{name} must be a whole number from {low} to {high} ({meaning})")
            return int(default)
        return int(text)

    daily_limit = whole(
        "XERO_DAILY_LIMIT", str(STARTER_DAILY_LIMIT), 50, 1_000_000, "calls per organisation per day"
    )
    deprecations = tuple(line for name, line in DEPRECATED.items() if get(name))
    mirror_interval = whole("RECON_MIRROR_INTERVAL", "300", 30, 86_400, "seconds between syncs")
    mirror_max_age = whole("RECON_MIRROR_MAX_AGE", "60", 0, 86_400, "seconds a search trusts the mirror")
    share_text = get("RECON_MIRROR_DAILY_SHARE", "0.5")
    try:
        mirror_share = float(share_text)
    except ValueError:
        mirror_share = -1.0
    if not 0.01 <= mirror_share <= 1.0:
        problems.append(
            "RECON_MIRROR_DAILY_SHARE must be a fraction from 0.01 to 1 (of XERO_DAILY_LIMIT the "
            "mirror's sync may spend per organisation per day)"
        )
        mirror_share = 0.5

    return Settings(
        slack_bot_token=Secret(bot_token),
        slack_signing_secret=Secret(signing_secret),
        slack_app_token=Secret(app_token),
        slack_api_url=slack_api_url,
        xero_client_id=client_id,
        xero_client_secret=Secret(client_secret),
        xero_redirect_uri=redirect_uri,
        xero_scopes=scopes,
        xero_authorize_url=urls["XERO_AUTHORIZE_URL"],
        xero_identity_url=urls["XERO_IDENTITY_URL"],
        xero_api_url=urls["XERO_API_URL"],
        database_url=database_url,
        encryption_keys=Secret(keys),
        port=port,
        xero_daily_limit=daily_limit,
        deprecations=deprecations,
        slack_client_id=slack_client_id,
        slack_client_secret=Secret(slack_client_secret),
        slack_oidc_authorize_url=urls["SLACK_OIDC_AUTHORIZE_URL"],
        mirror_interval=mirror_interval,
        mirror_max_age=mirror_max_age,
        mirror_daily_share=mirror_share,
    )
