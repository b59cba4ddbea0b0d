"""Settings read from the environment inside ``create_app`` (never at import time).

Every variable is documented in README.md ("Configuration"). Embedded defaults let the platform run
on a bare machine: SQLite under ``instance/``, jobs inline when Redis is absent, media on local disk.
Production (``ARREARS_ENV=production``) fails fast when a secret is missing instead of inventing one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised while the app is created."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}")


def _instance_secret(instance_path: Path) -> str:
    """A development secret kept in ``instance/secret_key`` so sessions survive restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(instance_path: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    instance = Path(instance_path)
    mode = env.get("ARREARS_ENV", "development").strip().lower()
    if mode not in {"development", "production", "testing"}:
        raise ConfigError(f"ARREARS_ENV must be development, production or testing, got {mode!r}")
    production = mode == "production"

    secret = env.get("SECRET_KEY", "")
    if not secret:
        if production:
            raise ConfigError("SECRET_KEY must be set when ARREARS_ENV=production")
        secret = _instance_secret(instance)

    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'arrears.db'}"
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain URLs would ask SQLAlchemy for psycopg2.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    migration_url = env.get("DATABASE_MIGRATION_URL") or ""
    if migration_url.startswith("postgresql://") or migration_url.startswith("postgres://"):
        migration_url = "postgresql+psycopg://" + migration_url.split("://", 1)[1]

    idle_minutes = _int(env, "SESSION_IDLE_MINUTES", 30)
    media_root = env.get("MEDIA_ROOT") or str(instance / "media")

    return {
        "ARREARS_ENV": mode,
        "TESTING": mode == "testing",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        # hide_parameters: a database error never repeats the statement's values (personal data)
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "DATABASE_MIGRATION_URL": migration_url,
        "DATABASE_APP_ROLE": env.get("DATABASE_APP_ROLE", "arrears_app"),
        "REDIS_URL": env.get("REDIS_URL", ""),
        # without a reachable Redis, run jobs inside the request that committed them (development,
        # the embedded default); off in production: the job waits in the job table until Redis
        # answers again and the sweep sends it (a 200,000-row import never runs in a web request)
        "JOBS_INLINE": _bool(env.get("JOBS_INLINE"), not production),
        "RQ_QUEUES": [q.strip() for q in env.get("RQ_QUEUES", "default").split(",") if q.strip()],
        "REDIS_KEY_PREFIX": env.get("REDIS_KEY_PREFIX", "arrears"),
        "JOB_TIMEOUT": _int(env, "JOB_TIMEOUT", 3600),
        # seconds one SQL statement may run: in a web request, and in a job unless its kind says
        # otherwise (@job(statement_timeout=...)); PostgreSQL stops it after that (0: no limit)
        "REQUEST_STATEMENT_TIMEOUT": _int(env, "REQUEST_STATEMENT_TIMEOUT", 15),
        "JOB_STATEMENT_TIMEOUT": _int(env, "JOB_STATEMENT_TIMEOUT", 1800),
        # Tests only (read only when ARREARS_ENV=testing, else 0): seconds the repayments' apply job
        # waits between claiming its rows and committing, so a test can kill a worker mid-transaction.
        "REPAYMENTS_TEST_APPLY_PAUSE": _int(env, "REPAYMENTS_TEST_APPLY_PAUSE", 0)
        if mode == "testing"
        else 0,
        "S3_BUCKET": env.get("S3_BUCKET", ""),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": env.get("S3_REGION", ""),
        "S3_SSE": _bool(env.get("S3_SSE"), True),
        "MEDIA_ROOT": media_root,
        # sessions and cookies
        "SESSION_COOKIE_NAME": "arrears_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_SECURE": _bool(env.get("SESSION_COOKIE_SECURE"), production),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": idle_minutes * 60,
        "SESSION_IDLE_MINUTES": idle_minutes,
        "SESSION_REFRESH_EACH_REQUEST": True,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        # Strict-Transport-Security on HTTPS answers (behind a TLS proxy: TRUSTED_PROXIES); 0 sends none
        "HSTS_SECONDS": _int(env, "HSTS_SECONDS", 31_536_000 if production else 0),
        # sign-in throttling (auth.throttle): failures allowed before the back-off starts, per
        # account and address (and per trusted device), per account from untrusted clients, per
        # address; then the wait doubles from LOGIN_BACKOFF_SECONDS up to the cap
        "LOGIN_MAX_FAILURES_ACCOUNT": _int(env, "LOGIN_MAX_FAILURES_ACCOUNT", 5),
        "LOGIN_MAX_FAILURES_UNTRUSTED": _int(env, "LOGIN_MAX_FAILURES_UNTRUSTED", 20),
        "LOGIN_MAX_FAILURES_IP": _int(env, "LOGIN_MAX_FAILURES_IP", 50),
        "LOGIN_BACKOFF_SECONDS": _int(env, "LOGIN_BACKOFF_SECONDS", 30),
        "LOGIN_THROTTLE_WINDOW_SECONDS": _int(env, "LOGIN_THROTTLE_WINDOW_SECONDS", 900),
        "API_TOKEN_DEFAULT_DAYS": _int(env, "API_TOKEN_DEFAULT_DAYS", 90),
        "API_TOKEN_MAX_DAYS": _int(env, "API_TOKEN_MAX_DAYS", 365),
        # forms and i18n
        "WTF_CSRF_ENABLED": _bool(env.get("WTF_CSRF_ENABLED"), True),
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "BABEL_DEFAULT_LOCALE": env.get("DEFAULT_LOCALE", "zh_CN"),
        "BABEL_DEFAULT_TIMEZONE": env.get("DEFAULT_TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh_CN", "en"],
        "BOOTSTRAP_SERVE_LOCAL": True,  # no CDN: banks run air-gapped
        "BOOTSTRAP_BOOTSWATCH_THEME": None,
        # Reverse proxies in front of the app (each adds one X-Forwarded-For hop); 0 = none.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Personal data encryption (see arrears/security/pii.py); generated into instance/ in development.
        "PII_KEYS": env.get("PII_KEYS", ""),
        "PII_INDEX_KEY": env.get("PII_INDEX_KEY", ""),
        # Case imports: refuse files larger or longer than this.
        "IMPORT_MAX_MB": _int(env, "IMPORT_MAX_MB", 100),
        "IMPORT_MAX_ROWS": _int(env, "IMPORT_MAX_ROWS", 1_000_000),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_UPLOAD_MB", 50) * 1024 * 1024,
        # Files attached to cases (evidence, documents, generated letters): the largest accepted.
        "ATTACHMENT_MAX_BYTES": _int(env, "ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024),
        # The call-centre adapter for click-to-call (integrations/callcentre.py): sandbox records only.
        "CALLCENTRE_PROVIDER": env.get("CALLCENTRE_PROVIDER", "sandbox").strip().lower() or "sandbox",
        "JSON_SORT_KEYS": False,
    }
