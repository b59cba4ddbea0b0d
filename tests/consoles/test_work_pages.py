"""The collection-work pages of the agency console and the asset console, through HTTP against
PostgreSQL: the applications inbox with its badge and the decision level by level (a team lead
passes the team's stage and nothing above it, the agency manager the rest, an owner-level
application reaches the owner's inbox in the asset console), the requester never decides, a
rejection with its note; the organisation's notes, promises and applications filtered and
keyset-paged; the case pages' work tabs; audited attachment downloads; the result codes page feeding
the note form's codes; the shared approval page of a staged request. Another agency, another owner,
a team lead of another team and missing ids see nothing and get 404."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from arrears.cases.cases import business_date
from arrears.extensions import db
from arrears.models import Application, Approval, Attachment, Organisation, Team, User
from arrears.orgs import teams
from arrears.tenancy import tenant
from arrears.work import applications, attachments, notes
from tests.builders.tenants import World, new_user
from tests.builders.work import Cases, components, detached, reduce, work_cases
from tests.conftest import Database, csrf_token, signed_in

PDF = b"%PDF-1.4\n% receipt of the payment\n"
MISSING = 10**9
RIGHTS = ["reductions.request", "repayments.report", "letters.send"]


@dataclass
class Desk:
    app: Flask
    world: World
    cases: Cases


@pytest.fixture
def desk(app: Flask, world: World) -> Desk:
    """Bank places three cases with east: two with east's collector (team North, led by east's team
    lead), one with bob (no team); one stays in-house."""
    return Desk(app, world, work_cases(world, grants=RIGHTS))


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _client(desk: Desk, email: str) -> tuple[FlaskClient, str]:
    c = signed_in(desk.app, email)
    return c, csrf_token(c, "/profile")


def _html(response: Any) -> str:
    return response.get_data(as_text=True)


def _ids(html: str, kind: str) -> list[int]:
    return [int(i) for i in re.findall(rf'data-{kind}="(\d+)"', html)]


def _badge(html: str, endpoint: str) -> int | None:
    found = re.search(rf'data-badge="{re.escape(endpoint)}">(\d+)<', html)
    return int(found.group(1)) if found else None


def _decide(
    c: FlaskClient, csrf: str, prefix: str, application_id: int, *, reject: bool = False, note: str = ""
) -> Any:
    button = {"reject": "1"} if reject else {"approve": "1"}
    return c.post(
        f"{prefix}/applications/{application_id}/decision",
        data={"csrf_token": csrf, "note": note, **button},
    )


def _state(org_id: int, application_id: int) -> tuple[str, str | None, list[str]]:
    with tenant(org_id):
        db.session.expire_all()
        application = db.session.get(Application, application_id)
        approval = db.session.get(Approval, application.approval_id)
        return application.status.value, approval.stage, [t["stage"] for t in approval.trail]


def _note(world: World, who: str, case_id: int, **kw: Any) -> int:
    with tenant(world.east.org_id):
        defaults = {"action": "call", "party": "debtor", "result_code": "callback", "text": ""}
        return notes.add_note(_user(world.east.users[who]), case_id, **{**defaults, **kw}).id


def _today(world: World) -> dt.date:
    with tenant(world.east.org_id):
        return business_date(db.session.get(Organisation, world.east.org_id))


def _evidence(world: World, who: str, case_id: int, name: str = "receipt.pdf") -> int:
    with tenant(world.east.org_id):
        return attachments.upload(_user(world.east.users[who]), case_id, name, PDF).id


# --- deciding level by level ----------------------------------------------------------------------------


def test_a_team_lead_passes_the_team_stage_from_the_inbox_and_the_manager_the_rest(
    desk: Desk, database: Database
) -> None:
    world, cases = desk.world, desk.cases
    application = reduce(world, "collector", cases.team, penalty="500", interest="100")  # 600: team, org
    lead, lead_csrf = _client(desk, world.east.emails["team_lead"])

    inbox = lead.get("/agency/applications")
    html = _html(inbox)
    assert inbox.status_code == 200
    assert _ids(html, "application") == [application.id]
    assert _badge(html, "agency_console.applications") == 1
    assert "APP-0" in html and "600.00" in html

    page = lead.get(f"/agency/applications/{application.id}")
    html = _html(page)
    assert page.status_code == 200
    assert f'action="/agency/applications/{application.id}/decision"' in html
    assert (
        'data-stage="team" data-state="current"' in html and 'data-stage="org" data-state="waiting"' in html
    )
    assert "500.00" in html and "100.00" in html and "hardship" in html  # the waivers, the reason
    assert f'href="/agency/cases/{cases.team}"' in html

    passed = _decide(lead, lead_csrf, "/agency", application.id, note="checked the call")
    assert passed.status_code == 302
    html = _html(lead.get(passed.headers["Location"]))
    assert "now waits for the next level" in html
    assert 'data-stage="team" data-state="passed"' in html and 'data-stage="org" data-state="current"' in html
    assert "checked the call" in html and "team_lead of east" in html
    assert 'id="no-decision"' in html and "/decision" not in html  # the org stage is above the lead
    assert _state(world.east.org_id, application.id) == ("pending", "org", ["team"])

    # the team lead cannot pass the agency's stage, nor reject at it: clearly refused, nothing changed
    refused = _decide(lead, lead_csrf, "/agency", application.id, note="me again")
    assert refused.status_code == 403
    assert "a level you cannot decide" in _html(refused)
    refused = _decide(lead, lead_csrf, "/agency", application.id, reject=True, note="no")
    assert refused.status_code == 403
    assert _state(world.east.org_id, application.id) == ("pending", "org", ["team"])
    assert _ids(_html(lead.get("/agency/applications")), "application") == []

    manager, manager_csrf = _client(desk, world.east.admin_email)
    html = _html(manager.get("/agency/applications"))
    assert _ids(html, "application") == [application.id] and _badge(html, "agency_console.applications") == 1
    done = _decide(manager, manager_csrf, "/agency", application.id, note="fine")
    assert done.status_code == 302
    html = _html(manager.get(done.headers["Location"]))
    assert "The application was approved." in html
    assert _state(world.east.org_id, application.id) == ("approved", "org", ["team", "org"])
    assert components(database, cases.team)[:2] == (Decimal("300.00"), Decimal("200.00"))
    assert _badge(_html(manager.get("/agency/")), "agency_console.applications") is None
    assert _decide(manager, manager_csrf, "/agency", application.id).status_code == 409  # decided already


def test_an_owner_level_application_reaches_the_owners_inbox(desk: Desk, database: Database) -> None:
    world, cases = desk.world, desk.cases
    with tenant(world.bank.org_id):
        applications.set_limits(_user(world.bank.admin_id), {"reduction": {"team": "500", "org": "1000"}})
    application = reduce(world, "collector", cases.other, penalty="800", interest="300")  # 1,100: owner
    owner, owner_csrf = _client(desk, world.bank.admin_email)
    assert _ids(_html(owner.get("/asset/applications")), "application") == []  # not at its level yet
    # the owner watches it in the list of all applications on its cases meanwhile
    html = _html(owner.get("/asset/applications?box=all"))
    assert _ids(html, "application") == [application.id] and "Team lead" in html

    manager, manager_csrf = _client(desk, world.east.admin_email)
    assert _decide(manager, manager_csrf, "/agency", application.id).status_code == 302  # team and org
    assert _state(world.east.org_id, application.id) == ("pending", "owner", ["team", "org"])
    refused = _decide(manager, manager_csrf, "/agency", application.id)
    assert refused.status_code == 403  # the owner's level is above the agency

    html = _html(owner.get("/asset/applications"))
    assert _ids(html, "application") == [application.id]
    assert _badge(html, "asset_console.applications") == 1
    page = owner.get(f"/asset/applications/{application.id}")
    html = _html(page)
    assert page.status_code == 200 and f'href="/asset/cases/{cases.other}"' in html
    assert 'data-stage="owner" data-state="current"' in html
    assert "collector of east" in html and "Org east" in html  # who asked, from which agency
    # the shared approval page of the staged request: its stages, the link, the decision for the owner
    approval_id = application.approval_id
    shared = _html(owner.get(f"/asset/approvals/{approval_id}"))
    assert f'href="/asset/applications/{application.id}"' in shared
    assert 'data-stage="owner" data-state="current"' in shared and 'data-trail="team"' in shared
    assert 'name="approve"' in shared
    staff = signed_in(desk.app, world.bank.emails["owner_staff"])
    assert 'name="approve"' not in _html(staff.get(f"/asset/approvals/{approval_id}"))
    assert "/decision" not in _html(staff.get(f"/asset/applications/{application.id}"))
    assert _ids(_html(staff.get("/asset/applications")), "application") == [application.id]  # all, read only

    done = _decide(owner, owner_csrf, "/asset", application.id, note="settled with the debtor")
    assert done.status_code == 302
    assert _state(world.east.org_id, application.id) == ("approved", "owner", ["team", "org", "owner"])
    assert components(database, cases.other)[:2] == (Decimal("0.00"), Decimal("0.00"))
    assert "settled with the debtor" in _html(manager.get(f"/agency/applications/{application.id}"))


def test_the_requester_never_decides(desk: Desk) -> None:
    world, cases = desk.world, desk.cases
    with tenant(world.east.org_id):  # the team lead works a case of the team and asks for a reduction
        own = detached(
            applications.request_reduction(
                _user(world.east.users["team_lead"]), cases.team, waive_fee="50", reason="goodwill"
            )
        )
    lead, lead_csrf = _client(desk, world.east.emails["team_lead"])
    assert _ids(_html(lead.get("/agency/applications")), "application") == []
    html = _html(lead.get(f"/agency/applications/{own.id}"))
    assert "You asked for this" in html and "/decision" not in html
    refused = _decide(lead, lead_csrf, "/agency", own.id)
    assert refused.status_code == 403 and "your own request" in _html(refused)
    assert _state(world.east.org_id, own.id) == ("pending", "team", [])

    with tenant(world.bank.org_id):  # in-house: the owner's admin asks, another admin decides
        inhouse = detached(
            applications.request_reduction(
                _user(world.bank.admin_id), cases.inhouse, waive_fee="100", reason="x"
            )
        )
    owner, owner_csrf = _client(desk, world.bank.admin_email)
    assert _decide(owner, owner_csrf, "/asset", inhouse.id).status_code == 403
    checker, checker_csrf = _client(desk, "checker@bank.test.example")
    html = _html(checker.get("/asset/applications"))
    assert _ids(html, "application") == [inhouse.id]
    assert _decide(checker, checker_csrf, "/asset", inhouse.id).status_code == 302
    assert _state(world.bank.org_id, inhouse.id)[0] == "approved"


def test_a_rejection_ends_the_application_with_its_note(desk: Desk, database: Database) -> None:
    world, cases = desk.world, desk.cases
    application = reduce(world, "collector", cases.team, penalty="500", interest="100")
    lead, lead_csrf = _client(desk, world.east.emails["team_lead"])
    response = _decide(
        lead, lead_csrf, "/agency", application.id, reject=True, note="no evidence of hardship"
    )
    assert response.status_code == 302
    html = _html(lead.get(response.headers["Location"]))
    assert "The application was rejected." in html and "no evidence of hardship" in html
    assert 'data-stage="team" data-state="rejected"' in html
    assert _state(world.east.org_id, application.id) == ("rejected", "team", ["team"])
    assert components(database, cases.team)[:2] == (Decimal("800.00"), Decimal("300.00"))
    manager = signed_in(desk.app, world.east.admin_email)
    assert _ids(_html(manager.get("/agency/applications")), "application") == []
    rejected = _html(manager.get("/agency/applications?box=all&status=rejected"))
    assert _ids(rejected, "application") == [application.id]
    assert _ids(_html(manager.get("/agency/applications?box=all&status=pending")), "application") == []


def test_a_conflict_at_the_last_level_is_shown_with_its_field_and_changes_nothing(
    desk: Desk, database: Database
) -> None:
    world, cases = desk.world, desk.cases
    application = reduce(world, "collector", cases.team, penalty="400")  # the team lead's level only
    with database.owner_engine.begin() as conn:  # a payment meanwhile leaves less penalty than waived
        from sqlalchemy import text

        conn.execute(
            text("UPDATE cases SET penalty = 150, outstanding = 10550 WHERE id = :i"), {"i": cases.team}
        )
    lead, csrf = _client(desk, world.east.emails["team_lead"])
    response = _decide(lead, csrf, "/agency", application.id, note="ok")
    html = _html(response)
    assert response.status_code == 409
    assert "Penalty: A reduction never takes a balance component below zero" in html and "150.00" in html
    assert 'name="note"' in html and "ok</textarea>" in html  # the form again, with what was typed
    assert _state(world.east.org_id, application.id) == ("pending", "team", [])
    assert components(database, cases.team)[0] == Decimal("150.00")


# --- the lists ------------------------------------------------------------------------------------------


def test_notes_promises_and_applications_are_listed_with_their_filters(desk: Desk) -> None:
    world, cases = desk.world, desk.cases
    today = _today(world)
    soon = today + dt.timedelta(days=5)
    promised = _note(
        world,
        "collector",
        cases.team,
        result_code="promise_to_pay",
        text="will pay on Friday",
        promise_amount="300",
        promise_due_on=soon,
    )
    silent = _note(world, "collector", cases.other, result_code="no_answer", party="none", action="sms")
    bobs = _note(world, "bob", cases.loose, result_code="refused", text="refused outright")
    application = reduce(world, "collector", cases.team, penalty="100")
    repayment_id = None
    with tenant(world.east.org_id):
        repayment_id = applications.request_repayment(
            _user(world.east.users["bob"]), cases.loose, amount="200", paid_on=today, channel="bank transfer"
        ).id

    manager = signed_in(desk.app, world.east.admin_email)
    html = _html(manager.get("/agency/notes"))
    assert _ids(html, "note") == [bobs, silent, promised]  # newest first
    assert "bob" in html and "collector of east" in html and "Refused to pay" in html
    assert "APP-1" in html and "债**3" in html and "110101" not in html  # one debtor, masked
    bob = world.east.users["bob"]
    assert _ids(_html(manager.get(f"/agency/notes?author_id={bob}")), "note") == [bobs]
    assert _ids(_html(manager.get("/agency/notes?result_code=no_answer")), "note") == [silent]
    assert _ids(_html(manager.get("/agency/notes?contacted=no")), "note") == [silent]
    assert _ids(_html(manager.get("/agency/notes?contacted=yes")), "note") == [bobs, promised]
    assert _ids(_html(manager.get("/agency/notes?action=sms")), "note") == [silent]
    assert _ids(_html(manager.get("/agency/notes?loan_no=APP-1")), "note") == [bobs]
    assert _ids(_html(manager.get(f"/agency/notes?since={today}&until={today}")), "note") == [
        bobs,
        silent,
        promised,
    ]
    tomorrow = today + dt.timedelta(days=1)
    assert _ids(_html(manager.get(f"/agency/notes?since={tomorrow}")), "note") == []
    assert manager.get("/agency/notes?since=not-a-date&after=abc").status_code == 200  # ignored, not a crash

    # keyset pages of two
    desk.app.config["WORK_PAGE_SIZE"] = 2
    first = _html(manager.get("/agency/notes"))
    assert _ids(first, "note") == [bobs, silent]
    after = re.search(r'href="([^"]*after=\d+[^"]*)" rel="next"', first)
    assert after is not None
    second = _html(manager.get(after.group(1).replace("&amp;", "&")))
    assert _ids(second, "note") == [promised] and 'rel="next"' not in second
    desk.app.config["WORK_PAGE_SIZE"] = 50

    html = _html(manager.get("/agency/promises"))
    assert len(_ids(html, "promise")) == 1 and "300.00" in html and str(soon) in html
    assert len(_ids(_html(manager.get("/agency/promises?status=pending")), "promise")) == 1
    assert _ids(_html(manager.get("/agency/promises?status=broken")), "promise") == []
    assert (
        _ids(_html(manager.get(f"/agency/promises?due_from={soon + dt.timedelta(days=1)}")), "promise") == []
    )
    assert len(_ids(_html(manager.get(f"/agency/promises?due_from={soon}&due_to={soon}")), "promise")) == 1
    assert _ids(_html(manager.get(f"/agency/promises?collector_id={bob}")), "promise") == []

    html = _html(manager.get("/agency/applications?box=all"))
    assert _ids(html, "application") == [repayment_id, application.id]
    assert _ids(_html(manager.get("/agency/applications?box=all&kind=repayment")), "application") == [
        repayment_id
    ]
    assert _ids(_html(manager.get("/agency/applications?box=all&loan_no=APP-0")), "application") == [
        application.id
    ]

    # the owner sees every agency's work on its cases, and filters by agency
    owner = signed_in(desk.app, world.bank.admin_email)
    html = _html(owner.get("/asset/notes"))
    assert _ids(html, "note") == [bobs, silent, promised] and "Org east" in html and "bob" in html
    east = world.east.org_id
    assert _ids(_html(owner.get(f"/asset/notes?holder={east}")), "note") == [bobs, silent, promised]
    assert _ids(_html(owner.get("/asset/notes?holder=inhouse")), "note") == []
    assert len(_ids(_html(owner.get(f"/asset/promises?holder={east}")), "promise")) == 1
    assert _ids(_html(owner.get(f"/asset/applications?box=all&holder={east}")), "application") == [
        repayment_id,
        application.id,
    ]
    assert _ids(_html(owner.get("/asset/applications?box=all&holder=inhouse")), "application") == []

    # a team lead sees the team's cases only: bob's case has no team
    lead = signed_in(desk.app, world.east.emails["team_lead"])
    assert _ids(_html(lead.get("/agency/notes")), "note") == [silent, promised]
    assert _ids(_html(lead.get("/agency/applications?box=all")), "application") == [application.id]


def test_a_team_lead_of_another_team_sees_nothing_of_the_team(desk: Desk) -> None:
    world, cases = desk.world, desk.cases
    _note(world, "collector", cases.team, result_code="refused", text="North's note")
    application = reduce(world, "collector", cases.team, penalty="100")
    file_id = _evidence(world, "collector", cases.team)
    other = new_user(world.east.org_id, "team_lead", "lead2@east.test.example")
    with tenant(world.east.org_id):
        teams.save_team(
            _user(world.east.admin_id), team=None, name="South", lead_user_id=other, member_ids=[]
        )
        assert db.session.scalar(select(Team.id).where(Team.name == "South"))
    lead2 = signed_in(desk.app, "lead2@east.test.example")
    for url in ("/agency/notes", "/agency/promises", "/agency/applications", "/agency/applications?box=all"):
        response = lead2.get(url)
        html = _html(response)
        assert response.status_code == 200, url
        assert "APP-" not in html and "North's note" not in html, url
        assert not _ids(html, "note") and not _ids(html, "application"), url
    assert lead2.get(f"/agency/applications/{application.id}").status_code == 404
    # nor through the organisation's approval pages (the request behind the application)
    for url in ("/agency/approvals", "/agency/approvals?status=all"):
        assert "APP-0" not in _html(lead2.get(url)), url
    assert lead2.get(f"/agency/approvals/{application.approval_id}").status_code == 404
    csrf = csrf_token(lead2, "/profile")
    refused = lead2.post(
        f"/agency/approvals/{application.approval_id}", data={"csrf_token": csrf, "approve": "1", "note": "x"}
    )
    assert refused.status_code == 404
    assert _state(world.east.org_id, application.id) == ("pending", "team", [])
    bob = signed_in(desk.app, "bob@east.test.example")  # a collector of the agency, not holding the case
    assert "APP-0" not in _html(bob.get("/agency/approvals"))
    assert bob.get(f"/agency/approvals/{application.approval_id}").status_code == 404
    lead = signed_in(desk.app, world.east.emails["team_lead"])  # the team's own lead sees and decides it
    assert "APP-0" in _html(lead.get("/agency/approvals"))
    assert 'name="approve"' in _html(lead.get(f"/agency/approvals/{application.approval_id}"))
    assert lead2.get(f"/agency/attachments/{file_id}/download").status_code == 404
    assert lead2.get(f"/agency/cases/{cases.team}").status_code == 404


# --- other tenants and missing ids ----------------------------------------------------------------------


def test_other_tenants_get_404_on_every_route_with_an_id_and_see_nothing_in_lists(
    desk: Desk, database: Database
) -> None:
    world, cases = desk.world, desk.cases
    _note(
        world,
        "collector",
        cases.team,
        result_code="promise_to_pay",
        promise_amount="10",
        promise_due_on=_today(world),
    )
    application = reduce(world, "collector", cases.team, penalty="100")
    file_id = _evidence(world, "collector", cases.team, "victim-receipt.pdf")
    downloads = database.scalar("SELECT count(*) FROM audit_events WHERE action = 'attachment.downloaded'")
    before = _state(world.east.org_id, application.id)
    attackers = {
        "west": (world.west.admin_email, "/agency"),
        "west lead": (world.west.emails["team_lead"], "/agency"),
        "lender": (world.lender.admin_email, "/asset"),
    }
    for who, (email, prefix) in attackers.items():
        c, csrf = _client(desk, email)
        for url in (
            f"{prefix}/applications/{application.id}",
            f"{prefix}/attachments/{file_id}/download",
            f"{prefix}/applications/{MISSING}",
            f"{prefix}/attachments/{MISSING}/download",
        ):
            assert c.get(url).status_code == 404, (who, url)
        for target in (application.id, MISSING):
            for button in ("approve", "reject"):
                response = c.post(
                    f"{prefix}/applications/{target}/decision",
                    data={"csrf_token": csrf, button: "1", "note": "x"},
                )
                assert response.status_code == 404, (who, target, button)
        for url in ("/notes", "/promises", "/applications", "/applications?box=all"):
            response = c.get(prefix + url)
            html = _html(response)
            assert response.status_code in (200, 403), (who, url)
            assert "APP-" not in html and "victim-receipt" not in html and "债" not in html, (who, url)
            assert not _ids(html, "note") and not _ids(html, "application") and not _ids(html, "promise")
    assert _state(world.east.org_id, application.id) == before
    assert (
        database.scalar("SELECT count(*) FROM audit_events WHERE action = 'attachment.downloaded'")
        == downloads
    )
    # the owning side opens them, and missing ids are 404 for it too
    manager = signed_in(desk.app, world.east.admin_email)
    owner = signed_in(desk.app, world.bank.admin_email)
    assert manager.get(f"/agency/applications/{application.id}").status_code == 200
    assert owner.get(f"/asset/applications/{application.id}").status_code == 200
    assert manager.get(f"/agency/applications/{MISSING}").status_code == 404
    assert owner.get(f"/asset/attachments/{MISSING}/download").status_code == 404
    # a collector of the agency has no business in the console's work lists
    collector = signed_in(desk.app, world.east.emails["collector"])
    assert collector.get("/agency/notes").status_code == 403
    assert collector.get("/agency/applications").status_code == 403


# --- attachments and the case pages ----------------------------------------------------------------------


def test_attachment_downloads_are_audited(desk: Desk, database: Database) -> None:
    world, cases = desk.world, desk.cases
    file_id = _evidence(world, "collector", cases.team, "收据.pdf")
    manager = signed_in(desk.app, world.east.admin_email)
    response = manager.get(f"/agency/attachments/{file_id}/download")
    assert response.status_code == 200 and response.data == PDF
    assert response.mimetype == "application/pdf" and "attachment" in response.headers["Content-Disposition"]
    owner = signed_in(desk.app, world.bank.admin_email)
    assert owner.get(f"/asset/attachments/{file_id}/download").data == PDF
    rows = database.rows(
        "SELECT org_id, actor_user_id FROM audit_events WHERE action = 'attachment.downloaded' ORDER BY id"
    )
    assert [(r[0], r[1]) for r in rows] == [
        (world.east.org_id, world.east.admin_id),
        (world.bank.org_id, world.bank.admin_id),
    ]


def test_the_case_pages_show_the_work_in_read_only_tabs(desk: Desk) -> None:
    world, cases = desk.world, desk.cases
    today = _today(world)
    note_id = _note(
        world,
        "collector",
        cases.team,
        result_code="promise_to_pay",
        text="promised half",
        promise_amount="250",
        promise_due_on=today + dt.timedelta(days=3),
    )
    with tenant(world.east.org_id):
        application = applications.request_repayment(
            _user(world.east.users["collector"]),
            cases.team,
            amount="120",
            paid_on=today,
            channel="Alipay",
            files=[("transfer.pdf", PDF)],
        )
        evidence = db.session.scalar(select(Attachment.id).where(Attachment.application_id == application.id))
    manager = signed_in(desk.app, world.east.admin_email)
    html = _html(manager.get(f"/agency/cases/{cases.team}"))
    for tab in ("notes", "contacts", "promises", "applications", "attachments", "letters"):
        assert f'id="work-{tab}"' in html, tab
    assert f'data-note="{note_id}"' in html and "promised half" in html and "Promise to pay" in html
    assert "250.00" in html and f'data-application="{application.id}"' in html and "at: Team lead" in html
    assert f'href="/agency/attachments/{evidence}/download"' in html and "transfer.pdf" in html
    assert "110101199003076536" not in html  # personal data stays masked
    page = _html(manager.get(f"/agency/applications/{application.id}"))
    assert "Alipay" in page and str(today) in page and f"/agency/attachments/{evidence}/download" in page

    owner = signed_in(desk.app, world.bank.admin_email)
    html = _html(owner.get(f"/asset/cases/{cases.team}"))
    assert f'data-note="{note_id}"' in html and f'href="/asset/attachments/{evidence}/download"' in html
    assert "collector of east" in html and "Org east" in html
    assert "110101199003076536" not in html
    # the in-house case has no work: the tabs say so
    html = _html(owner.get(f"/asset/cases/{cases.inhouse}"))
    assert 'id="work-notes"' in html and "No collection note yet." in html


# --- result codes ------------------------------------------------------------------------------------------


def test_result_code_changes_show_in_the_codes_the_note_form_offers(desk: Desk, database: Database) -> None:
    world = desk.world
    manager, csrf = _client(desk, world.east.admin_email)
    page = manager.get("/agency/settings/result-codes")
    html = _html(page)
    assert page.status_code == 200 and 'data-code="no_answer"' in html and "No answer" in html

    def save(**data: Any) -> Any:
        return manager.post("/agency/settings/result-codes", data={"csrf_token": csrf, **data})

    assert save(code="no_answer", label="Nobody picked up", active="y", position="90").status_code == 302
    assert save(code="busy", label="", position="100").status_code == 302  # switched off, label kept
    added = save(
        new="1", code="visit_agreed", label="Agreed to a visit", contacted="y", active="y", position="5"
    )
    assert added.status_code == 302
    with tenant(world.east.org_id):
        offered = {c.code: c for c in notes.result_codes(world.east.org_id, active_only=True)}
        every = {c.code: c for c in notes.result_codes(world.east.org_id)}
    assert str(offered["no_answer"].label) == "Nobody picked up" and not offered["no_answer"].contacted
    assert "busy" not in offered and str(every["busy"].label) == "Busy" and not every["busy"].active
    assert offered["visit_agreed"].contacted and next(iter(offered)) == "visit_agreed"
    html = _html(manager.get("/agency/settings/result-codes"))
    assert 'data-code="visit_agreed"' in html and "Nobody picked up" in html
    # a note may use the new code; the owner's set is its own
    _note(desk.world, "collector", desk.cases.team, result_code="visit_agreed", text="visit on Monday")
    assert "Agreed to a visit" in _html(manager.get("/agency/notes"))
    assert "Agreed to a visit" in _html(signed_in(desk.app, world.bank.admin_email).get("/asset/notes"))
    with tenant(world.bank.org_id):
        assert "visit_agreed" not in {c.code for c in notes.result_codes(world.bank.org_id)}

    # bad input: the field named, nothing saved
    rows = database.scalar("SELECT count(*) FROM result_codes")
    bad = save(new="1", code="not a code!", label="x", active="y")
    assert bad.status_code == 422 and "letters, digits and underscores" in _html(bad)
    assert (
        save(new="1", code="own_code", label="", active="y").status_code == 422
    )  # an own code needs a label
    assert database.scalar("SELECT count(*) FROM result_codes") == rows
    lead = signed_in(desk.app, world.east.emails["team_lead"])
    assert lead.get("/agency/settings/result-codes").status_code == 403
    assert (
        manager.post("/agency/settings/result-codes", data={"code": "busy", "label": "x"}).status_code == 400
    )
