"""A password reset by an administrator and a disabled account revoke the user's API and field
tokens (enabling the account again revives none); a password change revokes the API tokens when the
user asks for it, and field logins always (the field app signs in again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

from arrears.auth import sessions
from arrears.auth.models import User, UserStatus
from arrears.orgs import users
from arrears.tenancy import tenant
from tests.builders.tenants import PASSWORD, World, get_user
from tests.conftest import Database, api_token, csrf_token, signed_in

NEW = "Kestrel-Orchard-58"


def _me(app: Flask, raw: str, api: str = "/api/v1") -> int:
    return app.test_client().get(f"{api}/me", headers={"Authorization": f"Bearer {raw}"}).status_code


def _field_token(email: str) -> str:
    _, raw, _, _ = sessions.field_login(email, PASSWORD, "phone", "10.0.0.1")
    return raw


@contextmanager
def _in_east(world: World, user_id: int, target: str) -> Iterator[tuple[User, User]]:
    """(the acting user, one of east's people), inside east's tenant."""
    with tenant(world.east.org_id, "agency", user_id):
        yield get_user(user_id), get_user(world.east.users[target])


def test_an_admins_reset_revokes_the_users_tokens(app: Flask, world: World, database: Database) -> None:
    collector_api = api_token(world.east.emails["collector"])
    field = _field_token(world.east.emails["field_visitor"])
    other = api_token(world.east.admin_email)
    assert _me(app, collector_api) == 200 and _me(app, field, "/field/v1") == 200
    for target in ("collector", "field_visitor"):
        with _in_east(world, world.east.admin_id, target) as (admin, user):
            users.reset_password(admin, user, new_password=NEW)
    assert _me(app, collector_api) == 401 and _me(app, field, "/field/v1") == 401
    assert _me(app, other) == 200  # only the reset users' tokens went
    live = "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL AND user_id = :u"
    assert database.scalar(live, u=world.east.users["collector"]) == 0
    reason = "SELECT details->>'reason' FROM audit_events WHERE action = 'token.revoked_all' LIMIT 1"
    assert database.scalar(reason) == "password reset"


def test_a_disabled_account_keeps_no_token_when_enabled_again(app: Flask, world: World) -> None:
    api = api_token(world.east.emails["collector"])
    for status in (UserStatus.DISABLED, UserStatus.ACTIVE):
        with _in_east(world, world.east.admin_id, "collector") as (admin, collector):
            users.set_status(admin, collector, status)
    assert _me(app, api) == 401


def test_a_password_change_revokes_api_tokens_when_asked(app: Flask, world: World) -> None:
    kept = api_token(world.east.emails["collector"])
    collector_id = world.east.users["collector"]
    with _in_east(world, collector_id, "collector") as (_, collector):
        sessions.change_password(collector, current_password=PASSWORD, new_password=NEW)
    assert _me(app, kept) == 200
    with _in_east(world, collector_id, "collector") as (_, collector):
        sessions.change_password(
            collector, current_password=NEW, new_password=NEW + "x", revoke_api_tokens=True
        )
    assert _me(app, kept) == 401


def test_the_profile_page_offers_to_revoke_the_api_tokens(app: Flask, world: World) -> None:
    kept = api_token(world.east.emails["collector"])
    c = signed_in(app, world.east.emails["collector"])
    page = c.get("/profile").get_data(as_text=True)
    assert 'name="revoke_api_tokens"' in page
    changed = c.post(
        "/profile",
        data={
            "csrf_token": csrf_token(c, "/profile"),
            "current_password": PASSWORD,
            "new_password": NEW,
            "revoke_api_tokens": "y",
        },
    )
    assert changed.status_code == 302 and "/login" in changed.headers["Location"]
    assert _me(app, kept) == 401
