"""The demo seed (idempotent, JSON as specified), its isolation, and the embedded SQLite default."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from flask import Flask

from tests.conftest import PII_INDEX_KEY, PII_KEY, Database, FreshContextClient, login

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seed_demo_json_is_idempotent_and_isolated(app: Flask, database: Database) -> None:
    env = {
        "DATABASE_URL": database.app_url,
        "DATABASE_MIGRATION_URL": database.owner_url,
        "ARREARS_ENV": "testing",
        "SECRET_KEY": "x" * 32,
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
    }
    first = _cli(["seed-demo", "--json"], env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert {(o["slug"], o["kind"]) for o in data["organisations"]} == {
        ("platform", "platform"),
        ("demo-bank", "asset_owner"),
        ("demo-lender", "asset_owner"),
        ("demo-agency-east", "agency"),
        ("demo-agency-west", "agency"),
    }
    roles = {u["role"] for u in data["users"]}
    assert roles == {
        "platform_operator",
        "owner_admin",
        "owner_staff",
        "agency_manager",
        "team_lead",
        "collector",
        "field_visitor",
    }
    assert all(set(u) == {"email", "password", "org", "role"} for u in data["users"])
    counts = {
        t: database.scalar(f"SELECT count(*) FROM {t}")
        for t in ("organisations", "users", "partnerships", "cases", "placements", "case_assignments")
    }
    assert counts["cases"] == 600
    second = _cli(["seed-demo", "--json", "--password", "Other-Demo-Pass-1"], env)
    assert second.returncode == 0, second.stderr
    assert {t: database.scalar(f"SELECT count(*) FROM {t}") for t in counts} == counts
    assert all(u["password"] == "Other-Demo-Pass-1" for u in json.loads(second.stdout)["users"])
    # east serves both owners, west only demo-bank
    pairs = {
        tuple(r)
        for r in database.rows(
            "SELECT o.slug, a.slug FROM partnerships p JOIN organisations o ON o.id = p.org_id "
            "JOIN organisations a ON a.id = p.agency_org_id"
        )
    }
    assert pairs == {
        ("demo-bank", "demo-agency-east"),
        ("demo-lender", "demo-agency-east"),
        ("demo-bank", "demo-agency-west"),
    }
    # active placements with both agencies (west only from demo-bank), cases dispatched to collectors,
    # a pool left, a few bank cases worked in-house
    held = {
        (r[0], r[1]): (r[2], r[3])
        for r in database.rows(
            "SELECT o.slug, a.slug, count(*), count(c.assignee_user_id) FROM cases c "
            "JOIN organisations o ON o.id = c.org_id JOIN organisations a ON a.id = c.agency_org_id "
            "GROUP BY 1, 2"
        )
    }
    assert set(held) == {
        ("demo-bank", "demo-agency-east"),
        ("demo-bank", "demo-agency-west"),
        ("demo-lender", "demo-agency-east"),
    }
    assert sum(n for n, _ in held.values()) == 240 + 150
    assert all(0 < assigned < n for n, assigned in held.values()), held
    placements = database.rows("SELECT status, count(*) FROM placements GROUP BY 1")
    assert [tuple(r) for r in placements] == [("active", 3)]
    assert (
        database.scalar(
            "SELECT count(*) FROM cases c JOIN users u ON u.id = c.assignee_user_id "
            "WHERE c.agency_org_id IS NULL AND u.org_id = c.org_id"
        )
        == 20
    )
    # every printed login works
    for user in json.loads(second.stdout)["users"]:
        assert login(app.test_client(), user["email"], user["password"]).status_code == 302, user["email"]
    # a token of demo-lender's admin gets 404 for every demo-bank object id
    token = json.loads(
        _cli(["tokens", "create", "--email", "admin@demo-lender.example", "--json"], env).stdout
    )["token"]
    c = app.test_client()
    bank_user_ids = [
        r[0]
        for r in database.rows(
            "SELECT u.id FROM users u JOIN organisations o ON o.id = u.org_id WHERE o.slug = 'demo-bank'"
        )
    ]
    assert bank_user_ids
    for uid in bank_user_ids:
        response = c.get(f"/api/v1/users/{uid}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404 and response.is_json


@pytest.fixture
def sqlite_app(tmp_path: pathlib.Path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from arrears.app import create_app
    from arrears.extensions import db

    application = create_app(
        {
            "ARREARS_ENV": "testing",
            "SECRET_KEY": "x" * 32,
            "REDIS_URL": "",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'arrears.db'}",
            "DATABASE_MIGRATION_URL": "",
            "BABEL_DEFAULT_LOCALE": "en",
        }
    )
    application.test_client_class = FreshContextClient
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def test_embedded_sqlite_default_keeps_tenants_apart(sqlite_app: Flask) -> None:
    """On SQLite walls 1 and 2 hold: the same 404 for foreign and missing objects."""
    from arrears.services.auth import get_user_by_email
    from arrears.services.demo import DEFAULT_PASSWORD, seed

    seed()
    c = sqlite_app.test_client()
    assert login(c, "admin@demo-lender.example", DEFAULT_PASSWORD).status_code == 302
    bank_admin = get_user_by_email("admin@demo-bank.example")
    assert c.get(f"/asset/users/{bank_admin.id}").status_code == 404
    assert c.get("/asset/users/99999").status_code == 404
    page = c.get("/asset/users").get_data(as_text=True)
    assert "admin@demo-lender.example" in page and "admin@demo-bank.example" not in page
    # jobs run inline and the console says so
    jobs = c.get("/asset/jobs").get_data(as_text=True)
    assert "background jobs run inline" in jobs
