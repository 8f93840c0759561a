import logging
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bot.config import NEEDS_SIGNIN, NEEDS_SLACK, NEEDS_XERO, Settings, SettingsError

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-secret-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "XERO_CLIENT_ID": "client",
    "XERO_CLIENT_SECRET": "xero-secret-value",
    "XERO_REDIRECT_URI": "https://recon.example.com/xero/callback",
    "RECON_SLACK_CLIENT_ID": "2141029472.691202649728",
    "RECON_SLACK_CLIENT_SECRET": "slack-client-secret-value",
}


WEB = (NEEDS_SLACK, NEEDS_XERO, NEEDS_SIGNIN)


def load(env, needs=(NEEDS_SLACK, NEEDS_XERO)):
    return Settings.from_env(env, needs=needs, dotenv_path=None)


def test_defaults_follow_the_design():
    s = load(GOOD)
    assert s.database_url == "sqlite:///recon.db" and s.port == 3000
    assert "offline_access" in s.xero_scopes and "accounting.banktransactions" in s.xero_scopes
    assert s.xero_api_url == "https://api.xero.com" and s.slack_api_url == "https://slack.com/api/"


def test_every_problem_is_reported_at_once_one_line_each():
    env = {
        "SLACK_BOT_TOKEN": "not-a-bot-token",
        "XERO_REDIRECT_URI": "/xero/callback",
        "DATABASE_URL": "postgresql://u@h/db",
        "PORT": "eighty",
        "XERO_SCOPES": "openid accounting.banktransactions",
        "XERO_API_URL": "api.xero.com",
    }
    with pytest.raises(SettingsError) as err:
        load(env)
    problems = err.value.problems
    expected = [
        "SLACK_BOT_TOKEN must be a bot token starting with xoxb-",
        "SLACK_SIGNING_SECRET is not set",
        "XERO_API_URL must be an absolute http(s) URL",
        "XERO_CLIENT_ID is not set",
        "XERO_CLIENT_SECRET is not set",
        "XERO_REDIRECT_URI must be an absolute http(s) URL",
        "XERO_SCOPES must include offline_access",
        "RECON_ENCRYPTION_KEY is not set; it is required with PostgreSQL",
        "PORT must be a number between 1 and 65535",
    ]
    for fragment in expected:
        assert any(p.startswith(fragment) for p in problems), (fragment, problems)
    assert len(problems) == len(expected)


def test_bolt_oauth_env_trap_is_refused():
    with pytest.raises(SettingsError) as err:
        load({**GOOD, "SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"})
    assert "SLACK_CLIENT_ID" in err.value.problems[0]


def test_bolt_names_stay_refused_when_recons_own_sign_in_settings_are_set():
    with pytest.raises(SettingsError) as err:
        load({**GOOD, "SLACK_CLIENT_ID": GOOD["RECON_SLACK_CLIENT_ID"], "SLACK_CLIENT_SECRET": "x"})
    assert err.value.problems[0].startswith("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET must not both be set")


def test_sign_in_with_slack_routes_live_beside_the_xero_callback():
    prefixed = load({**GOOD, "XERO_REDIRECT_URI": "https://example.com/recon/xero/callback"})
    assert prefixed.connect_start_url == "https://example.com/recon/connect/start"
    assert prefixed.slack_oidc_redirect_uri == "https://example.com/recon/connect/slack"
    s = load({**GOOD, "XERO_REDIRECT_URI": "https://recon.example.com:8443/xero/callback"})
    assert s.slack_client_id == "2141029472.691202649728"
    assert s.slack_client_secret.reveal() == "slack-client-secret-value"
    assert s.slack_oidc_authorize_url == "https://slack.com/openid/connect/authorize"
    assert s.connect_start_url == "https://recon.example.com:8443/connect/start"
    assert s.slack_oidc_redirect_uri == "https://recon.example.com:8443/connect/slack"
    local = load({**GOOD, "SLACK_OIDC_AUTHORIZE_URL": "http://127.0.0.1:5/openid/connect/authorize"})
    assert local.slack_oidc_authorize_url == "http://127.0.0.1:5/openid/connect/authorize"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"RECON_SLACK_CLIENT_ID": "A0RECON"}, "RECON_SLACK_CLIENT_ID must be the Slack app's Client ID"),
        ({"RECON_SLACK_CLIENT_ID": ""}, "RECON_SLACK_CLIENT_ID is not set"),
        ({"RECON_SLACK_CLIENT_SECRET": " "}, "RECON_SLACK_CLIENT_SECRET is not set"),
        ({"SLACK_OIDC_AUTHORIZE_URL": "slack.com/openid"}, "SLACK_OIDC_AUTHORIZE_URL must be an absolute"),
    ],
)
def test_sign_in_with_slack_settings_are_checked(changes, problem):
    with pytest.raises(SettingsError) as err:
        load({**GOOD, **changes}, needs=WEB)
    assert [p for p in err.value.problems if p.startswith(problem)], err.value.problems


def test_only_the_web_process_needs_the_slack_client_credentials():
    bare = {k: v for k, v in GOOD.items() if not k.startswith("RECON_SLACK")}
    assert load(bare).slack_client_id == ""  # the clock: NEEDS_SLACK + NEEDS_XERO
    with pytest.raises(SettingsError) as err:
        load(bare, needs=WEB)
    assert err.value.problems == ["RECON_SLACK_CLIENT_ID is not set", "RECON_SLACK_CLIENT_SECRET is not set"]


def test_postgres_url_is_normalised_and_needs_a_valid_key():
    key = Fernet.generate_key().decode()
    s = load({**GOOD, "DATABASE_URL": "postgres://u@h/db", "RECON_ENCRYPTION_KEY": key})
    assert s.database_url == "postgresql+psycopg://u@h/db"
    with pytest.raises(SettingsError) as err:
        load({**GOOD, "RECON_ENCRYPTION_KEY": "garbage"})
    assert "RECON_ENCRYPTION_KEY has a malformed key at position 1" in err.value.problems[0]


def test_secrets_never_show_in_repr_or_logs(caplog):
    key = Fernet.generate_key().decode()
    s = load({**GOOD, "RECON_ENCRYPTION_KEY": key})
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("settings %r %s", s, s)
    text = repr(s) + str(s) + caplog.text
    secrets = (
        "xoxb-secret-bot-token",
        "signing-secret-value",
        "xero-secret-value",
        "slack-client-secret-value",
    )
    for secret in (*secrets, key):
        assert secret not in text
    assert s.slack_bot_token.reveal() == "xoxb-secret-bot-token"


def test_dotenv_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("XERO_CLIENT_ID=from-file\nPORT=4000\n")
    s = Settings.from_env({**GOOD, "PORT": "5000"}, dotenv_path=str(env_file))
    assert s.port == 5000
    assert Settings.from_env({"PORT": "5000"}, dotenv_path=str(env_file)).xero_client_id == "from-file"


def test_cli_exits_2_with_one_line_per_problem(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "SLACK_BOT_TOKEN": "bad", "DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "recon: SLACK_BOT_TOKEN must be a bot token starting with xoxb-" in lines
    assert "recon: XERO_CLIENT_ID is not set" in lines
    assert all(line.startswith("recon: ") for line in lines)


def test_demo_and_sandbox_take_their_own_options():
    for command in (["demo", "--help"], ["sandbox", "--help"]):
        proc = subprocess.run(
            [sys.executable, "-m", "bot", *command], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        assert f"usage: recon-bot {command[0]}" in proc.stdout


def test_xero_budget_settings():
    # New Xero apps start on the smallest tier: the default keeps a new install inside it.
    assert load(GOOD).xero_daily_limit == 1000
    s = load({**GOOD, "XERO_DAILY_LIMIT": "5000", "RECON_XERO_PROCESSES": "3"})
    assert s.xero_daily_limit == 5000
    # The old per-process split is accepted (a deployment keeps starting) and only noted.
    assert len(s.deprecations) == 1 and s.deprecations[0].startswith("RECON_XERO_PROCESSES is no longer used")
    assert not hasattr(s, "xero_processes")
    assert load(GOOD).deprecations == ()
    with pytest.raises(SettingsError) as err:
        load({**GOOD, "XERO_DAILY_LIMIT": "lots", "RECON_XERO_PROCESSES": "0"})
    assert [p.split(" ")[0] for p in err.value.problems] == ["XERO_DAILY_LIMIT"]


@pytest.mark.parametrize(
    "uri",
    [
        "https://recon.example.com/xero/callback",
        "https://example.com/recon/xero/callback",  # behind a proxy that strips /recon
        "https://recon.example.com:8443/xero/callback",
        "http://localhost:3000/xero/callback",
        "http://127.0.0.1:9/xero/callback",  # the stand-ins' URIs in tests and the demo
        "http://[::1]:3000/xero/callback",
        "HTTP://LocalHost:3000/xero/callback",
    ],
)
def test_redirect_uris_xero_accepts_and_recon_serves(uri):
    assert load({**GOOD, "XERO_REDIRECT_URI": uri}).xero_redirect_uri == uri


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("https://x.example/callback", "must end in /xero/callback"),
        ("https://x.example/xero/callback/", "must end in /xero/callback"),
        ("https://x.example/xero/callbacks", "must end in /xero/callback"),
        ("http://x.example/xero/callback", "must use https (Xero allows http only for localhost)"),
        ("http://10.0.0.5:3000/xero/callback", "must use https"),
        ("http://localhost.evil.example/xero/callback", "must use https"),
        ("https://x.example/xero/callback#done", "must not contain a #fragment"),
        ("ftp://x.example/xero/callback", "must be an absolute http(s) URL"),
        ("x.example/xero/callback", "must be an absolute http(s) URL"),
    ],
)
def test_redirect_uris_that_would_break_consent_stop_start_up(uri, complaint):
    with pytest.raises(SettingsError) as err:
        load({**GOOD, "XERO_REDIRECT_URI": uri})
    [problem] = err.value.problems
    assert problem.startswith("XERO_REDIRECT_URI ") and complaint in problem, problem
    if "example" in uri and "#" not in uri and "://" in uri and not uri.startswith("ftp"):
        assert "e.g. https://" in problem and problem.endswith("/xero/callback")


def test_the_redirect_rule_names_the_route_the_web_app_serves():
    from bot.config import XERO_CALLBACK_PATH
    from bot.demo.xero_world import REDIRECT
    from bot.sandbox.xero.sandbox import DEFAULT_REDIRECT_URI
    from bot.web import CALLBACK_PATH

    assert XERO_CALLBACK_PATH == CALLBACK_PATH
    for uri in (REDIRECT, DEFAULT_REDIRECT_URI):
        assert load({**GOOD, "XERO_REDIRECT_URI": uri}).xero_redirect_uri == uri


def test_inspect_returns_what_it_could_read_with_every_problem():
    settings, problems = Settings.inspect(
        {**GOOD, "XERO_SCOPES": "openid", "PORT": "x"}, needs=(NEEDS_SLACK, NEEDS_XERO), dotenv_path=None
    )
    assert [p.split(" ")[0] for p in problems] == ["XERO_SCOPES", "PORT"]
    assert settings.xero_client_id == "client" and settings.database_url == "sqlite:///recon.db"
