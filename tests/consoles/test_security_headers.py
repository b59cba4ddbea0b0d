"""Answers carrying personal data are never cached (Cache-Control: no-store on pages, /api/v1,
/field/v1, files and errors; static assets excepted), and production behind a TLS proxy sends
Strict-Transport-Security beside the content security policy."""

from __future__ import annotations

import pathlib

from flask import Flask

from tests.builders.production import production_config
from tests.conftest import Database, api_token, signed_in


def test_no_answer_with_personal_data_is_cached(app: Flask, database: Database) -> None:
    from tests.builders.tenants import build_world

    world = build_world()
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    for url in ("/api/v1/cases", "/api/v1/me", "/api/v1/cases/999999", "/api/v1/openapi.json"):
        answer = client.get(url, headers=bearer)
        assert answer.headers.get("Cache-Control") == "no-store", (url, answer.status_code)
    assert client.post("/field/v1/login", json={}).headers.get("Cache-Control") == "no-store"
    page = signed_in(app, world.bank.admin_email).get("/asset/cases")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    static = client.get("/static/" + _a_static_file(app))
    assert static.status_code == 200 and "no-store" not in static.headers.get("Cache-Control", "")
    assert "Strict-Transport-Security" not in page.headers  # not in testing, not over plain HTTP


def _a_static_file(app: Flask) -> str:
    root = pathlib.Path(app.static_folder or "")
    return next(p for p in root.rglob("*.css")).relative_to(root).as_posix()


def test_production_behind_a_tls_proxy_sends_hsts(app: Flask, tmp_path: pathlib.Path) -> None:
    from arrears.app import create_app

    production = production_config(app, tmp_path)
    assert production["HSTS_SECONDS"] >= 31_536_000 and production["SESSION_COOKIE_SECURE"]
    behind_proxy = create_app({**production, "SERVER_NAME": "localhost", "TESTING": True})
    client = behind_proxy.test_client()
    secure = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "frame-ancestors 'none'" in secure.headers["Content-Security-Policy"]
    plain = client.get("/login", base_url="http://localhost")
    assert "Strict-Transport-Security" not in plain.headers  # plain HTTP: RFC 6797 §7.2
