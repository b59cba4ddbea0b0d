"""The collector workbench's pages against PostgreSQL, through HTTP: the home figures and the honour
roll, the case page's upper part and every tab, collection notes with a promise and a follow-up,
applications with evidence files, attachments, calls through the sandbox call centre and by hand,
letters singly and in bulk (jobs inline), reminders done and snoozed, my applications and their
withdrawal; bad input refused naming the field with nothing saved (no row, no stored file); another
collector of the same agency, and missing ids, get 404 on every route."""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from arrears.cases.cases import business_date
from arrears.extensions import db
from arrears.models import Organisation, User
from arrears.tenancy import tenant
from arrears.work import letters, notes
from tests.builders.payments import pay
from tests.builders.tenants import World, build_world
from tests.builders.work import work_cases
from tests.conftest import Database, csrf_token, signed_in

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n% evidence\n"
MISSING = 10**9


@pytest.fixture
def desk(eager_app: Flask) -> dict[str, Any]:
    """East's collector holds two cases (team North, led by east's team lead), bob one."""
    world = build_world()
    cases = work_cases(world, grants=["reductions.request", "repayments.report", "letters.send"])
    collector = signed_in(eager_app, world.east.emails["collector"])
    return {
        "app": eager_app,
        "world": world,
        "cases": cases,
        "collector": collector,
        "csrf": csrf_token(collector, "/workbench/cases"),
    }


def _today(world: World) -> dt.date:
    with tenant(world.east.org_id):
        return business_date(db.session.get(Organisation, world.east.org_id))


def _post(c: FlaskClient, url: str, csrf: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return c.post(url, data={"csrf_token": csrf, **(data or {})}, **kw)


def count(database: Database, table: str) -> int:
    return int(database.scalar(f"SELECT count(*) FROM {table}"))


def media_files(app: Flask) -> set[str]:
    root = pathlib.Path(app.config["MEDIA_ROOT"])
    return {str(p) for p in root.rglob("*") if p.is_file()}


# --- the case page ----------------------------------------------------------------------------------


def test_the_case_page_shows_the_upper_part_and_every_tab(desk: dict[str, Any]) -> None:
    c, cases = desk["collector"], desk["cases"]
    page = c.get(f"/workbench/cases/{cases.team}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for marker in ('id="case-upper"', 'id="balances"', 'id="placement-end">2030-01-01<', 'id="note-form"'):
        assert marker in html, marker
    assert "10,000.00" in html and "800.00" in html  # principal and penalty
    assert "No face image" in html and "Personal data is masked." in html
    for tab, marker in [
        ("history", 'id="history"'),
        ("promises", 'id="promises"'),
        ("repayments", 'id="repayments"'),
        ("applications", 'id="reduction-form"'),
        ("contacts", 'id="contacts"'),
        ("attachments", 'id="attachment-form"'),
        ("letters", 'id="letters"'),
        ("calls", 'id="call-log-form"'),
    ]:
        page = c.get(f"/workbench/cases/{cases.team}?tab={tab}")
        assert page.status_code == 200 and marker in page.get_data(as_text=True), tab
    assert c.get(f"/workbench/cases/{cases.team}/face").status_code == 404  # none, and no right to see it


def test_a_note_with_a_promise_and_a_follow_up(desk: dict[str, Any], database: Database) -> None:
    c, cases, world = desk["collector"], desk["cases"], desk["world"]
    today = _today(world)
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/notes",
        desk["csrf"],
        {
            "action": "call",
            "party": "debtor",
            "result_code": "promise_to_pay",
            "text": "will pay on Friday",
            "follow_up_on": today.isoformat(),
            "promise_amount": "1200.50",
            "promise_due_on": (today + dt.timedelta(days=3)).isoformat(),
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    html = c.get(f"/workbench/cases/{cases.team}").get_data(as_text=True)
    assert "will pay on Friday" in html and "Promise to pay" in html
    assert (today + dt.timedelta(days=3)).isoformat() in c.get(
        f"/workbench/cases/{cases.team}?tab=promises"
    ).get_data(as_text=True)
    history = c.get(f"/workbench/cases/{cases.team}?tab=history").get_data(as_text=True)
    assert "will pay on Friday" in history
    home = c.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="reminders-due">1<', home)
    assert 'data-badge="agent_workbench.reminders">1<' in home  # the nav badge
    assert int(database.scalar("SELECT count(*) FROM promises")) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"promise_amount": "100", "promise_due_on": "2020-01-01"}, "promise_due_on", "past"),
        ({"promise_amount": "-5", "promise_due_on": "+3"}, "promise_amount", "more than zero"),
        ({"follow_up_on": "2020-01-01"}, "follow_up_on", "before today"),
        ({"promise_amount": "12.345", "promise_due_on": "+3"}, "promise_amount", "two decimals"),
    ],
)
def test_bad_notes_are_refused_naming_the_field(
    desk: dict[str, Any], database: Database, fields: dict[str, str], field: str, message: str
) -> None:
    c, cases = desk["collector"], desk["cases"]
    today = _today(desk["world"])
    data = {"action": "call", "party": "debtor", "result_code": "promise_to_pay", "text": "x", **fields}
    if data.get("promise_due_on") == "+3":
        data["promise_due_on"] = (today + dt.timedelta(days=3)).isoformat()
    before = [count(database, t) for t in ("collection_notes", "promises", "reminders")]
    r = _post(c, f"/workbench/cases/{cases.team}/notes", desk["csrf"], data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert message in html, html[:3000]
    # the message sits next to its field (bootstrap's invalid-feedback after the named input)
    assert re.search(rf'name="{field}"[^>]*>\s*<div class="invalid-feedback[^"]*"[^>]*>', html) or (
        f'id="{field}"' in html and "is-invalid" in html
    )
    assert [count(database, t) for t in ("collection_notes", "promises", "reminders")] == before


# --- applications -------------------------------------------------------------------------------------


def test_a_reduction_with_evidence_and_a_repayment_report(desk: dict[str, Any], database: Database) -> None:
    c, cases, app = desk["collector"], desk["cases"], desk["app"]
    url = f"/workbench/cases/{cases.team}/applications/reduction"
    r = _post(
        c,
        url,
        desk["csrf"],
        {
            "waive_penalty": "300",
            "reason": "lost job",
            "file": [(io.BytesIO(PNG), "proof.png"), (io.BytesIO(PDF), "letter.pdf")],
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    row = database.rows("SELECT id, amount, waive_penalty, status FROM applications")[0]
    assert (row.amount, row.waive_penalty, row.status) == (Decimal("300.00"), Decimal("300.00"), "pending")
    files = database.rows("SELECT filename, kind, application_id FROM attachments ORDER BY filename")
    assert [(f.filename, f.kind, f.application_id) for f in files] == [
        ("letter.pdf", "evidence", row.id),
        ("proof.png", "evidence", row.id),
    ]
    tab = c.get(f"/workbench/cases/{cases.team}?tab=applications").get_data(as_text=True)
    assert "proof.png" in tab and "waits for: Team lead" in tab
    mine = c.get("/workbench/applications").get_data(as_text=True)
    assert "waits for: Team lead" in mine and "300.00" in mine

    r = _post(
        c,
        f"/workbench/cases/{cases.team}/applications/repayment",
        desk["csrf"],
        {"amount": "450.00", "paid_on": _today(desk["world"]).isoformat(), "channel": "bank transfer"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    repayments = c.get(f"/workbench/cases/{cases.team}?tab=repayments").get_data(as_text=True)
    assert "450.00" in repayments and "bank transfer" in repayments
    assert len(media_files(app)) == 2

    # withdraw the reduction
    r = _post(c, f"/workbench/applications/{row.id}/cancel", desk["csrf"])
    assert r.status_code == 302
    assert database.scalar("SELECT status FROM applications WHERE id = :i", i=row.id) == "cancelled"


@pytest.mark.parametrize(
    ("kind", "fields", "files", "message"),
    [
        ("reduction", {"waive_penalty": "800.01", "reason": "x"}, [], "never takes a balance component"),
        ("reduction", {"waive_penalty": "10", "reason": ""}, [], "Say why"),
        ("reduction", {"waive_fee": "-1", "reason": "x"}, [], "more than zero"),
        ("repayment", {"amount": "-3", "paid_on": "2026-01-02"}, [], "more than zero"),
        ("repayment", {"amount": "10", "paid_on": "2999-01-01"}, [], "future"),
        ("repayment", {"amount": "10", "paid_on": "yesterday"}, [], "Not a date"),
        (
            "reduction",
            {"waive_penalty": "10", "reason": "x"},
            [(PNG, "ok.png"), (b"MZ\x90\x00 not a picture", "bad.png")],
            "Only PDF, JPEG, PNG and WebP",
        ),
        ("repayment", {"amount": "10", "paid_on": "2026-01-02"}, [(PDF, "scan.png")], "content is PDF"),
        ("repayment", {"amount": "10", "paid_on": "2026-01-02"}, [(PNG * 400, "big.png")], "the limit is"),
    ],
)
def test_bad_applications_are_refused_with_nothing_saved(
    desk: dict[str, Any],
    database: Database,
    kind: str,
    fields: dict[str, str],
    files: list[tuple[bytes, str]],
    message: str,
) -> None:
    c, cases, app = desk["collector"], desk["cases"], desk["app"]
    app.config["ATTACHMENT_MAX_BYTES"] = 20_000
    before = [count(database, t) for t in ("applications", "approvals", "attachments")]
    stored = media_files(app)
    data: dict[str, Any] = dict(fields)
    if files:
        data["file"] = [(io.BytesIO(body), name) for body, name in files]
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/applications/{kind}",
        desk["csrf"],
        data,
        content_type="multipart/form-data",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422, html[:1000]
    assert message in html
    assert [count(database, t) for t in ("applications", "approvals", "attachments")] == before
    assert media_files(app) == stored  # no orphan file


# --- attachments, calls, letters ---------------------------------------------------------------------


def test_attachments_are_uploaded_and_downloads_audited(desk: dict[str, Any], database: Database) -> None:
    c, cases = desk["collector"], desk["cases"]
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/attachments",
        desk["csrf"],
        {"kind": "document", "file": [(io.BytesIO(PDF), "contract.pdf")]},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    attachment_id = database.scalar("SELECT id FROM attachments")
    r = c.get(f"/workbench/attachments/{attachment_id}")
    assert r.status_code == 200 and r.data == PDF and r.headers["X-Content-Type-Options"] == "nosniff"
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'attachment.downloaded'") == 1
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/attachments",
        desk["csrf"],
        {"kind": "evidence", "file": [(io.BytesIO(b"#!/bin/sh\n"), "run.sh")]},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Only PDF, JPEG, PNG and WebP" in r.get_data(as_text=True)
    assert count(database, "attachments") == 1


def test_calls_through_the_sandbox_and_by_hand(desk: dict[str, Any], database: Database) -> None:
    c, cases = desk["collector"], desk["cases"]
    with tenant(desk["world"].bank.org_id):
        from arrears.models import Case

        case = db.session.get(Case, cases.team)
        case.debtor.mobile = "13800138000"
        db.session.commit()
    r = _post(c, f"/workbench/cases/{cases.team}/calls", desk["csrf"], follow_redirects=True)
    assert "answer your phone" in r.get_data(as_text=True)
    call = database.rows("SELECT id, provider, number_masked, result FROM calls")[0]
    assert call.provider == "sandbox" and call.result is None
    assert "13800138000" not in call.number_masked and call.number_masked.startswith("138")
    centre = desk["app"].extensions["arrears.callcentre"]
    assert [x.case_ref for x in centre.calls] == ["APP-0"]
    r = _post(
        c,
        f"/workbench/calls/{call.id}/finish",
        desk["csrf"],
        {"duration_s": "95", "result": "answered", "recording_ref": "rec-1"},
    )
    assert r.status_code == 302
    assert tuple(database.rows("SELECT duration_s, result FROM calls WHERE id = :i", i=call.id)[0]) == (
        95,
        "answered",
    )
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/calls/log",
        desk["csrf"],
        {"started_at": "2026-01-05T10:30", "duration_s": "40", "result": "no_answer", "note": "desk phone"},
    )
    assert r.status_code == 302
    history = c.get(f"/workbench/cases/{cases.team}?tab=history").get_data(as_text=True)
    assert "desk phone" in history and "95 s" in history
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/calls/log",
        desk["csrf"],
        {"started_at": "2999-01-01T10:00", "duration_s": "40", "result": "answered"},
        follow_redirects=True,
    )
    assert "cannot start in the future" in r.get_data(as_text=True)
    assert count(database, "calls") == 2
    # an answered call's note says what came of it, in the organisation's result codes
    answered = {"started_at": "2026-01-06T09:00", "duration_s": "300", "result": "answered", "note": "spoke"}
    r = _post(c, f"/workbench/cases/{cases.team}/calls/log", desk["csrf"], answered, follow_redirects=True)
    assert "Choose the result of the conversation." in r.get_data(as_text=True)
    assert count(database, "calls") == 2 and count(database, "collection_notes") == 1
    r = _post(
        c,
        f"/workbench/cases/{cases.team}/calls/log",
        desk["csrf"],
        {**answered, "result_code": "callback", "party": "relative"},
    )
    assert r.status_code == 302
    notes_ = database.rows(
        "SELECT result_code, party, contacted, call_id IS NOT NULL FROM collection_notes ORDER BY id"
    )
    assert [tuple(n) for n in notes_] == [
        ("no_answer", "none", False, True),
        ("callback", "relative", True, True),
    ]
    assert database.scalar("SELECT last_contact_at IS NOT NULL FROM cases WHERE id = :i", i=cases.team)


def test_letters_one_by_one_and_in_bulk(desk: dict[str, Any], database: Database) -> None:
    c, cases, world = desk["collector"], desk["cases"], desk["world"]
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        template = letters.create_template(
            admin,
            name="催收函",
            subject="关于贷款 {{ loan_no }} 的还款通知",
            body="尊敬的{{ debtor_name }}：\n\n"
            "您的贷款已逾期 {{ days_past_due }} 天，欠款 {{ outstanding }} 元。",
        )
        template_id = template.id
    page = c.get(f"/workbench/cases/{cases.team}?tab=letters").get_data(as_text=True)
    assert "催收函" in page
    r = _post(c, f"/workbench/cases/{cases.team}/letters", desk["csrf"], {"template_id": template_id})
    assert r.status_code == 302
    row = database.rows(
        "SELECT l.id, a.id AS file, a.kind FROM letters l JOIN attachments a ON a.id = l.attachment_id"
    )
    assert len(row) == 1 and row[0].kind == "letter"
    pdf = c.get(f"/workbench/attachments/{row[0].file}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert "Letter sent" in c.get(f"/workbench/cases/{cases.team}").get_data(as_text=True)

    listing = c.get("/workbench/cases").get_data(as_text=True)
    assert 'id="bulk-letters"' in listing and "催收函" in listing
    r = _post(
        c,
        "/workbench/letters/bulk",
        desk["csrf"],
        {"template_id": template_id, "case_id": [cases.team, cases.other, cases.loose]},
    )
    assert r.status_code == 302
    job = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "2 letters made." in job and "not one of your cases" in job
    assert count(database, "letters") == 3
    status = c.get(r.headers["Location"] + "?format=json").get_json()
    assert status["done"] is True and status["progress"] == 100


# --- reminders and the home page ---------------------------------------------------------------------


def test_reminders_done_and_snoozed(desk: dict[str, Any], database: Database) -> None:
    c, cases, world = desk["collector"], desk["cases"], desk["world"]
    today = _today(world)
    with tenant(world.east.org_id):
        collector = db.session.get(User, world.east.users["collector"])
        for case_id in (cases.team, cases.other):
            notes.add_note(
                collector, case_id, action="call", party="none", result_code="no_answer", follow_up_on=today
            )
    ids = [r[0] for r in database.rows("SELECT id FROM reminders ORDER BY id")]
    page = c.get("/workbench/reminders").get_data(as_text=True)
    assert "APP-0" in page and "APP-3" in page
    r = _post(c, f"/workbench/reminders/{ids[0]}/done", desk["csrf"], {"next": "/workbench/reminders"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/workbench/reminders")
    r = _post(c, f"/workbench/reminders/{ids[1]}/snooze", desk["csrf"], {"until": today.isoformat()})
    assert "Snooze to a day after today." in c.get("/workbench/reminders").get_data(as_text=True)
    later = today + dt.timedelta(days=2)
    _post(c, f"/workbench/reminders/{ids[1]}/snooze", desk["csrf"], {"until": later.isoformat()})
    assert database.rows("SELECT done, due_on, snoozed FROM reminders ORDER BY id") == [
        (True, today, 0),
        (False, later, 1),
    ]
    assert "APP-3" in c.get("/workbench/reminders?when=upcoming").get_data(as_text=True)
    # off-site "next" is not followed
    r = _post(c, f"/workbench/reminders/{ids[1]}/done", desk["csrf"], {"next": "https://evil.example/"})
    assert r.headers["Location"].endswith("/workbench/reminders")


def test_home_figures_and_the_honour_roll(desk: dict[str, Any], database: Database) -> None:
    c, cases, world = desk["collector"], desk["cases"], desk["world"]
    today = _today(world)
    with tenant(world.east.org_id):
        collector = db.session.get(User, world.east.users["collector"])
        notes.add_note(
            collector,
            cases.team,
            action="call",
            party="debtor",
            result_code="promise_to_pay",
            promise_amount="500",
            promise_due_on=today,
        )
        notes.add_note(collector, cases.other, action="call", party="none", result_code="no_answer")
    promise_id = database.scalar("SELECT id FROM promises")
    home = c.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="promises-due">1<', home) and re.search(r'id="open-cases">2<', home)
    assert re.search(r'id="contact-rate">50\.0%<', home)
    r = _post(c, f"/workbench/promises/{promise_id}/confirm", desk["csrf"], {"paid_amount": "500"})
    assert r.status_code == 302
    # a promise confirmed by hand settles the promise, but is no money of the lender's: nothing collected
    home = c.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="collected">0\.00<', home)
    roll = home[home.index('id="honour-roll"') :]
    assert "collector of east" not in roll[: roll.index("</ol>")]
    # the lender's repayment, applied and credited to the collector holding the case, is
    pay(world, [("CORE-1", "APP-0", "500.00")])
    home = c.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="collected">500\.00<', home) and re.search(r'id="rank">1<', home)
    roll = home[home.index('id="honour-roll"') :]
    assert "collector of east" in roll[: roll.index("</ol>")]


# --- nobody else's -----------------------------------------------------------------------------------


def test_another_collector_and_missing_ids_get_404_everywhere(
    desk: dict[str, Any], database: Database
) -> None:
    c, cases, world, app = desk["collector"], desk["cases"], desk["world"], desk["app"]
    today = _today(world)
    with tenant(world.east.org_id):
        collector = db.session.get(User, world.east.users["collector"])
        notes.add_note(
            collector,
            cases.team,
            action="call",
            party="debtor",
            result_code="promise_to_pay",
            follow_up_on=today,
            promise_amount="10",
            promise_due_on=today,
        )
    _post(
        c,
        f"/workbench/cases/{cases.team}/attachments",
        desk["csrf"],
        {"kind": "document", "file": [(io.BytesIO(PDF), "x.pdf")]},
        content_type="multipart/form-data",
    )
    _post(
        c,
        f"/workbench/cases/{cases.team}/applications/reduction",
        desk["csrf"],
        {"waive_fee": "1", "reason": "x"},
        content_type="multipart/form-data",
    )
    _post(
        c,
        f"/workbench/cases/{cases.team}/calls/log",
        desk["csrf"],
        {"started_at": "2026-01-05T10:30", "duration_s": "1", "result": "busy"},
    )
    ids = {
        "case": cases.team,
        "promise": database.scalar("SELECT id FROM promises"),
        "reminder": database.scalar("SELECT id FROM reminders"),
        "attachment": database.scalar("SELECT id FROM attachments"),
        "application": database.scalar("SELECT id FROM applications"),
        "call": database.scalar("SELECT id FROM calls"),
    }
    assert all(ids.values()), ids
    routes = [
        ("GET", "/workbench/cases/{case}"),
        ("GET", "/workbench/cases/{case}/face"),
        ("POST", "/workbench/cases/{case}/notes"),
        ("POST", "/workbench/cases/{case}/attachments"),
        ("POST", "/workbench/cases/{case}/calls"),
        ("POST", "/workbench/cases/{case}/calls/log"),
        ("POST", "/workbench/cases/{case}/letters"),
        ("POST", "/workbench/cases/{case}/applications/reduction"),
        ("POST", "/workbench/cases/{case}/applications/repayment"),
        ("POST", "/workbench/promises/{promise}/confirm"),
        ("POST", "/workbench/reminders/{reminder}/done"),
        ("POST", "/workbench/reminders/{reminder}/snooze"),
        ("GET", "/workbench/attachments/{attachment}"),
        ("POST", "/workbench/calls/{call}/finish"),
        ("POST", "/workbench/applications/{application}/cancel"),
    ]
    bob = signed_in(app, "bob@east.test.example")
    bob_csrf = csrf_token(bob, "/workbench/cases")
    tables = ("collection_notes", "promises", "reminders", "attachments", "applications", "calls", "letters")
    before = [count(database, t) for t in tables]
    data = {
        "action": "call",
        "party": "debtor",
        "result_code": "paid",
        "paid_amount": "10",
        "until": (today + dt.timedelta(days=5)).isoformat(),
        "waive_fee": "1",
        "reason": "x",
        "amount": "1",
        "paid_on": "2026-01-01",
        "duration_s": "1",
        "result": "busy",
        "started_at": "2026-01-05T10:30",
        "template_id": "1",
    }
    for method, pattern in routes:
        for who, client, token in (("bob", bob, bob_csrf), ("collector", c, desk["csrf"])):
            values = ids if who == "bob" else dict.fromkeys(ids, MISSING)
            url = pattern.format(**values)
            r = client.get(url) if method == "GET" else _post(client, url, token, data)
            assert r.status_code == 404, (who, method, url, r.status_code)
    assert [count(database, t) for t in tables] == before
    # and bob's pages list nothing of the collector's
    for url in ("/workbench/", "/workbench/cases", "/workbench/reminders", "/workbench/applications"):
        assert "APP-0" not in bob.get(url).get_data(as_text=True)
