"""The configuration production reads (``ARREARS_ENV=production``, one TLS proxy in front), against
this test's database and keys."""

from __future__ import annotations

import pathlib
from typing import Any

from flask import Flask

from arrears.config import load_config


def production_config(app: Flask, instance: pathlib.Path, **env: str) -> dict[str, Any]:
    """``load_config`` in production mode behind one proxy; ``env`` adds or overrides variables."""
    return load_config(
        str(instance),
        {
            "ARREARS_ENV": "production",
            "SECRET_KEY": "s" * 40,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "PII_KEYS": app.config["PII_KEYS"],
            "PII_INDEX_KEY": app.config["PII_INDEX_KEY"],
            "TRUSTED_PROXIES": "1",
            **env,
        },
    )
