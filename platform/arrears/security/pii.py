"""Encryption of personal data at rest (M-D1, M-Q3).

* ``PII_KEYS``: comma-separated Fernet keys, newest first. Values are encrypted with the first and
  read with any (``MultiFernet``); rotation = put a new key first, run ``flask pii rotate`` (which
  re-encrypts every value with the new key), then drop the old key.
* ``PII_INDEX_KEY``: the secret of the blind indexes, HMAC-SHA256 over a normalised value, so that
  an ID number or a mobile can be found by exact match without storing it in clear.
* ``EncryptedText``: a column type that encrypts on the way in and decrypts on the way out.

In development the keys are generated once into ``instance/`` (never in production, where missing
keys stop the app from starting).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class PIIKeyError(RuntimeError):
    pass


class Keyring:
    def __init__(self, keys: list[str], index_key: str) -> None:
        if not keys:
            raise PIIKeyError("PII_KEYS is empty")
        try:
            self.fernets = [Fernet(k.strip().encode()) for k in keys if k.strip()]
        except ValueError as exc:
            raise PIIKeyError(f"PII_KEYS holds an invalid Fernet key: {exc}") from exc
        self.multi = MultiFernet(self.fernets)
        if len(index_key) < 32:
            raise PIIKeyError("PII_INDEX_KEY must be at least 32 characters")
        self.index_key = index_key.encode()

    def encrypt(self, value: str) -> str:
        return self.multi.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self.multi.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise PIIKeyError("a value cannot be decrypted with any configured PII key") from exc

    def rotate(self, token: str) -> str:
        return self.multi.rotate(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """True when ``token`` is already encrypted with the newest key."""
        try:
            self.fernets[0].decrypt(token.encode())
        except InvalidToken:
            return False
        return True

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
