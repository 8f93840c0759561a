"""``recon-bot clock`` as a real process: migrates, runs its first keep-alive, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect

from bot.sandbox.slack import SlackSandbox
from bot.sandbox.xero import XeroSandbox

START_TIMEOUT_S = 30


def test_clock_process_migrates_runs_and_stops_on_sigterm(tmp_path: Path):
    database = tmp_path / "recon.db"
    with XeroSandbox(organisations=1, transactions=10) as xero, SlackSandbox() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "XERO_", "DATABASE_"))}
        env.update(
            {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
                **xero.bot_settings(),
                "XERO_REDIRECT_URI": "http://127.0.0.1:9/xero/callback",
                "DATABASE_URL": f"sqlite:///{database}",
                "RECON_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            }
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "clock"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: list[str] = []
        running = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if "clock: running" in line:
                    running.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert running.wait(START_TIMEOUT_S), "".join(lines)[-2000:]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0, "".join(lines)[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=5)
    output = "".join(lines)
    assert "clock: stopped" in output
    assert "Traceback" not in output
    engine = create_engine(f"sqlite:///{database}")
    assert {"digest_runs", "digest_subscriptions", "grants"} <= set(inspect(engine).get_table_names())
    engine.dispose()
