"""Organisation administration through the consoles: users, roles (no escalation, multi-level),
teams, settings, the operation log."""

from __future__ import annotations

from flask import Flask

from arrears.auth import sessions as auth
from arrears.extensions import db
from arrears.models import Role
from arrears.orgs import roles
from arrears.tenancy import tenant
from tests.builders.tenants import PASSWORD, World
from tests.conftest import Database, csrf_token, login, signed_in


def _post(c, url: str, data: dict) -> object:  # type: ignore[no-untyped-def]
    return c.post(url, data={**data, "csrf_token": csrf_token(c, url)})


def _role_id(org_id: int, key: str) -> int:
    from sqlalchemy import select

    with tenant(org_id):
        return db.session.scalar(select(Role.id).where(Role.template_key == key))


def test_owner_admin_creates_a_user_who_can_sign_in(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.admin_email)
    role_id = _role_id(world.bank.org_id, "owner_staff")
    response = _post(
        c,
        "/asset/users/new",
        {
            "email": "New.Person@Bank.Example",
            "name": "New Person",
            "password": "Strong-Pass-123",
            "role_ids": [role_id],
            "team_id": 0,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert login(app.test_client(), "new.person@bank.example", "Strong-Pass-123").status_code == 302
    assert (
        database.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'user.created' "
            "AND details::text LIKE '%new.person@bank.example%'"
        )
        == 1
    )
    listing = c.get("/asset/users?q=new").get_data(as_text=True)
    assert "new.person@bank.example" in listing and world.bank.emails["owner_staff"] not in listing


def test_user_form_errors_name_the_field(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.admin_email)
    before = database.scalar("SELECT count(*) FROM users")
    taken = _post(
        c,
        "/asset/users/new",
        {"email": world.lender.admin_email, "name": "Dup", "password": "Strong-Pass-123", "team_id": 0},
    )
    assert "A user with this e-mail address exists already." in taken.get_data(as_text=True)
    weak = _post(
        c,
        "/asset/users/new",
        {"email": "weak@bank.example", "name": "Weak", "password": "aaaaaaaaaaaa", "team_id": 0},
    )
    assert "The password is too easy to guess" in weak.get_data(as_text=True)
    assert database.scalar("SELECT count(*) FROM users") == before


def _custom_role(
    org_id: int, admin_email: str, name: str, permissions: list[str], parent_id: int | None = None
) -> int:
    admin = auth.get_user_by_email(admin_email)
    with tenant(org_id):
        return roles.save_role(
            admin, role=None, name=name, description="", permissions=permissions, parent_id=parent_id
        ).id


def test_nobody_grants_rights_they_do_not_hold(app: Flask, world: World, database: Database) -> None:
    hr_role = _custom_role(
        world.bank.org_id,
        world.bank.admin_email,
        "HR",
        ["org.users.view", "org.users.manage", "org.roles.manage"],
    )
    admin = auth.get_user_by_email(world.bank.admin_email)
    from arrears.orgs import users

    with tenant(world.bank.org_id):
        users.create_user(
            admin, org=admin.org, email="hr@bank.example", name="HR", password=PASSWORD, role_ids=[hr_role]
        )
    c = signed_in(app, "hr@bank.example")
    before = database.scalar("SELECT count(*) FROM users")
    response = _post(
        c,
        "/asset/users/new",
        {
            "email": "boss@bank.example",
            "name": "Boss",
            "password": PASSWORD,
            "role_ids": [_role_id(world.bank.org_id, "owner_admin")],
            "team_id": 0,
        },
    )
    # the admin role is not even offered, and a forged choice is refused
    assert response.status_code == 200 and database.scalar("SELECT count(*) FROM users") == before
    response = _post(
        c, "/asset/roles/new", {"name": "Importers", "permissions": ["cases.import"], "parent_id": 0}
    )
    assert "You cannot grant permissions you do not hold: cases.import" in response.get_data(as_text=True)
    assert database.scalar("SELECT count(*) FROM roles WHERE name = 'Importers'") == 0


def test_sub_roles_hold_only_their_parents_permissions(app: Flask, world: World) -> None:
    c = signed_in(app, world.east.admin_email)
    parent = _custom_role(
        world.east.org_id,
        world.east.admin_email,
        "Seniors",
        ["cases.view", "cases.dispatch", "workbench.use"],
    )
    too_much = _post(
        c,
        "/agency/roles/new",
        {"name": "Juniors", "parent_id": parent, "permissions": ["cases.view", "org.users.manage"]},
    )
    assert "not in the parent: org.users.manage" in too_much.get_data(as_text=True)
    ok = _post(
        c,
        "/agency/roles/new",
        {"name": "Juniors", "parent_id": parent, "permissions": ["cases.view", "workbench.use"]},
    )
    assert ok.status_code == 302
    # the parent loses a right: the sub-role loses it too
    assert (
        _post(
            c,
            f"/agency/roles/{parent}",
            {"name": "Seniors", "parent_id": 0, "permissions": ["cases.view", "cases.dispatch"]},
        ).status_code
        == 302
    )
    from sqlalchemy import select

    with tenant(world.east.org_id):
        db.session.expire_all()
        junior = db.session.scalar(select(Role).where(Role.name == "Juniors"))
        assert junior.permissions == {"cases.view"}
        assert junior.parent_id == parent


def test_permissions_must_fit_the_organisation_kind(app: Flask, world: World) -> None:
    c = signed_in(app, world.east.admin_email)
    response = _post(
        c, "/agency/roles/new", {"name": "Owners", "permissions": ["partnerships.manage"], "parent_id": 0}
    )
    assert response.status_code == 200
    assert "Owners" not in signed_in(app, world.east.admin_email).get("/agency/roles").get_data(as_text=True)


def test_builtin_roles_cannot_be_changed_or_deleted(app: Flask, world: World) -> None:
    c = signed_in(app, world.bank.admin_email)
    rid = _role_id(world.bank.org_id, "owner_staff")
    page = _post(c, f"/asset/roles/{rid}", {"name": "Renamed", "permissions": ["cases.view"], "parent_id": 0})
    assert "Built-in roles cannot be changed" in page.get_data(as_text=True)
    _post(c, f"/asset/roles/{rid}/delete", {})
    assert _role_id(world.bank.org_id, "owner_staff") == rid


def test_role_in_use_cannot_be_deleted(app: Flask, world: World) -> None:
    rid = _custom_role(world.bank.org_id, world.bank.admin_email, "Temp", ["cases.view"])
    admin = auth.get_user_by_email(world.bank.admin_email)
    from arrears.orgs import users

    with tenant(world.bank.org_id):
        users.create_user(
            admin, org=admin.org, email="temp@bank.example", name="T", password=PASSWORD, role_ids=[rid]
        )
    c = signed_in(app, world.bank.admin_email)
    _post(c, f"/asset/roles/{rid}/delete", {})
    with tenant(world.bank.org_id):
        assert db.session.get(Role, rid) is not None


def test_user_without_manage_right_cannot_change_users(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.emails["owner_staff"])
    assert c.get("/asset/users").status_code == 200
    assert c.get("/asset/users/new").status_code == 403
    token = csrf_token(c, "/profile")
    assert c.post(f"/asset/users/{world.bank.admin_id}/status", data={"csrf_token": token}).status_code == 403
    assert database.scalar("SELECT status FROM users WHERE id = :i", i=world.bank.admin_id) == "active"


def test_agency_manager_builds_a_team(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.east.admin_email)
    lead, collector = world.east.users["team_lead"], world.east.users["collector"]
    response = _post(
        c, "/agency/teams/new", {"name": "Night shift", "lead_user_id": lead, "member_ids": [collector]}
    )
    assert response.status_code == 302
    row = database.rows(
        "SELECT t.lead_user_id, array_agg(u.id ORDER BY u.id) FROM teams t JOIN users u "
        "ON u.team_id = t.id WHERE t.name = 'Night shift' GROUP BY t.lead_user_id"
    )[0]
    assert row[0] == lead and sorted(row[1]) == sorted([lead, collector])
    assert "Night shift" in c.get("/agency/teams").get_data(as_text=True)


def test_operation_log_page_filters(app: Flask, world: World) -> None:
    login(app.test_client(), world.bank.admin_email, "Wrong-Password-1")
    c = signed_in(app, world.bank.admin_email)
    page = c.get("/asset/audit?action=auth.login_failed").get_data(as_text=True)
    assert "auth.login_failed" in page and "user.created" not in page
    assert "auth.login" in c.get("/asset/audit?action=auth.").get_data(as_text=True)


def test_settings_change_the_organisation(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.bank.admin_email)
    assert _post(c, "/asset/settings", {"name": "Bank Renamed", "default_locale": "en"}).status_code == 302
    assert (
        database.scalar("SELECT name FROM organisations WHERE id = :i", i=world.bank.org_id) == "Bank Renamed"
    )
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'org.settings_changed'") == 1
