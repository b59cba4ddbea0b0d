"""Language: the switch, the user's choice, the browser's Accept-Language."""

from __future__ import annotations

from flask import Flask

from tests.builders.tenants import World
from tests.conftest import signed_in


def test_accept_language_picks_the_catalog(app: Flask) -> None:
    c = app.test_client()
    assert "登录" in c.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "Sign in" in c.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)


def test_switch_overrides_the_browser(app: Flask) -> None:
    c = app.test_client()
    c.get("/lang/zh_CN")
    assert "登录" in c.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    c.get("/lang/en")
    assert "Sign in" in c.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)


def test_console_pages_and_flash_messages_are_translated(app: Flask, world: World) -> None:
    c = signed_in(app, world.bank.admin_email)
    c.get("/lang/zh_CN")
    page = c.get("/asset/users").get_data(as_text=True)
    assert "用户" in page and "Users" not in page
    assert "角色" in c.get("/asset/roles").get_data(as_text=True)


def test_json_errors_follow_the_language(app: Flask) -> None:
    c = app.test_client()
    body = c.get("/api/v1/me", headers={"Accept-Language": "zh-CN"}).get_json()
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"] != "Authentication is required."


def test_organisation_default_language_beats_the_browser(app: Flask, world: World) -> None:
    from tests.conftest import csrf_token

    admin = signed_in(app, world.bank.admin_email)
    admin.post(
        "/asset/settings",
        data={
            "name": "Org bank",
            "default_locale": "zh_CN",
            "csrf_token": csrf_token(admin, "/asset/settings"),
        },
    )
    staff = signed_in(app, world.bank.emails["owner_staff"])
    page = staff.get("/asset/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "资产方控制台" in page
    staff.get("/lang/en")
    assert "Asset owner console" in staff.get("/asset/").get_data(as_text=True)
