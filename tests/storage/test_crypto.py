import os
import stat

import pytest
from cryptography.fernet import Fernet

from storage import grants, open_database
from storage.crypto import TokenCipher, TokenDecryptError, invalid_keys, key_file_for, load_or_create_key_spec
from storage.db import Database
from tests.storage.fakes import Conn, Tokens


def test_no_token_text_anywhere_in_the_sqlite_file(sqlite_db, tmp_path):
    access = "ACCESS-" + "x9" * 40
    refresh = "REFRESH-" + "k7" * 40
    grants.save_consent(
        sqlite_db,
        slack_team_id="T1",
        slack_user_id="U1",
        xero_user_id="xu",
        tokens=Tokens(access, refresh),
        connections=[Conn("c1", "ten-1", "Org")],
    )
    with sqlite_db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(FULL)")
    sqlite_db.dispose()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("recon.db"))
    assert b"Org" in blob  # the file is readable as such: the check below is meaningful
    for secret in (access, refresh, access[:20], refresh[:20]):
        assert secret.encode() not in blob


def test_old_keys_still_decrypt_and_rotation_moves_to_newest(tmp_path):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'r.db'}"
    from storage import migrate

    db_old = Database(url, TokenCipher([old]))
    migrate.upgrade(db_old.engine)
    g = grants.save_consent(
        db_old,
        slack_team_id="T",
        slack_user_id="U",
        xero_user_id="x",
        tokens=Tokens("a", "r"),
        connections=[],
    ).grant
    db_old.dispose()

    db_both = Database(url, TokenCipher([new, old]))
    assert grants.refresh_token_for_revocation(db_both, g.id) == "r"
    assert grants.rotate_encryption(db_both).rotated == 1
    db_both.dispose()

    db_new = Database(url, TokenCipher([new]))
    assert grants.refresh_token_for_revocation(db_new, g.id) == "r"
    db_new.dispose()
    db_stale = Database(url, TokenCipher([old]))
    with pytest.raises(TokenDecryptError) as err:
        grants.refresh_token_for_revocation(db_stale, g.id)
    assert "RECON_ENCRYPTION_KEY" in str(err.value)


def test_sqlite_key_file_is_created_once_with_mode_0600(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    first = load_or_create_key_spec(url, "")
    err = capsys.readouterr().err
    assert "recon.db.key" in err and first not in err
    path = key_file_for(url)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key_spec(url, "") == first
    assert capsys.readouterr().err == ""  # said once
    db = open_database(url)
    assert db.cipher.decrypt(TokenCipher([first]).encrypt("t")) == "t"


def test_configured_key_wins_and_malformed_keys_are_named():
    key = Fernet.generate_key().decode()
    assert load_or_create_key_spec("postgresql+psycopg://x/y", key) == key
    assert invalid_keys(f"{key}, nope,{key}") == [2]


def test_a_missing_key_file_is_never_replaced_while_the_database_holds_grants(tmp_path):
    from storage import migrate
    from storage.crypto import MissingKeyFile

    url = f"sqlite:///{tmp_path / 'recon.db'}"
    db = open_database(url)
    migrate.upgrade(db.engine)
    grants.save_consent(
        db, slack_team_id="T", slack_user_id="U", xero_user_id="x", tokens=Tokens("a", "r"), connections=[]
    )
    db.dispose()
    key_file = key_file_for(url)
    key_file.unlink()  # a move that left the key behind

    with pytest.raises(MissingKeyFile) as err:
        open_database(url)
    message = str(err.value)
    assert str(key_file) in message and "RECON_ENCRYPTION_KEY" in message and "\n" not in message
    assert not key_file.exists()


def test_cli_refuses_in_one_line_when_the_key_file_is_missing(tmp_path):
    import subprocess
    import sys

    from storage import migrate

    url = f"sqlite:///{tmp_path / 'recon.db'}"
    db = open_database(url)
    migrate.upgrade(db.engine)
    grants.save_consent(
        db, slack_team_id="T", slack_user_id="U", xero_user_id="x", tokens=Tokens("a", "r"), connections=[]
    )
    db.dispose()
    key_file_for(url).unlink()
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "db", "status"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recon: ") and "key file" in lines[0], run.stderr
    assert not key_file_for(url).exists()


def test_a_fresh_database_still_gets_its_key_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    open_database(url).dispose()
    assert key_file_for(url).exists()
