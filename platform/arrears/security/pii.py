"""Encryption of personal data at rest (M-D1, M-Q3).

* ``PII_KEYS``: comma-separated keys (each 32 random bytes, urlsafe base64, as ``Fernet.generate_key()``
  writes them), newest first. Values are encrypted with the first and read with any; rotation = put a
  new key first, run ``flask pii rotate`` (which re-encrypts every value with the new key), then drop
  the old key.
* Tokens are ``g1.<key id>.<base64url(nonce | ciphertext | tag)>``: AES-256-GCM (authenticated, a
  fresh 96-bit random nonce per value) under a key derived from the configured key with HKDF-SHA256;
  the key id (a hash of the derived key) says which key to decrypt with, so reading never tries every
  key. Tokens written before this format (Fernet, ``gAAAA...``) still read with the same keys, and
  ``flask pii rotate`` rewrites them (decision 0006: AES-GCM costs a fifth of Fernet per value, which
  is most of the encryption time of a 100k-row import).
* ``PII_INDEX_KEY``: the secret of the blind indexes, HMAC-SHA256 over a normalised value, so that
  an ID number or a mobile can be found by exact match without storing it in clear.
* ``EncryptedText``: a column type that encrypts on the way in and decrypts on the way out.

In development the keys are generated once into ``instance/`` (never in production, where missing
keys stop the app from starting).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class PIIKeyError(RuntimeError):
    pass


PREFIX = "g1."
_NONCE = 12


def _derive(key: str) -> bytes:
    """The AES-256-GCM key for a configured key (HKDF-SHA256, a label of its own)."""
    raw = base64.urlsafe_b64decode(key.encode())
    if len(raw) != 32:
        raise ValueError("a key must be 32 bytes")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"arrears pii aes-256-gcm v1").derive(
        raw
    )


class Keyring:
    def __init__(self, keys: list[str], index_key: str) -> None:
        keys = [k.strip() for k in keys if k.strip()]
        if not keys:
            raise PIIKeyError("PII_KEYS is empty")
        try:
            self.fernets = [Fernet(k.encode()) for k in keys]  # to read tokens of the earlier format
            derived = [_derive(k) for k in keys]
        except (ValueError, binascii.Error) as exc:
            raise PIIKeyError(f"PII_KEYS holds an invalid key (32 bytes, urlsafe base64): {exc}") from exc
        self.multi = MultiFernet(self.fernets)
        self.ciphers: dict[str, AESGCM] = {}
        for secret in derived:
            kid = hashlib.sha256(b"arrears pii key id:" + secret).hexdigest()[:12]
            self.ciphers.setdefault(kid, AESGCM(secret))
        self.current_kid = next(iter(self.ciphers))
        self._current = self.ciphers[self.current_kid]
        self._head = f"{PREFIX}{self.current_kid}."
        if len(index_key) < 32:
            raise PIIKeyError("PII_INDEX_KEY must be at least 32 characters")
        self.index_key = index_key.encode()

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._current.encrypt(nonce, value.encode(), None)
        return self._head + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if token.startswith(PREFIX):
            try:
                kid, body = token[len(PREFIX) :].split(".", 1)
                cipher = self.ciphers[kid]
                raw = base64.urlsafe_b64decode(body)
                return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], None).decode()
            except (KeyError, ValueError, InvalidTag, binascii.Error) as exc:
                raise PIIKeyError("a value cannot be decrypted with any configured PII key") from exc
        try:
            return self.multi.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise PIIKeyError("a value cannot be decrypted with any configured PII key") from exc

    def rotate(self, token: str) -> str:
        return token if self.is_current(token) else self.encrypt(self.decrypt(token))

    def is_current(self, token: str) -> bool:
        """True when ``token`` is already encrypted, in the current format, with the newest key."""
        return token.startswith(self._head)

    def blind_index(self, kind: str, value: str) -> str:
        return hmac.new(self.index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _dev_keys(instance_path: str) -> tuple[list[str], str]:
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    keys_file, index_file = folder / "pii_keys", folder / "pii_index_key"
    if not keys_file.exists():
        keys_file.write_text(Fernet.generate_key().decode())
        keys_file.chmod(0o600)
    if not index_file.exists():
        index_file.write_text(Fernet.generate_key().decode())
        index_file.chmod(0o600)
    return keys_file.read_text().split(","), index_file.read_text().strip()


def init_app(app: Flask) -> None:
    keys = [k for k in (app.config.get("PII_KEYS") or "").split(",") if k.strip()]
    index_key = app.config.get("PII_INDEX_KEY") or ""
    if not keys or not index_key:
        if app.config["ARREARS_ENV"] == "production":
            raise PIIKeyError("PII_KEYS and PII_INDEX_KEY must be set when ARREARS_ENV=production")
        dev_keys, dev_index = _dev_keys(app.instance_path)
        keys, index_key = keys or dev_keys, index_key or dev_index
    app.extensions["arrears.pii"] = Keyring(keys, index_key)


def keyring() -> Keyring:
    return current_app.extensions["arrears.pii"]


class EncryptedText(TypeDecorator[str]):
    """Text encrypted with the application's PII keys; ``None`` and ``""`` stay as they are."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or value == "":
            return value
        return keyring().encrypt(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None or value == "":
            return value
        return keyring().decrypt(value)
