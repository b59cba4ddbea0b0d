"""Partnerships (M-R1, M-R4) and the maker-checker approvals mechanism."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from arrears.auth import sessions as auth
from arrears.errors import Conflict, PermissionDenied
from arrears.extensions import db
from arrears.models import Approval, ApprovalStatus, Partnership
from arrears.orgs import approvals
from arrears.tenancy import tenant
from tests.builders.tenants import World, make_tenant
from tests.conftest import Database, csrf_token, signed_in


def test_owner_partners_with_an_agency_by_short_name(app: Flask, world: World, database: Database) -> None:
    c = signed_in(app, world.lender.admin_email)
    url = "/asset/partnerships/new"
    bad = c.post(
        url,
        data={
            "csrf_token": csrf_token(c, url),
            "agency_slug": "nope",
            "starts_on": "2026-02-01",
            "status": "active",
        },
    )
    assert "No active agency has this short name." in bad.get_data(as_text=True)
    reversed_dates = c.post(
        url,
        data={
            "csrf_token": csrf_token(c, url),
            "agency_slug": "east",
            "starts_on": "2026-02-01",
            "ends_on": "2026-01-01",
            "status": "active",
        },
    )
    assert "The end date is before the start date." in reversed_dates.get_data(as_text=True)
    ok = c.post(
        url,
        data={
            "csrf_token": csrf_token(c, url),
            "agency_slug": "east",
            "starts_on": "2026-02-01",
            "grants": ["field.visit", "pii.unmask"],
            "status": "active",
        },
    )
    assert ok.status_code == 302
    dup = c.post(
        url,
        data={
            "csrf_token": csrf_token(c, url),
            "agency_slug": "east",
            "starts_on": "2026-02-01",
            "status": "active",
        },
    )
    assert "You already work with this agency." in dup.get_data(as_text=True)
    # east now serves two owners and sees both, west still sees only lender
    east_page = signed_in(app, world.east.admin_email).get("/agency/owners").get_data(as_text=True)
    assert "Org bank" in east_page and "Org lender" in east_page
    west_page = signed_in(app, world.west.admin_email).get("/agency/owners").get_data(as_text=True)
    assert "Org bank" not in west_page and "Org lender" in west_page


def test_partnership_with_an_owner_is_refused(app: Flask, world: World) -> None:
    c = signed_in(app, world.bank.admin_email)
    url = "/asset/partnerships/new"
    page = c.post(
        url,
        data={
            "csrf_token": csrf_token(c, url),
            "agency_slug": "lender",
            "starts_on": "2026-02-01",
            "status": "active",
        },
    )
    assert "No active agency has this short name." in page.get_data(as_text=True)


def test_agency_asks_for_a_right_and_the_owner_decides(app: Flask, world: World, database: Database) -> None:
    agency = signed_in(app, world.east.admin_email)
    url = f"/agency/owners/{world.bank_east}/request"
    response = agency.post(
        url,
        data={"csrf_token": csrf_token(agency, url), "right": "pii.unmask", "reason": "to call relatives"},
    )
    assert response.status_code == 302
    approval_id = database.scalar("SELECT id FROM approvals")
    assert "pii.unmask" not in database.scalar(
        "SELECT grants::text FROM partnerships WHERE id = :i", i=world.bank_east
    )
    # the owner's staff can see but not decide; the owner's admin decides
    staff = signed_in(app, world.bank.emails["owner_staff"])
    page = staff.get(f"/asset/approvals/{approval_id}").get_data(as_text=True)
    assert "to call relatives" in page and 'name="approve"' not in page
    owner = signed_in(app, world.bank.admin_email)
    assert "Org east" in owner.get("/asset/approvals").get_data(as_text=True)
    decided = owner.post(
        f"/asset/approvals/{approval_id}",
        data={
            "csrf_token": csrf_token(owner, f"/asset/approvals/{approval_id}"),
            "approve": "1",
            "note": "ok",
        },
    )
    assert decided.status_code == 302
    assert "pii.unmask" in database.scalar(
        "SELECT grants::text FROM partnerships WHERE id = :i", i=world.bank_east
    )
    assert database.scalar("SELECT status FROM approvals") == "approved"
    # both organisations' logs have it
    for org in (world.bank.org_id, world.east.org_id):
        assert (
            database.scalar(
                "SELECT count(*) FROM audit_events WHERE org_id = :o AND action LIKE 'approval.%'", o=org
            )
            >= 1
        )
    # the agency sees the outcome in its outbox
    assert "approved" in agency.get("/agency/approvals?side=outbox&status=all").get_data(as_text=True)


def _internal_kind() -> None:
    approvals.register(approvals.ApprovalKind("test.internal", "internal", on_approved=lambda a, u: None))


def test_maker_cannot_check_their_own_request(app: Flask, world: World) -> None:
    _internal_kind()
    admin = auth.get_user_by_email(world.bank.admin_email)
    with tenant(world.bank.org_id):
        approval = approvals.submit(
            admin,
            kind="test.internal",
            subject_type="x",
            subject_id=1,
            approver_org_id=world.bank.org_id,
            summary="self",
        )
        with pytest.raises(PermissionDenied):
            approvals.decide(admin, approval, approve=True)
        with pytest.raises(Conflict):
            approvals.submit(
                admin,
                kind="test.internal",
                subject_type="x",
                subject_id=1,
                approver_org_id=world.bank.org_id,
                summary="self again",
            )


def test_an_agency_cannot_decide_for_the_owner(app: Flask, world: World) -> None:
    manager = auth.get_user_by_email(world.east.admin_email)
    with tenant(world.east.org_id):
        partnership = db.session.get(Partnership, world.bank_east)
        approval = approvals.request_right(manager, partnership, "cases.export", "reports")
        other = auth.get_user_by_email(world.east.emails["team_lead"])  # holds approvals.decide in the agency
        with pytest.raises(PermissionDenied):
            approvals.decide(other, approval, approve=True)


def test_two_checkers_at_once_decide_once(app: Flask, world: World, database: Database) -> None:
    _internal_kind()
    second_admin = make_tenant("asset_owner", "bank2")  # build a second decider in bank
    del second_admin
    from arrears.orgs import roles, users

    bank_admin = auth.get_user_by_email(world.bank.admin_email)
    with tenant(world.bank.org_id):
        role = roles.builtin_role(bank_admin.org, "owner_admin")
        users.create_user(
            bank_admin,
            org=bank_admin.org,
            email="checker2@bank.example",
            name="C2",
            password="Test-Pass-2026!",
            role_ids=[role.id],
        )
        staff = auth.get_user_by_email(world.bank.emails["owner_staff"])
        approval = approvals.submit(
            staff,
            kind="test.internal",
            subject_type="x",
            subject_id=9,
            approver_org_id=world.bank.org_id,
            summary="race",
        )
        approval_id = approval.id
        db.session.commit()

    results: list[str] = []
    barrier = threading.Barrier(2)

    def decide(email: str) -> None:
        with app.app_context():
            user = auth.get_user_by_email(email)
            with tenant(user.org_id, user.org.kind, user.id):
                target = db.session.get(Approval, approval_id)
                barrier.wait()
                try:
                    approvals.decide(user, target, approve=True)
                    results.append("ok")
                except Conflict:
                    results.append("conflict")

    threads = [
        threading.Thread(target=decide, args=(e,)) for e in (world.bank.admin_email, "checker2@bank.example")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'approval.approved'") == 1
    assert (
        database.scalar("SELECT status FROM approvals WHERE id = :i", i=approval_id)
        == ApprovalStatus.APPROVED
    )


def test_requester_can_withdraw(app: Flask, world: World, database: Database) -> None:
    agency = signed_in(app, world.east.admin_email)
    url = f"/agency/owners/{world.bank_east}/request"
    agency.post(url, data={"csrf_token": csrf_token(agency, url), "right": "cases.export", "reason": "x"})
    approval_id = database.scalar("SELECT id FROM approvals")
    token = csrf_token(agency, f"/agency/approvals/{approval_id}")
    assert (
        agency.post(f"/agency/approvals/{approval_id}/cancel", data={"csrf_token": token}).status_code == 302
    )
    assert database.scalar("SELECT status FROM approvals") == "cancelled"
