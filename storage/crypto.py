"""Token encryption at rest (Fernet, several keys for rotation).

Keys come newest first; every key still decrypts, only the first encrypts, so an operator can
add a key, run ``recon-bot db rotate-keys`` and later drop the old one without a flag day.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenDecryptError(Exception):
    """A stored token could not be decrypted with any configured key."""


class MissingKeyFile(Exception):
    """The SQLite key file is gone but the database still holds tokens encrypted with it."""

    def __init__(self, key_file: Path, grants: int) -> None:
        super().__init__(
            f"the key file {key_file} is missing, but the database beside it holds {grants} Xero "
            "connection(s) encrypted with it; a new key could not decrypt them, so none was made. "
            "Put the key file back (or set RECON_ENCRYPTION_KEY to that key)."
        )
        self.key_file = key_file


def invalid_keys(spec: str) -> list[int]:
    """1-based positions of malformed keys in a comma-separated list."""
    bad = []
    for position, key in enumerate(_split(spec), start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            bad.append(position)
    return bad


def _split(spec: str) -> list[str]:
    return [part.strip() for part in spec.split(",") if part.strip()]


class TokenCipher:
    """Encrypts and decrypts token strings; never logs or echoes them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])

    @classmethod
    def from_spec(cls, spec: str) -> TokenCipher:
        return cls(_split(spec))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except InvalidToken as exc:
            raise TokenDecryptError(
                "a stored token cannot be decrypted with RECON_ENCRYPTION_KEY "
                "(was the key changed without keeping the old one?)"
            ) from exc

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key (a no-op for data already under it, apart from the IV)."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise TokenDecryptError("a stored token cannot be decrypted for rotation") from exc


def key_file_for(database_url: str) -> Path | None:
    """Where the generated key lives for a SQLite file database (``recon.db`` → ``recon.db.key``)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path + ".key")


def load_or_create_key_spec(
    database_url: str, configured: str, *, stored_grants: Callable[[], int] = lambda: 0
) -> str:
    """The configured keys, or for SQLite a key kept in a 0600 file beside the database.

    The file is created once and announced on stderr once, so a newcomer needs no setup yet
    knows where the secret that protects their tokens lives. It is never created again for a
    database that already holds grants (``stored_grants`` counts them): a fresh key would
    decrypt none of them, and the real one may only be misplaced — :class:`MissingKeyFile`.
    """
    if configured:
        return configured
    key_file = key_file_for(database_url)
    if key_file is None:
        # In-memory SQLite: the data dies with the process, and so may the key.
        return Fernet.generate_key().decode()
    if key_file.exists():
        return key_file.read_text().strip()
    held = stored_grants()
    if held:
        raise MissingKeyFile(key_file, held)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    print(
        f"recon: generated an encryption key for stored tokens in {key_file} (mode 0600). "
        "Keep it with the database; set RECON_ENCRYPTION_KEY to manage it yourself.",
        file=sys.stderr,
    )
    return key
