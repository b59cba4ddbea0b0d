"""``/api/v1`` and ``/field/v1``: tokens, JSON errors everywhere, OpenAPI documents."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest
from flask import Flask
from openapi_spec_validator import validate
from sqlalchemy import text

from tests.builders.tenants import PASSWORD, World
from tests.conftest import PII_INDEX_KEY, PII_KEY, Database, api_token

ROOT = pathlib.Path(__file__).resolve().parents[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_me_users_and_user(app: Flask, world: World) -> None:
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    me = c.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    body = me.get_json()
    assert body["email"] == world.bank.admin_email and body["org"]["slug"] == "bank"
    assert "org.users.manage" in body["permissions"]
    users = c.get("/api/v1/users", headers=bearer(token)).get_json()
    assert sorted(u["email"] for u in users) == sorted(world.bank.emails.values())
    one = c.get(f"/api/v1/users/{world.bank.users['owner_staff']}", headers=bearer(token))
    assert one.status_code == 200 and one.get_json()["email"] == world.bank.emails["owner_staff"]


def test_foreign_and_missing_users_are_both_404(app: Flask, world: World) -> None:
    c = app.test_client()
    token = api_token(world.lender.admin_email)
    foreign = c.get(f"/api/v1/users/{world.bank.admin_id}", headers=bearer(token))
    missing = c.get("/api/v1/users/999999", headers=bearer(token))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()


def test_unknown_missing_and_malformed_tokens_are_401_json(app: Flask, world: World) -> None:
    c = app.test_client()
    for headers in ({}, bearer("ark_nonsense"), {"Authorization": "Basic abc"}, bearer("")):
        response = c.get("/api/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.is_json and response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_and_revoked_tokens_stop_working(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with database.owner_engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET expires_at = :t"), {"t": past})
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 401

    second = api_token(world.bank.admin_email)
    assert c.get("/api/v1/me", headers=bearer(second)).status_code == 200
    from arrears.auth import sessions as auth
    from arrears.extensions import db
    from arrears.models import ApiToken
    from arrears.tenancy import tenant

    with tenant(world.bank.org_id):
        row = db.session.query(ApiToken).order_by(ApiToken.id.desc()).first()
        auth.revoke_token(row.user, row)
    assert c.get("/api/v1/me", headers=bearer(second)).status_code == 401
    actions = [
        r[0] for r in database.rows("SELECT action FROM audit_events WHERE action LIKE 'token.%' ORDER BY id")
    ]
    assert actions == ["token.created", "token.created", "token.revoked"]


def test_tokens_are_stored_hashed(app: Flask, world: World, database: Database) -> None:
    token = api_token(world.bank.admin_email)
    stored = database.rows("SELECT token_hash, prefix FROM api_tokens")
    assert len(stored) == 1 and token not in (stored[0][0], stored[0][1]) and stored[0][0] != token
    assert token.startswith(stored[0][1])


def test_disabled_user_token_stops_working(app: Flask, world: World, database: Database) -> None:
    token = api_token(world.bank.emails["owner_staff"])
    c = app.test_client()
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with database.owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET status = 'disabled' WHERE id = :i"), {"i": world.bank.users["owner_staff"]}
        )
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_permission_is_checked(app: Flask, world: World) -> None:
    token = api_token(world.bank.emails["owner_staff"])  # staff may view users
    assert app.test_client().get("/api/v1/users", headers=bearer(token)).status_code == 200
    from arrears.auth import sessions as auth
    from arrears.errors import PermissionDenied
    from arrears.models import ApiTokenAudience
    from arrears.tenancy import tenant

    visitor = auth.get_user_by_email(world.east.emails["field_visitor"])
    with tenant(world.east.org_id), pytest.raises(PermissionDenied):  # field visitors hold no api.tokens
        auth.create_token(visitor, visitor, audience=ApiTokenAudience.API, name="x")


def test_api_errors_are_json_never_html(app: Flask, world: World) -> None:
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    for method, path in (("get", "/api/v1/nope"), ("delete", "/api/v1/me"), ("get", "/field/v1/nope")):
        response = getattr(c, method)(path, headers=bearer(token))
        assert response.status_code in (404, 405) and response.is_json, path
        assert "<html" not in response.get_data(as_text=True)


def test_field_login_with_malformed_json_names_the_problem(app: Flask, world: World) -> None:
    c = app.test_client()
    response = c.post("/field/v1/login", data='{"email": "a@b.c", ', content_type="application/json")
    assert response.status_code == 400 and response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json" and "line 1" in error["message"]
    response = c.post("/field/v1/login", json={"email": "not-an-email"})
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert set(details) == {"email", "password", "device_name"}


def test_field_login_me_and_logout(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    body = {"email": world.east.emails["field_visitor"], "password": PASSWORD, "device_name": "Pixel 8"}
    response = c.post("/field/v1/login", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    token = response.get_json()["token"]
    me = c.get("/field/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json()["email"] == world.east.emails["field_visitor"]
    assert database.scalar("SELECT device_name FROM api_tokens WHERE audience = 'field'") == "Pixel 8"
    # a field token is not an integration token, and the reverse
    assert c.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert c.get("/field/v1/me", headers=bearer(api_token(world.bank.admin_email))).status_code == 401
    assert c.post("/field/v1/logout", headers=bearer(token)).status_code == 204
    assert c.get("/field/v1/me", headers=bearer(token)).status_code == 401


def test_field_login_bad_password_and_wrong_role(app: Flask, world: World) -> None:
    c = app.test_client()
    bad = c.post(
        "/field/v1/login",
        json={"email": world.east.emails["field_visitor"], "password": "Wrong-Pass-99", "device_name": "x"},
    )
    assert (
        bad.status_code == 401 and bad.get_json()["error"]["message"] == "Invalid e-mail address or password."
    )
    manager = c.post(
        "/field/v1/login",
        json={"email": world.east.emails["collector"], "password": PASSWORD, "device_name": "x"},
    )
    assert manager.status_code == 403


def test_password_change_kills_field_tokens(app: Flask, world: World) -> None:
    c = app.test_client()
    body = {"email": world.east.emails["field_visitor"], "password": PASSWORD, "device_name": "phone"}
    token = c.post("/field/v1/login", json=body).get_json()["token"]
    from arrears.auth import sessions as auth
    from arrears.tenancy import tenant

    user = auth.get_user_by_email(world.east.emails["field_visitor"])
    with tenant(user.org_id):
        auth.change_password(user, current_password=PASSWORD, new_password="Brand-New-Pass-1")
    assert c.get("/field/v1/me", headers=bearer(token)).status_code == 401


def _rules(app: Flask, prefix: str) -> set[str]:
    import re

    return {
        re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)[len(prefix) :]
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(prefix + "/")
    }


def test_openapi_documents_list_every_route_and_are_valid(app: Flask) -> None:
    c = app.test_client()
    for prefix in ("/api/v1", "/field/v1"):
        spec = c.get(f"{prefix}/openapi.json").get_json()
        validate(spec)
        assert set(spec["paths"]) == _rules(app, prefix), prefix
    api = c.get("/api/v1/openapi.json").get_json()
    assert {"/me", "/users", "/users/{user_id}"} <= set(api["paths"])
    assert "User" in api["components"]["schemas"] or "UserSchema" in json.dumps(api)


def test_tokens_create_cli_prints_json(app: Flask, world: World, database: Database) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": database.app_url,
        "ARREARS_ENV": "testing",
        "SECRET_KEY": "x" * 32,
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
        "REDIS_URL": "",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "tokens",
            "create",
            "--email",
            world.bank.admin_email,
            "--days",
            "7",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)["token"]
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).status_code == 200
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "tokens",
            "create",
            "--email",
            "no@one.example",
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and json.loads(missing.stdout)["error"]["code"] == "not_found"


def test_create_user_through_the_api(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    from sqlalchemy import select

    from arrears.extensions import db
    from arrears.models import Role
    from arrears.tenancy import tenant

    with tenant(world.bank.org_id):
        staff_role = db.session.scalar(select(Role.id).where(Role.template_key == "owner_staff"))
    body = {
        "email": "api.made@bank.example",
        "name": "Api Made",
        "password": "Api-Made-Pass-1",
        "role_ids": [staff_role],
    }
    created = c.post("/api/v1/users", json=body, headers=bearer(token))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["roles"][0]["key"] == "owner_staff" and "password" not in created.get_json()
    again = c.post("/api/v1/users", json=body, headers=bearer(token))
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "email"
    malformed = c.post(
        "/api/v1/users", data="{not json", content_type="application/json", headers=bearer(token)
    )
    assert malformed.status_code == 400 and malformed.get_json()["error"]["code"] == "malformed_json"
    assert "line 1, column 2" in malformed.get_json()["error"]["message"]
    invalid = c.post("/api/v1/users", json={"email": "x"}, headers=bearer(token))
    assert invalid.status_code == 422 and {"email", "name", "password"} <= set(
        invalid.get_json()["error"]["details"]
    )
    # a role of another tenant is "not there"
    with tenant(world.lender.org_id):
        foreign_role = db.session.scalar(select(Role.id).where(Role.template_key == "owner_admin"))
    foreign = c.post(
        "/api/v1/users",
        json={**body, "email": "x2@bank.example", "role_ids": [foreign_role]},
        headers=bearer(token),
    )
    assert foreign.status_code == 422 and foreign.get_json()["error"]["field"] == "role_ids"
    # staff may not create users
    staff = c.post(
        "/api/v1/users",
        json={**body, "email": "x3@bank.example"},
        headers=bearer(api_token(world.bank.emails["owner_staff"])),
    )
    assert staff.status_code == 403
    assert database.scalar("SELECT count(*) FROM users WHERE email LIKE 'x%@bank.example'") == 0
