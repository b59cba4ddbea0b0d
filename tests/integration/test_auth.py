"""Console login: generic errors, throttling, sessions that really die, CSRF, idle timeout."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import text

from tests.builders.tenants import PASSWORD, World
from tests.conftest import Database, csrf_token, login, signed_in


def test_login_lands_on_the_console_of_the_org_kind(app: Flask, world: World) -> None:
    cases = {
        world.platform.admin_email: "/admin/",
        world.bank.admin_email: "/asset/",
        world.east.admin_email: "/agency/",
        world.east.emails["collector"]: "/workbench/",
        world.east.emails["field_visitor"]: "/profile",
    }
    for email, landing in cases.items():
        c = app.test_client()
        response = login(c, email)
        assert response.status_code == 302 and response.headers["Location"].endswith(landing), email
        assert c.get(landing).status_code == 200, email


def test_wrong_password_and_unknown_account_get_the_same_generic_answer(app: Flask, world: World) -> None:
    c = app.test_client()
    bad_password = login(c, world.bank.admin_email, "Wrong-Password-1")
    unknown = login(c, "nobody@nowhere.example", "Wrong-Password-1")
    assert bad_password.status_code == unknown.status_code == 401
    msg = "Invalid e-mail address or password."
    assert msg in bad_password.get_data(as_text=True) and msg in unknown.get_data(as_text=True)


def test_disabled_user_gets_the_generic_answer_too(app: Flask, world: World, database: Database) -> None:
    with database.owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET status = 'disabled' WHERE id = :i"), {"i": world.bank.users["owner_staff"]}
        )
    response = login(app.test_client(), world.bank.emails["owner_staff"])
    assert response.status_code == 401 and "Invalid e-mail address or password." in response.get_data(
        as_text=True
    )


def _wait_over(app: Flask) -> None:
    """Every counter's last failure moved back a day (the back-off over, the counts kept)."""
    import redis

    conn = redis.Redis.from_url(app.config["REDIS_URL"])
    for key in conn.scan_iter(f"{app.config['REDIS_KEY_PREFIX']}:login:*"):
        conn.hincrby(key, "last", -86_000_000)  # milliseconds


def test_failures_on_one_account_from_one_client_back_off(app: Flask, world: World) -> None:
    c = app.test_client()
    for _ in range(5):
        assert login(c, world.bank.admin_email, "Wrong-Password-1").status_code == 401
    # the right password waits too, for the back-off, and is told how long
    blocked = login(c, world.bank.admin_email, PASSWORD)
    assert blocked.status_code == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 30
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    # other accounts are unaffected
    assert login(app.test_client(), world.lender.admin_email).status_code == 302
    # the wait ends by itself, and the next failure doubles it
    _wait_over(app)
    assert login(c, world.bank.admin_email, "Wrong-Password-1").status_code == 401
    assert 31 <= int(login(c, world.bank.admin_email, PASSWORD).headers["Retry-After"]) <= 60
    _wait_over(app)
    assert login(c, world.bank.admin_email, PASSWORD).status_code == 302


def test_nobody_can_lock_the_owner_out_of_their_own_browser(app: Flask, world: World) -> None:
    owner = app.test_client()
    assert login(owner, world.bank.admin_email).status_code == 302  # the browser is trusted now
    assert owner.get_cookie("arrears_device") is not None
    # an attacker fails on the account from many addresses, and sprays from the owner's office
    for i in range(40):
        app.test_client().post(
            "/login",
            data={"email": world.bank.admin_email, "password": f"Guess-{i}"},
            environ_base={"REMOTE_ADDR": f"198.51.100.{i}"},
        )
    app.config["LOGIN_MAX_FAILURES_IP"] = 3
    for i in range(5):
        login(app.test_client(), f"guess{i}@nowhere.example", "Wrong-Password-1")  # 127.0.0.1
    # a browser that never signed in to the account waits; the owner's own does not
    assert login(app.test_client(), world.bank.admin_email).status_code == 429
    device = owner.get_cookie("arrears_device")
    assert device is not None

    def owners_browser() -> Any:
        browser = app.test_client()
        browser.set_cookie("arrears_device", device.value, domain="localhost")
        return browser

    assert login(owners_browser(), world.bank.admin_email).status_code == 302
    # a stolen device cookie is no way around the back-off: it counts its own failures
    for _ in range(5):
        assert login(owners_browser(), world.bank.admin_email, "Wrong-Password-1").status_code == 401
    assert login(owners_browser(), world.bank.admin_email).status_code == 429


def test_spraying_from_one_address_backs_off_untrusted_clients(app: Flask, world: World) -> None:
    app.config["LOGIN_MAX_FAILURES_IP"] = 3
    c = app.test_client()
    for i in range(3):
        login(c, f"guess{i}@nowhere.example", "Wrong-Password-1")
    assert login(c, world.bank.admin_email, PASSWORD).status_code == 429


def test_the_field_login_backs_off_and_trusts_its_device(app: Flask, world: World) -> None:
    email = world.east.emails["field_visitor"]
    client = app.test_client()

    def field(password: str, device: str | None = None, ip: str = "203.0.113.9") -> Any:
        body = {"email": email, "password": password, "device_name": "phone", "device": device}
        return client.post("/field/v1/login", json=body, environ_base={"REMOTE_ADDR": ip})

    first = field(PASSWORD)
    assert first.status_code == 201
    device = first.get_json()["device"]
    for i in range(30):
        field("Wrong-Password-1", ip=f"192.0.2.{i}")
    refused = field(PASSWORD, ip="192.0.2.200")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.get_json()["error"]["code"] == "too_many_attempts"
    assert field(PASSWORD, device=device, ip="192.0.2.201").status_code == 201
    assert field(PASSWORD, device="forged." + device[7:], ip="192.0.2.202").status_code == 429


def test_throttling_without_redis_uses_the_database(eager_app: Flask, database: Database) -> None:
    from tests.builders.tenants import build_world

    world = build_world()
    c = eager_app.test_client()
    for _ in range(5):
        assert login(c, world.bank.admin_email, "Wrong-Password-1").status_code == 401
    assert login(c, world.bank.admin_email, PASSWORD).status_code == 429
    assert database.scalar("SELECT max(failures) FROM auth_throttle") == 5
    with database.owner_engine.begin() as conn:
        conn.execute(text("UPDATE auth_throttle SET last_failure_at = last_failure_at - interval '1 hour'"))
    assert login(c, world.bank.admin_email, PASSWORD).status_code == 302


def test_production_behind_a_proxy_throttles_the_forwarded_address(app: Flask, tmp_path: Any) -> None:
    from arrears.app import create_app
    from tests.builders.production import production_config
    from tests.builders.tenants import build_world

    world = build_world()
    production = production_config(app, tmp_path, REDIS_URL=app.config["REDIS_URL"])
    prod = create_app(
        {**production, "SERVER_NAME": "localhost", "REDIS_KEY_PREFIX": app.config["REDIS_KEY_PREFIX"]}
    )
    prod.config["WTF_CSRF_ENABLED"] = False  # the form's token is not what this test is about

    def sign_in(client: Any, password: str, address: str) -> Any:
        headers = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
        return client.post(
            "/login", data={"email": world.bank.admin_email, "password": password}, headers=headers
        )

    attacker = prod.test_client()
    for _ in range(5):
        assert sign_in(attacker, "Wrong-Password-1", "203.0.113.77").status_code == 401
    again = sign_in(attacker, PASSWORD, "203.0.113.77")
    assert again.status_code == 429 and "Retry-After" in again.headers
    ok = sign_in(prod.test_client(), PASSWORD, "203.0.113.78")
    assert ok.status_code == 302  # another address: the pair counter is the attacker's only


def test_failed_and_successful_logins_are_audited(app: Flask, world: World, database: Database) -> None:
    login(app.test_client(), world.bank.admin_email, "Wrong-Password-1")
    login(app.test_client(), world.bank.admin_email)
    actions = [
        r[0]
        for r in database.rows(
            "SELECT action FROM audit_events WHERE org_id = :o ORDER BY id", o=world.bank.org_id
        )
    ]
    assert "auth.login_failed" in actions and actions[-1] == "auth.login"


def test_logout_kills_the_session_even_for_a_copied_cookie(app: Flask, world: World) -> None:
    c = signed_in(app, world.bank.admin_email)
    stolen = c.get_cookie("arrears_session").value
    assert c.get("/asset/").status_code == 200
    token = csrf_token(c, "/asset/users")
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    thief = app.test_client()
    thief.set_cookie("arrears_session", stolen, domain="localhost")
    response = thief.get("/asset/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_ends_every_session(app: Flask, world: World) -> None:
    first = signed_in(app, world.bank.admin_email)
    second = signed_in(app, world.bank.admin_email)
    token = csrf_token(first, "/profile")
    response = first.post(
        "/profile",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": "Another-Pass-2026"},
    )
    assert response.status_code == 302
    for c in (first, second):
        assert c.get("/asset/").status_code == 302
    assert login(app.test_client(), world.bank.admin_email, "Another-Pass-2026").status_code == 302


def test_disabling_a_user_ends_their_sessions(app: Flask, world: World) -> None:
    victim = signed_in(app, world.bank.emails["owner_staff"])
    assert victim.get("/asset/").status_code == 200
    admin = signed_in(app, world.bank.admin_email)
    uid = world.bank.users["owner_staff"]
    token = csrf_token(admin, f"/asset/users/{uid}")
    assert admin.post(f"/asset/users/{uid}/status", data={"csrf_token": token}).status_code == 302
    assert victim.get("/asset/").status_code == 302


def test_idle_sessions_expire(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.admin_email)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    with database.owner_engine.begin() as conn:
        conn.execute(text("UPDATE user_sessions SET last_seen_at = :t"), {"t": old})
    assert c.get("/asset/").status_code == 302


def test_forms_without_csrf_token_are_rejected(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.admin_email)
    before = database.scalar("SELECT count(*) FROM users")
    response = c.post(
        "/asset/users/new", data={"email": "x@bank.example", "name": "X", "password": "Long-Pass-123"}
    )
    assert response.status_code == 400
    assert database.scalar("SELECT count(*) FROM users") == before
    assert c.post("/login", data={"email": "a@b.example", "password": "x"}).status_code in (400, 302)


def test_open_redirect_after_login_is_refused(app: Flask, world: World) -> None:
    c = app.test_client()
    token = csrf_token(c)
    response = c.post(
        "/login?next=https://evil.example/",
        data={"email": world.bank.admin_email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/asset/")


def test_session_cookie_flags(app: Flask, world: World) -> None:
    c = app.test_client()
    token = csrf_token(c)
    response = c.post(
        "/login", data={"email": world.bank.admin_email, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
