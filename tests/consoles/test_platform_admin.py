"""The platform operator: tenants with their first admin, disabling a tenant."""

from __future__ import annotations

from flask import Flask

from tests.builders.tenants import World
from tests.conftest import Database, csrf_token, login, signed_in


def test_operator_creates_a_tenant_whose_admin_can_sign_in(
    app: Flask, world: World, database: Database
) -> None:
    c = signed_in(app, world.platform.admin_email)
    url = "/admin/organisations/new"
    data = {
        "kind": "agency",
        "slug": "north",
        "name": "North Collections",
        "admin_name": "Nora",
        "admin_email": "nora@north.example",
        "admin_password": "North-Pass-2026",
    }
    assert c.post(url, data={**data, "csrf_token": csrf_token(c, url)}).status_code == 302
    dup = c.post(url, data={**data, "csrf_token": csrf_token(c, url)})
    assert "The short name north is taken." in dup.get_data(as_text=True)
    bad = c.post(url, data={**data, "slug": "Bad Slug!", "csrf_token": csrf_token(c, url)})
    assert "lower-case letters, digits and dashes" in bad.get_data(as_text=True)
    new_admin = app.test_client()
    assert login(new_admin, "nora@north.example", "North-Pass-2026").headers["Location"].endswith("/agency/")
    roles = {
        r[0]
        for r in database.rows(
            "SELECT template_key FROM roles r JOIN organisations o ON o.id = r.org_id WHERE o.slug = 'north'"
        )
    }
    assert roles == {"agency_manager", "team_lead", "collector", "field_visitor"}
    assert "North Collections" in c.get("/admin/organisations").get_data(as_text=True)


def test_disabling_a_tenant_signs_its_users_out(app: Flask, world: World) -> None:
    victim = signed_in(app, world.west.admin_email)
    assert victim.get("/agency/").status_code == 200
    op = signed_in(app, world.platform.admin_email)
    url = f"/admin/organisations/{world.west.org_id}"
    assert op.post(url, data={"csrf_token": csrf_token(op, url)}).status_code == 302
    assert victim.get("/agency/").status_code == 302
    assert login(app.test_client(), world.west.admin_email).status_code == 401
    # enabling again lets them back in
    assert op.post(url, data={"csrf_token": csrf_token(op, url)}).status_code == 302
    assert login(app.test_client(), world.west.admin_email).status_code == 302


def test_other_kinds_do_not_see_the_admin_console(app: Flask, world: World) -> None:
    for email in (world.bank.admin_email, world.east.admin_email):
        assert signed_in(app, email).get("/admin/organisations").status_code == 404


def test_consoles_are_closed_to_other_kinds_and_to_anonymous(app: Flask, world: World) -> None:
    anonymous = app.test_client()
    for path in ("/asset/", "/agency/", "/workbench/", "/admin/"):
        response = anonymous.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    collector = signed_in(app, world.east.emails["collector"])
    assert collector.get("/workbench/").status_code == 200
    assert collector.get("/asset/").status_code == 404
    assert collector.get("/agency/users").status_code == 403
    field = signed_in(app, world.east.emails["field_visitor"])
    assert field.get("/workbench/").status_code == 404
