"""``flask db upgrade`` from empty on both engines; the schema matches the models."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import Database

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _flask(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_upgrade_from_empty_on_sqlite(tmp_path: pathlib.Path) -> None:
    env = {"ARREARS_INSTANCE_PATH": str(tmp_path)}
    result = _flask(["db", "upgrade"], env)
    assert result.returncode == 0, result.stderr
    engine = create_engine(f"sqlite:///{tmp_path / 'arrears.db'}")
    tables = set(inspect(engine).get_table_names())
    assert {"organisations", "users", "audit_events", "jobs", "approvals", "api_tokens"} <= tables
    # The audit log refuses changes on SQLite too (a trigger).
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organisations (slug, name, kind, status, settings, created_at) "
                "VALUES ('x', 'x', 'platform', 'active', '{}', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO audit_events (org_id, created_at, actor_email, action, target_type, "
                "target_id, details, ip, user_agent) VALUES (1, '2026-01-01', '', 'a', '', '', '{}', '', '')"
            )
        )
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'b'"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_upgrade_from_empty_on_postgresql(database: Database) -> None:
    # The session fixture migrated an empty database; check the result as the owner sees it.
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert database.scalar("SELECT version_num FROM alembic_version") == head
    assert database.scalar("SELECT count(*) FROM pg_proc WHERE proname = 'arrears_tenant'") == 1
    # The app role exists, owns nothing, cannot bypass RLS, is no superuser.
    row = database.rows("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'arrears_app'")[0]
    assert tuple(row) == (False, False)
    assert database.scalar("SELECT count(*) FROM pg_tables WHERE tableowner = 'arrears_app'") == 0


def test_models_and_migrations_agree(database: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import arrears.models  # noqa: F401
    from arrears.extensions import db

    with database.owner_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], diff
