"""``recon-bot db rotate-keys`` while the bot keeps refreshing: never an old token over a new one."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from storage import grants
from storage.crypto import TokenCipher
from storage.db import Database
from tests.storage.fakes import Conn, Tokens


def consent(db, user: str, refresh: str):
    return grants.save_consent(
        db,
        slack_team_id="T1",
        slack_user_id=user,
        xero_user_id=f"xu-{user}",
        tokens=Tokens(f"access-{user}", refresh, expires_at=datetime.now(UTC) - timedelta(seconds=5)),
        connections=[Conn(f"c-{user}", f"ten-{user}", f"Org {user}")],
    ).grant


class PausingCipher(TokenCipher):
    """Stops inside the rotation of the first row until told to go on (or 2 s pass)."""

    def __init__(self, keys):
        super().__init__(keys)
        self.rotating = threading.Event()
        self.go = threading.Event()

    def rotate(self, ciphertext: str) -> str:
        if not self.rotating.is_set():
            self.rotating.set()
            self.go.wait(2)
        return super().rotate(ciphertext)


def test_a_refresh_during_rotation_is_never_overwritten(db_url):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    bot = Database(db_url, TokenCipher([new, old]))
    before = Database(db_url, TokenCipher([old]))
    grant = consent(before, "U1", "refresh-0")
    before.dispose()

    operator = Database(db_url, PausingCipher([new, old]))
    counts = []
    rotation = threading.Thread(target=lambda: counts.append(grants.rotate_encryption(operator)))
    rotation.start()
    assert operator.cipher.rotating.wait(10)  # the rotation has read the row and is re-encrypting it

    refreshed = []
    refresher = threading.Thread(
        target=lambda: refreshed.append(
            grants.valid_access_token(bot, grant.id, lambda rt: Tokens("access-1", "refresh-1"))
        )
    )
    refresher.start()
    refresher.join(1.0)  # an unlocked rotation lets the refresh commit here; a locked one holds it
    operator.cipher.go.set()
    rotation.join(30)
    refresher.join(30)

    assert refreshed and refreshed[0].refreshed
    only_new = Database(db_url, TokenCipher([new]))
    assert grants.refresh_token_for_revocation(only_new, grant.id) == "refresh-1"
    assert grants.get_grant(only_new, grant.id).generation == grant.generation + 1
    assert counts and counts[0].rotated == 1 and counts[0].unreadable == 0
    for d in (bot, operator, only_new):
        d.dispose()


def test_rotation_goes_on_past_a_row_it_cannot_read(db_url):
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    with_lost = Database(db_url, TokenCipher([lost]))
    unreadable = consent(with_lost, "U1", "refresh-lost")
    with_lost.dispose()
    with_old = Database(db_url, TokenCipher([old]))
    readable = consent(with_old, "U2", "refresh-2")
    with_old.dispose()

    db = Database(db_url, TokenCipher([new, old]))
    result = grants.rotate_encryption(db)
    assert (result.rotated, result.unreadable) == (1, 1)
    assert result.unreadable_ids == (unreadable.id,)
    db.dispose()
    only_new = Database(db_url, TokenCipher([new]))
    assert grants.refresh_token_for_revocation(only_new, readable.id) == "refresh-2"
    only_new.dispose()


def test_cli_rotate_keys_reports_what_it_did(tmp_path):
    from storage import migrate

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    db = Database(url, TokenCipher([old]))
    migrate.upgrade(db.engine)
    consent(db, "U1", "refresh-secret-value")
    db.dispose()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "RECON_ENCRYPTION_KEY": f"{new},{old}"}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "db", "rotate-keys"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "re-encrypted the tokens of 1 grant(s) under the newest key" in run.stdout
    assert "refresh-secret-value" not in run.stdout + run.stderr
    check = Database(url, TokenCipher([new]))
    assert grants.refresh_token_for_revocation(check, 1) == "refresh-secret-value"
    check.dispose()
