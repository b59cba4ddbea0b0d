"""Applications (申请) against PostgreSQL, through the service and the API: the owner's thresholds route
an application to the levels it must pass (team lead, agency manager, asset owner), nobody approves
above their level or their own application, a manager passes the team's and the agency's stages at
once, the owner's stage moves the request to the owner, an approved reduction comes off the case and
never below zero (a payment in between is a conflict), bad input is refused naming the field with
nothing saved, an agency needs its owner's grant, and foreign or missing ids answer 404 everywhere."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from arrears.cases.loaders import get_case_for
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    Application,
    ApplicationStatus,
    Approval,
    ApprovalStatus,
    AuditEvent,
    CaseEvent,
    Organisation,
    Partnership,
    Reminder,
    ReminderKind,
    User,
)
from arrears.tenancy import tenant
from arrears.work import applications
from arrears.work.loaders import get_application_for
from tests.builders.tenants import World, new_user
from tests.builders.work import components, detached, reduce, work_cases
from tests.conftest import Database, api_token

MISSING = 10**9


# --- set-up -----------------------------------------------------------------------------------------------


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _approval(application: Application) -> Approval:
    return db.session.get(Approval, application.approval_id)


def decide(
    org_id: int, user_id: int, application_id: int, approve: bool = True, note: str = "ok"
) -> Application:
    with tenant(org_id):
        db.session.expire_all()
        actor = _user(user_id)
        application = get_application_for(actor, application_id)
        return applications.decide(actor, application, approve=approve, note=note)


def state(org_id: int, application_id: int) -> tuple[ApplicationStatus, str | None, list[str], int]:
    with tenant(org_id):
        db.session.expire_all()
        application = db.session.get(Application, application_id)
        approval = _approval(application)
        return application.status, approval.stage, [t["stage"] for t in approval.trail], approval.org_id


def count(database: Database, table: str) -> int:
    return int(database.scalar(f"SELECT count(*) FROM {table}"))


# --- thresholds and stages ----------------------------------------------------------------------------------


def test_thresholds_route_applications_to_the_levels_they_need(app: Flask, world: World) -> None:
    cases = work_cases(world)
    small = reduce(world, "collector", cases.team, penalty="300")  # <= 500: the team lead
    middle = reduce(world, "collector", cases.team, penalty="500", interest="100")  # 600: the manager
    with tenant(world.east.org_id):
        big = applications.request_repayment(
            _user(world.east.users["collector"]),
            cases.team,
            amount="20000.01",  # above the org limit: the owner
            paid_on=dt.date(2026, 1, 5),
            channel="bank transfer",
        )
    loose = reduce(world, "bob", cases.loose, penalty="100")  # no team: starts at the manager
    with tenant(world.east.org_id):
        assert [(a.required_level, _approval(a).stages) for a in (small, middle, big, loose)] == [
            ("team", ["team"]),
            ("org", ["team", "org"]),
            ("owner", ["team", "org", "owner"]),
            ("org", ["org"]),
        ]
        assert {_approval(a).org_id for a in (small, middle, big, loose)} == {world.east.org_id}
        assert _approval(big).stage == "team" and big.amount == Decimal("20000.01")

    # in-house: the owner's own level only, whatever the amount
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        inhouse = applications.request_reduction(admin, cases.inhouse, waive_penalty="800", reason="settled")
        assert (inhouse.required_level, _approval(inhouse).stages) == ("org", ["org"])
        assert _approval(inhouse).org_id == world.bank.org_id and inhouse.agency_org_id is None

    # the owner changes its thresholds: the same amount now needs the owner
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        with pytest.raises(ValidationFailed) as bad:
            applications.set_limits(admin, {"reduction": {"team": "600", "org": "500"}})
        assert bad.value.field == "reduction_team"
        with pytest.raises(ValidationFailed) as bad:
            applications.set_limits(admin, {"reduction": {"org": "12.345"}})
        assert bad.value.field == "reduction_org"
        applications.set_limits(admin, {"reduction": {"team": "100", "org": "200"}})
        limits = applications.get_limits(db.session.get(Organisation, world.bank.org_id))
        assert limits["reduction"] == {"team": Decimal("100.00"), "org": Decimal("200.00")}
        assert limits["repayment"]["org"] == Decimal("20000.00")  # left as it was
        assert db.session.scalar(
            select(func.count()).where(AuditEvent.action == "applications.limits_changed")
        )
    with tenant(world.east.org_id), pytest.raises(NotFound):  # an agency has no thresholds of its own
        applications.set_limits(_user(world.east.admin_id), {"reduction": {"team": "1"}})
    again = reduce(world, "collector", cases.team, penalty="300")
    with tenant(world.east.org_id):
        assert _approval(again).stages == ["team", "org", "owner"]
    with tenant(world.bank.org_id), pytest.raises(PermissionDenied):  # staff cannot change settings
        applications.set_limits(_user(world.bank.users["owner_staff"]), {"reduction": {"team": "1"}})


def test_a_team_lead_passes_only_their_stage_and_never_approves_above_it(
    app: Flask, world: World, database: Database
) -> None:
    cases = work_cases(world)
    application = reduce(world, "collector", cases.team, penalty="500", interest="100")  # team, org
    lead, collector, manager = (world.east.users[k] for k in ("team_lead", "collector", "admin"))

    with pytest.raises(PermissionDenied):  # the requester decides nothing
        decide(world.east.org_id, collector, application.id)
    decide(world.east.org_id, lead, application.id, note="looks right")
    assert state(world.east.org_id, application.id) == (
        ApplicationStatus.PENDING,
        "org",
        ["team"],
        world.east.org_id,
    )
    assert components(database, cases.team)[:2] == (Decimal("800.00"), Decimal("300.00"))  # not yet
    with pytest.raises(PermissionDenied):  # the org stage is above the team lead
        decide(world.east.org_id, lead, application.id)
    with pytest.raises(PermissionDenied):  # rejecting is deciding too
        decide(world.east.org_id, lead, application.id, approve=False)

    done = decide(world.east.org_id, manager, application.id, note="approved")
    assert done.status == ApplicationStatus.APPROVED and done.decision_note == "approved"
    assert state(world.east.org_id, application.id)[2] == ["team", "org"]
    assert components(database, cases.team) == (
        Decimal("300.00"),
        Decimal("200.00"),
        Decimal("100.00"),
        Decimal("10600.00"),
    )
    # the owner's case history says so, and the requester is reminded
    with tenant(world.bank.org_id):
        event = db.session.scalar(
            select(CaseEvent).where(CaseEvent.case_id == cases.team, CaseEvent.kind == "reduced")
        )
        assert event is not None and event.changes["penalty"] == ["800.00", "300.00"]
        assert event.changes["application_id"] == application.id
    with tenant(world.east.org_id):
        reminder = db.session.scalar(select(Reminder).where(Reminder.user_id == collector))
        assert reminder.kind == ReminderKind.APPLICATION and "approved" in reminder.text
        assert reminder.agency_org_id == world.east.org_id
    with pytest.raises(Conflict):
        decide(world.east.org_id, manager, application.id)


def test_a_team_lead_of_another_team_cannot_pass_the_team_stage(app: Flask, world: World) -> None:
    cases = work_cases(world)
    other_lead = new_user(world.east.org_id, "team_lead", "lead2@east.test.example")
    application = reduce(world, "collector", cases.team, penalty="100")
    with pytest.raises(NotFound):  # not their case and not their stage: they cannot even open it
        decide(world.east.org_id, other_lead, application.id)
    with tenant(world.east.org_id):
        assert applications.inbox(_user(other_lead)) == []
        assert [a.id for a in applications.inbox(_user(world.east.users["team_lead"]))] == [application.id]


def test_a_manager_passes_the_team_and_the_agency_stages_at_once(app: Flask, world: World) -> None:
    cases = work_cases(world)
    application = reduce(world, "collector", cases.team, penalty="800", fee="100")  # 900: team, org
    decide(world.east.org_id, world.east.admin_id, application.id)
    status, _stage, trail, _org = state(world.east.org_id, application.id)
    assert status == ApplicationStatus.APPROVED and trail == ["team", "org"]
    with tenant(world.east.org_id):
        approval = _approval(db.session.get(Application, application.id))
        assert {t["by"] for t in approval.trail} == {world.east.admin_id}
        assert approval.status == ApprovalStatus.APPROVED and approval.decided_by_id == world.east.admin_id


def test_the_owner_stage_moves_the_request_to_the_owner(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world)
    # the owner keeps reductions above 1,000 for itself
    with tenant(world.bank.org_id):
        applications.set_limits(_user(world.bank.admin_id), {"reduction": {"team": "500", "org": "1000"}})
    application = reduce(world, "collector", cases.other, penalty="800", interest="300")  # 1,100: owner
    with tenant(world.bank.org_id):  # the owner does not see it before it reaches its stage
        assert applications.inbox(_user(world.bank.admin_id)) == []
    with tenant(world.east.org_id):
        assert _approval(application).stages == ["team", "org", "owner"]

    decide(world.east.org_id, world.east.admin_id, application.id)  # team and org at once
    assert state(world.east.org_id, application.id) == (
        ApplicationStatus.PENDING,
        "owner",
        ["team", "org"],
        world.bank.org_id,
    )
    assert components(database, cases.other)[0] == Decimal("800.00")
    with pytest.raises(PermissionDenied):  # the agency's manager cannot approve above the agency
        decide(world.east.org_id, world.east.admin_id, application.id)
    with tenant(world.bank.org_id):
        assert [a.id for a in applications.inbox(_user(world.bank.admin_id))] == [application.id]
        assert applications.inbox(_user(world.bank.users["owner_staff"])) == []
        # the owner's log shows the request arriving
        assert db.session.scalar(
            select(func.count()).where(
                AuditEvent.action == "approval.requested", AuditEvent.org_id == world.bank.org_id
            )
        )
    with pytest.raises(PermissionDenied):  # owner staff hold no approve.all
        decide(world.bank.org_id, world.bank.users["owner_staff"], application.id)
    decide(world.bank.org_id, world.bank.admin_id, application.id)
    assert state(world.east.org_id, application.id)[:3] == (
        ApplicationStatus.APPROVED,
        "owner",
        ["team", "org", "owner"],
    )
    assert components(database, cases.other) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("100.00"),
        Decimal("10100.00"),
    )
    with tenant(world.east.org_id):
        assert db.session.get(Application, application.id).status == ApplicationStatus.APPROVED


def test_an_in_house_application_is_decided_by_another_owner_admin(
    app: Flask, world: World, database: Database
) -> None:
    cases = work_cases(world)
    with tenant(world.bank.org_id):
        application = detached(
            applications.request_reduction(
                _user(world.bank.admin_id), cases.inhouse, waive_fee="100", reason="goodwill"
            )
        )
    with pytest.raises(PermissionDenied):
        decide(world.bank.org_id, world.bank.admin_id, application.id)  # one's own
    decide(world.bank.org_id, world.bank.users["checker"], application.id)
    assert state(world.bank.org_id, application.id)[0] == ApplicationStatus.APPROVED
    assert components(database, cases.inhouse)[2:] == (Decimal("0.00"), Decimal("11100.00"))
    with tenant(world.east.org_id):  # the agency sees nothing of it
        assert db.session.get(Application, application.id) is None


def test_a_reduction_never_takes_a_component_below_zero(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world)
    before = (count(database, "applications"), count(database, "approvals"), count(database, "audit_events"))
    with pytest.raises(ValidationFailed) as bad:
        reduce(world, "collector", cases.team, penalty="800.01")
    assert bad.value.field == "waive_penalty" and "never takes a balance component below zero" in str(
        bad.value.message
    )
    assert (
        count(database, "applications"),
        count(database, "approvals"),
        count(database, "audit_events"),
    ) == before

    application = reduce(world, "collector", cases.team, penalty="400")
    # a payment meanwhile leaves less penalty than the reduction waives
    with database.owner_engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(
            text("UPDATE cases SET penalty = 150, outstanding = 10550 WHERE id = :i"), {"i": cases.team}
        )
    with pytest.raises(Conflict) as conflict:
        decide(world.east.org_id, world.east.admin_id, application.id)
    assert conflict.value.field == "waive_penalty" and "penalty" in str(conflict.value.message)
    assert state(world.east.org_id, application.id) == (
        ApplicationStatus.PENDING,
        "team",
        [],
        world.east.org_id,
    )
    assert components(database, cases.team)[0] == Decimal("150.00")
    assert count(database, "case_events") == int(
        database.scalar("SELECT count(*) FROM case_events WHERE kind <> 'reduced'")
    )
    # it can still be rejected
    decide(
        world.east.org_id, world.east.users["team_lead"], application.id, approve=False, note="paid meanwhile"
    )
    assert state(world.east.org_id, application.id)[0] == ApplicationStatus.REJECTED


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "12.345"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"paid_on": dt.date(2099, 1, 1)}, "paid_on"),
        ({"paid_on": None}, "paid_on"),
        ({"evidence_ids": [MISSING]}, "evidence_ids"),
    ],
)
def test_bad_repayments_are_refused_naming_the_field(
    app: Flask, world: World, database: Database, fields: dict[str, Any], field: str
) -> None:
    cases = work_cases(world)
    before = (count(database, "applications"), count(database, "approvals"))
    args: dict[str, Any] = {"amount": "100", "paid_on": dt.date(2026, 1, 2), **fields}
    with tenant(world.east.org_id), pytest.raises(ValidationFailed) as bad:
        applications.request_repayment(_user(world.east.users["collector"]), cases.team, **args)
    assert bad.value.field == field
    assert (count(database, "applications"), count(database, "approvals")) == before


def test_bad_reductions_are_refused_naming_the_field(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world)
    collector = world.east.users["collector"]
    bad_inputs = [
        ({"waive_penalty": "-1", "reason": "x"}, "waive_penalty"),
        ({"waive_interest": "1.001", "reason": "x"}, "waive_interest"),
        ({"waive_fee": "100.01", "reason": "x"}, "waive_fee"),
        ({"reason": "x"}, "waive_penalty"),  # nothing waived
        ({"waive_penalty": "10", "reason": "   "}, "reason"),
    ]
    for kwargs, field in bad_inputs:
        with tenant(world.east.org_id), pytest.raises(ValidationFailed) as bad:
            applications.request_reduction(_user(collector), cases.team, **kwargs)
        assert bad.value.field == field, kwargs
    assert count(database, "applications") == 0 and count(database, "approvals") == 1  # the placement's


def test_an_agency_needs_its_owners_grant(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world, grants=["repayments.report"])
    with pytest.raises(PermissionDenied):
        reduce(world, "collector", cases.team, penalty="10")
    with tenant(world.east.org_id):
        applications.request_repayment(
            _user(world.east.users["collector"]), cases.team, amount="10", paid_on=dt.date(2026, 1, 1)
        )
        with pytest.raises(NotFound):  # a field visitor does not work cases at the workbench
            applications.request_repayment(
                _user(world.east.users["field_visitor"]), cases.team, amount="10", paid_on=dt.date(2026, 1, 1)
            )
        with pytest.raises(NotFound):  # bob's case is not in the collector's scope
            applications.request_repayment(
                _user(world.east.users["collector"]), cases.loose, amount="10", paid_on=dt.date(2026, 1, 1)
            )
    _grant_only(world, [])
    with tenant(world.east.org_id), pytest.raises(PermissionDenied):
        applications.request_repayment(
            _user(world.east.users["collector"]), cases.team, amount="10", paid_on=dt.date(2026, 1, 1)
        )
    assert count(database, "applications") == 1


def _grant_only(world: World, rights: list[str]) -> None:
    with tenant(world.bank.org_id):
        db.session.get(Partnership, world.bank_east).grants = rights
        db.session.commit()


def test_reject_and_cancel(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world)
    first = reduce(world, "collector", cases.team, penalty="100")
    decide(
        world.east.org_id, world.east.users["team_lead"], first.id, approve=False, note="no hardship shown"
    )
    with tenant(world.east.org_id):
        rejected = db.session.get(Application, first.id)
        assert (rejected.status, rejected.decision_note) == (ApplicationStatus.REJECTED, "no hardship shown")
        assert rejected.decided_at is not None
        reminder = db.session.scalar(
            select(Reminder).where(Reminder.user_id == world.east.users["collector"])
        )
        assert "rejected" in reminder.text and "no hardship shown" in reminder.text
        with pytest.raises(Conflict):
            applications.cancel(_user(world.east.users["collector"]), rejected)
    assert components(database, cases.team)[0] == Decimal("800.00")

    second = reduce(world, "collector", cases.team, penalty="100")
    with tenant(world.east.org_id):
        with pytest.raises(PermissionDenied):
            applications.cancel(_user(world.east.admin_id), db.session.get(Application, second.id))
        cancelled = applications.cancel(
            _user(world.east.users["collector"]), db.session.get(Application, second.id)
        )
        assert cancelled.status == ApplicationStatus.CANCELLED
        assert _approval(cancelled).status == ApprovalStatus.CANCELLED
        assert applications.inbox(_user(world.east.users["team_lead"])) == []
        mine = applications.mine(_user(world.east.users["collector"]))
        assert [(a.id, a.status) for a in mine] == [
            (second.id, ApplicationStatus.CANCELLED),
            (first.id, ApplicationStatus.REJECTED),
        ]
        assert count(database, "reminders") == 1  # a withdrawal reminds nobody
    with pytest.raises(Conflict):
        decide(world.east.org_id, world.east.admin_id, second.id)


def test_the_owner_sees_every_agencys_applications_on_its_case_and_an_agency_only_its_own(
    app: Flask, world: World
) -> None:
    cases = work_cases(world)
    application = reduce(world, "collector", cases.team, penalty="100")
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        case = get_case_for(admin, cases.team)
        assert [a.id for a in applications.of_case(admin, case)] == [application.id]
        view = applications.view(get_application_for(admin, application.id))
        assert view["stage"] == "team" and view["stage_label"] == "Team lead"
    with tenant(world.west.org_id), pytest.raises(NotFound):
        get_application_for(_user(world.west.admin_id), application.id)
    with tenant(world.east.org_id):
        bob = _user(world.east.users["bob"])
        with pytest.raises(NotFound):  # not his case, not his stage
            get_application_for(bob, application.id)


# --- API ------------------------------------------------------------------------------------------------


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_api_applies_decides_and_lists(app: Flask, world: World, database: Database) -> None:
    cases = work_cases(world)
    c = app.test_client()
    collector, lead, manager, bank = (
        api_token(world.east.emails["collector"]),
        api_token(world.east.emails["team_lead"]),
        api_token(world.east.admin_email),
        api_token(world.bank.admin_email),
    )
    r = c.post(
        f"/api/v1/cases/{cases.team}/applications",
        json={"kind": "reduction", "waive_penalty": "500", "waive_interest": "100.50", "reason": "hardship"},
        headers=_h(collector),
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["amount"], body["stage"], body["stages"], body["required_level"]) == (
        "600.50",
        "team",
        ["team", "org"],
        "org",
    )
    app_id = body["id"]

    r = c.post(
        f"/api/v1/cases/{cases.team}/applications",
        json={"kind": "repayment", "amount": "-3", "paid_on": "2026-01-02"},
        headers=_h(collector),
    )
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "amount"
    r = c.post(
        f"/api/v1/cases/{cases.team}/applications",
        json={"kind": "repayment", "amount": 25.5, "paid_on": "2026-01-02", "channel": "alipay"},
        headers=_h(collector),
    )
    assert r.status_code == 201 and r.get_json()["amount"] == "25.50" and r.get_json()["stages"] == ["team"]

    inbox = c.get("/api/v1/applications?box=inbox", headers=_h(lead)).get_json()
    assert {a["id"] for a in inbox} == {app_id, r.get_json()["id"]}
    assert c.get("/api/v1/applications?box=inbox", headers=_h(collector)).get_json() == []
    assert c.get("/api/v1/applications?box=nope", headers=_h(collector)).status_code == 422
    mine = c.get("/api/v1/applications", headers=_h(collector)).get_json()
    assert len(mine) == 2

    r = c.post(f"/api/v1/applications/{app_id}/decision", json={"approve": True}, headers=_h(collector))
    assert r.status_code == 403
    r = c.post(
        f"/api/v1/applications/{app_id}/decision", json={"approve": True, "note": "ok"}, headers=_h(lead)
    )
    assert r.status_code == 200 and r.get_json()["stage"] == "org" and r.get_json()["status"] == "pending"
    r = c.post(f"/api/v1/applications/{app_id}/decision", json={"approve": True}, headers=_h(lead))
    assert r.status_code == 403
    r = c.post(f"/api/v1/applications/{app_id}/decision", json={"approve": True}, headers=_h(manager))
    assert r.status_code == 200 and r.get_json()["status"] == "approved"
    assert [t["stage"] for t in r.get_json()["trail"]] == ["team", "org"]
    assert components(database, cases.team)[:2] == (Decimal("300.00"), Decimal("199.50"))

    # the owner sees the case's applications and its own thresholds
    listed = c.get(f"/api/v1/cases/{cases.team}/applications", headers=_h(bank)).get_json()
    assert len(listed) == 2
    assert c.get(f"/api/v1/applications/{app_id}", headers=_h(bank)).get_json()["status"] == "approved"
    limits = c.get("/api/v1/settings/application-limits", headers=_h(bank)).get_json()
    assert limits == {
        "reduction": {"team": "500.00", "org": "5000.00"},
        "repayment": {"team": "2000.00", "org": "20000.00"},
    }
    r = c.put("/api/v1/settings/application-limits", json={"repayment": {"team": "30000"}}, headers=_h(bank))
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "repayment_team"
    r = c.put("/api/v1/settings/application-limits", json={"repayment": {"team": "10"}}, headers=_h(bank))
    assert r.status_code == 200 and r.get_json()["repayment"]["team"] == "10.00"
    assert c.put("/api/v1/settings/application-limits", json={}, headers=_h(manager)).status_code == 404
    assert c.get("/api/v1/settings/application-limits", headers=_h(manager)).status_code == 404

    # cancel: the requester only
    r = c.post(
        f"/api/v1/cases/{cases.team}/applications",
        json={"kind": "reduction", "waive_fee": "1", "reason": "x"},
        headers=_h(collector),
    )
    other = r.get_json()["id"]
    assert c.post(f"/api/v1/applications/{other}/cancel", headers=_h(lead)).status_code == 403
    r = c.post(f"/api/v1/applications/{other}/cancel", headers=_h(collector))
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"


def test_foreign_and_missing_ids_answer_404_on_every_application_route(
    app: Flask, world: World, database: Database
) -> None:
    cases = work_cases(world)
    application = reduce(world, "collector", cases.team, penalty="100")
    with tenant(world.bank.org_id):
        inhouse = detached(
            applications.request_reduction(
                _user(world.bank.admin_id), cases.inhouse, waive_fee="10", reason="goodwill"
            )
        )
    c = app.test_client()
    lender, west = api_token(world.lender.admin_email), api_token(world.west.admin_email)
    east = api_token(world.east.admin_email)
    before = (count(database, "applications"), count(database, "approvals"), count(database, "cases"))
    case_routes = [("POST", "/api/v1/cases/{}/applications"), ("GET", "/api/v1/cases/{}/applications")]
    app_routes = [
        ("GET", "/api/v1/applications/{}"),
        ("POST", "/api/v1/applications/{}/decision"),
        ("POST", "/api/v1/applications/{}/cancel"),
    ]
    body = {"kind": "reduction", "waive_penalty": "1", "reason": "x", "approve": True}
    attempts = [
        (t, m, p.format(i)) for t in (lender, west) for m, p in case_routes for i in (cases.team, MISSING)
    ]
    attempts += [
        (t, m, p.format(i)) for t in (lender, west) for m, p in app_routes for i in (application.id, MISSING)
    ]
    attempts += [
        (east, m, p.format(i)) for m, p in case_routes for i in (cases.inhouse, MISSING)
    ]  # not placed
    attempts += [(east, m, p.format(inhouse.id)) for m, p in app_routes]  # the owner's in-house one
    for token, method, path in attempts:
        r = c.open(path, method=method, json=body if method == "POST" else None, headers=_h(token))
        assert r.status_code == 404, (method, path, r.status_code)
    assert (count(database, "applications"), count(database, "approvals"), count(database, "cases")) == before
    # and nothing of bank's shows in the others' lists
    for token in (lender, west):
        for box in ("mine", "inbox"):
            assert c.get(f"/api/v1/applications?box={box}", headers=_h(token)).get_json() == []


def test_the_openapi_document_lists_the_application_routes(app: Flask) -> None:
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    for path, method in [
        ("/cases/{case_id}/applications", "post"),
        ("/cases/{case_id}/applications", "get"),
        ("/applications", "get"),
        ("/applications/{application_id}", "get"),
        ("/applications/{application_id}/decision", "post"),
        ("/applications/{application_id}/cancel", "post"),
        ("/settings/application-limits", "get"),
        ("/settings/application-limits", "put"),
    ]:
        assert method in spec["paths"][path], (path, method)
