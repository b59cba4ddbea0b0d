"""Shared fixtures: a PostgreSQL database per test session (migrated as the owner, used by the app
as the RLS-bound role ``arrears_app``), Redis on a private key prefix, and cheap tenants.

Every test gets a clean database (TRUNCATE as the owner) and at least two tenants of each kind
through the ``world`` fixture, so cross-tenant checks are the norm rather than the exception.
"""

from __future__ import annotations

import os
import pathlib
import re
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

# Builders' asserts report like the tests' own (before any of them is imported).
pytest.register_assert_rewrite("tests.builders")

from tests.builders.tenants import PASSWORD, World, build_world  # noqa: E402

# The files made by other programs (shared/data beside the checkout); ARREARS_SHARED_DIR overrides.
SHARED = pathlib.Path(
    os.environ.get("ARREARS_SHARED_DIR") or pathlib.Path(__file__).resolve().parents[2] / "shared"
)
OWNER_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
APP_ROLE = "arrears_app"
# Fixed test keys for personal data (never used outside tests).
PII_KEY = "hA0b0Ukq3Pb8t8y1yQ8nSPp0-1Dtb0o_rmXUl7qIeXs="
PII_INDEX_KEY = "test-index-key-0123456789abcdefghijklmnop"


def _db_name() -> str:
    # One database per test process: parallel runs (xdist workers, two checkouts) never collide.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"arrears_test_{worker}_{os.getpid()}"


@dataclass
class Database:
    owner_url: str
    app_url: str
    owner_engine: Engine
    tables: list[str] = field(default_factory=list)

    def truncate(self) -> None:
        with self.owner_engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(self.tables) + " RESTART IDENTITY CASCADE"))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.owner_engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.owner_engine.connect() as conn:
            return list(conn.execute(text(sql), params))


def _migrate(config: dict[str, Any]) -> None:
    from flask_migrate import upgrade

    from arrears.app import create_app

    app = create_app(config)
    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    base = make_url(OWNER_URL)
    name = _db_name()
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    owner_url = base.set(database=name).render_as_string(hide_password=False)
    app_url = base.set(database=name, username=APP_ROLE, password=None).render_as_string(hide_password=False)
    _migrate(_config(owner_url, app_url, redis=""))
    owner_engine = create_engine(owner_url)
    with owner_engine.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ]
    db = Database(owner_url=owner_url, app_url=app_url, owner_engine=owner_engine, tables=tables)
    yield db
    owner_engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _config(owner_url: str, app_url: str, redis: str) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]  # private Redis keys and queue per app: parallel runs never mix
    return {
        "ARREARS_ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": app_url,
        "DATABASE_MIGRATION_URL": owner_url,
        "REDIS_URL": redis,
        "REDIS_KEY_PREFIX": f"arrears-test-{run}",
        "RQ_QUEUES": [f"test-{run}"],
        "SERVER_NAME": "localhost",
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="arrears-test-media-"),
        # Assertions read English messages; tests of the Chinese catalog ask for it explicitly.
        "BABEL_DEFAULT_LOCALE": "en",
    }


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as exc:  # pragma: no cover - the machine runs Redis
        pytest.fail(f"Redis is required for the test suite at {REDIS_URL}: {exc}")
    return REDIS_URL


class FreshContextClient(FlaskClient):
    """Each request runs in its own application context, as it does under a real server; the
    test's own context (used to set data up and check it) stays outside. Without this, requests
    would share ``g`` and the database session with the test and with each other."""

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database: Database, redis_url: str) -> Iterator[Flask]:
    """The application against PostgreSQL as the RLS-bound role, with Redis (jobs go to rq)."""
    from arrears.app import create_app
    from arrears.extensions import db

    database.truncate()
    application = create_app(_config(database.owner_url, database.app_url, redis_url))
    application.test_client_class = FreshContextClient
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    _flush_redis(application)


@pytest.fixture
def eager_app(database: Database) -> Iterator[Flask]:
    """The same, with no Redis: jobs run inline (the embedded default)."""
    from arrears.app import create_app
    from arrears.extensions import db

    database.truncate()
    application = create_app(_config(database.owner_url, database.app_url, ""))
    application.test_client_class = FreshContextClient
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def _flush_redis(app: Flask) -> None:
    import redis

    conn = redis.Redis.from_url(app.config["REDIS_URL"])
    prefix = app.config["REDIS_KEY_PREFIX"]
    for key in conn.scan_iter(f"{prefix}:*"):
        conn.delete(key)
    conn.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- tenants (built by tests.builders.tenants) ------------------------------------------------------


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


# --- signing in -----------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    response = client.get(path)
    html = response.get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def signed_in(app: Flask, email: str) -> FlaskClient:
    c = app.test_client()
    response = login(c, email)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return c


def api_token(email: str, days: int = 30) -> str:
    from arrears.auth import sessions as auth
    from arrears.models import ApiTokenAudience
    from arrears.tenancy import tenant

    user = auth.get_user_by_email(email)
    with tenant(user.org_id, user.org.kind, user.id):
        _, raw = auth.create_token(user, user, audience=ApiTokenAudience.API, name="test", days=days)
    return raw


def cli_env(app: Flask, database: Database) -> dict[str, str]:
    """Environment for a ``flask --app wsgi ...`` command against this test's database, without
    Redis (jobs inline), with the app's personal-data keys."""
    return {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": database.app_url,
        "ARREARS_ENV": "testing",
        "SECRET_KEY": "x" * 32,
        "PII_KEYS": app.config["PII_KEYS"],
        "PII_INDEX_KEY": app.config["PII_INDEX_KEY"],
    }


def worker_env(app: Flask, database: Database) -> dict[str, str]:
    """Environment for a ``flask --app wsgi worker`` process serving this test's app."""
    return {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": database.app_url,
        "REDIS_URL": app.config["REDIS_URL"],
        "ARREARS_ENV": "testing",
        "SECRET_KEY": "x" * 32,
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
        "REDIS_KEY_PREFIX": app.config["REDIS_KEY_PREFIX"],
        "RQ_QUEUES": ",".join(app.config["RQ_QUEUES"]),
    }


@pytest.fixture
def rq_worker(app: Flask, database: Database) -> Iterator[Any]:
    """A real rq worker process for the duration of the test."""
    import pathlib
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-scheduler"],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        env=worker_env(app, database),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
