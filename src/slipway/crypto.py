"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the settings key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"slipway", info=b"secrets-at-rest").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


class Box:
    """Encrypts with the first key, decrypts with any (so a key rotation can read old values)."""

    def __init__(self, secret_key: str, *old_keys: str) -> None:
        self._fernet = MultiFernet([_derive(secret_key), *(_derive(k) for k in old_keys)])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def rotate(self, token: str) -> str:
        """The same secret, encrypted under the first key (a key rotation re-writes every value so)."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with the configured SLIPWAY_SECRET_KEY") from exc

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # wrong key, or tampered data
            raise ValueError("secret cannot be decrypted with the configured SLIPWAY_SECRET_KEY") from exc


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """Tokens are 256-bit random, so a plain SHA-256 is enough (no need for a slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def mask(value: str) -> str:
    return "•" * 8 if value else ""
