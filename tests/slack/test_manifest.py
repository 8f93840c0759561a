"""The Slack app manifests ask for what the bot uses, and point Slack where the bot listens."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import SLACK_SIGNIN_CALLBACK_PATH
from bot.signin.client import SCOPES as SIGN_IN_SCOPES
from bot.slack.refs import COMMAND
from bot.web import EVENTS_PATH

ROOT = Path(__file__).resolve().parents[2]


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", ["manifest.yml", "manifest.socket-mode.yml"])
def test_manifest_declares_the_command_home_and_minimal_scopes(name):
    manifest = load(name)
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND and command["should_escape"] is True
    assert len(command["description"]) <= 2000 and len(command["usage_hint"]) <= 1000
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]  # DMs need the Messages tab
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {"commands", "chat:write"}
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    info = manifest["display_information"]
    assert len(info["name"]) <= 35 and len(info["description"]) <= 140
    assert 174 <= len(info["long_description"]) <= 4000


@pytest.mark.parametrize("name", ["manifest.yml", "manifest.socket-mode.yml"])
def test_manifest_lets_slack_send_sign_in_back_to_recon(name):
    oauth = load(name)["oauth_config"]
    # Slack's manifest schema: only these keys, redirect_urls unique strings of at most 2500.
    assert set(oauth) <= {"redirect_urls", "scopes", "token_management_enabled", "pkce_enabled"}
    urls = oauth["redirect_urls"]
    assert urls and len(urls) == len(set(urls)) and all(len(u) <= 2500 and "#" not in u for u in urls)
    # Slack demands https, and the URL must be the one Recon sends (no subdirectory games).
    assert urls == ["https://YOUR-HOST" + SLACK_SIGNIN_CALLBACK_PATH]
    # Exactly the user scopes Recon asks Slack for; Sign in with Slack scopes can't be mixed with others.
    assert oauth["scopes"]["user"] == list(SIGN_IN_SCOPES) and "openid" in oauth["scopes"]["user"]


def test_http_manifest_sends_everything_to_the_events_path():
    manifest = load("manifest.yml")
    urls = [
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    assert all(url.startswith("https://") and url.endswith(EVENTS_PATH) for url in urls)
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_socket_mode_manifest_has_no_request_urls():
    manifest = load("manifest.socket-mode.yml")
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "url" not in manifest["features"]["slash_commands"][0]
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert "request_url" not in manifest["settings"]["interactivity"]


def test_procfile_runs_web_clock_and_release():
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert "gthread" in lines["web"] and "bot.web:create_app()" in lines["web"]
    assert "%(U)s" in lines["web"]  # access log without query strings: the Xero callback carries a code
    assert lines["clock"] == "recon-bot clock"
    assert lines["release"] == "recon-bot db upgrade"
