"""The collection work API (``/api/v1`` notes, promises, reminders, result codes): the collector
holding the case writes; everyone else gets 404 for foreign and missing objects alike; amounts are
decimal strings; bad input names the field and saves nothing."""

from __future__ import annotations

import datetime as dt
import io

from flask import Flask
from sqlalchemy import select

from arrears.cases.cases import business_date
from arrears.extensions import db
from arrears.models import Case, Organisation
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.placements import two_cases_with_collector
from tests.builders.tenants import World, new_user
from tests.conftest import Database, api_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_notes_promises_and_reminders_through_the_api(app: Flask, world: World, database: Database) -> None:
    first, second = two_cases_with_collector(world)
    new_user(world.east.org_id, "collector", "bob@east.test.example", "Bob Second")
    with tenant(world.east.org_id):
        today = business_date(db.session.get(Organisation, world.east.org_id))
    # collectors hold api.tokens (a softphone or a desktop client works cases through the API)
    mine = bearer(api_token(world.east.emails["collector"]))
    bob = bearer(api_token("bob@east.test.example"))
    west = bearer(api_token(world.west.admin_email))
    owner = bearer(api_token(world.bank.admin_email))
    client = app.test_client()
    body = {
        "action": "call",
        "party": "debtor",
        "result_code": "promise_to_pay",
        "text": "pays on payday",
        "follow_up_on": (today + dt.timedelta(days=1)).isoformat(),
        "promise_amount": "120.00",
        "promise_due_on": (today + dt.timedelta(days=2)).isoformat(),
    }

    # bad input: a fractional JSON number, a promise in the past -> the field named, nothing saved
    bad = client.post(f"/api/v1/cases/{first}/notes", json={**body, "promise_amount": 120.5}, headers=mine)
    assert bad.status_code == 422 and "promise_amount" in bad.get_data(as_text=True)
    past = {**body, "promise_due_on": "2001-01-01"}
    bad = client.post(f"/api/v1/cases/{first}/notes", json=past, headers=mine)
    assert bad.status_code == 422 and "promise_due_on" in bad.get_data(as_text=True)
    assert database.scalar("SELECT count(*) FROM collection_notes") == 0
    assert database.scalar("SELECT count(*) FROM promises") == 0

    created = client.post(f"/api/v1/cases/{first}/notes", json=body, headers=mine)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["result_code"] == "promise_to_pay" and created.json["contacted"] is True
    listed = client.get(f"/api/v1/cases/{first}/notes", headers=mine).json
    assert [n["id"] for n in listed] == [created.json["id"]]
    promises = client.get(f"/api/v1/cases/{first}/promises", headers=mine).json
    assert [(p["amount"], p["status"]) for p in promises] == [("120.00", "pending")]
    upcoming = client.get("/api/v1/reminders?when=upcoming", headers=mine).json
    assert sorted(r["kind"] for r in upcoming) == ["follow_up", "promise_due"]
    assert client.get("/api/v1/reminders?when=soon", headers=mine).status_code == 422

    # the owner sees the agency's note on its case; nobody else reaches any of it
    assert [n["id"] for n in client.get(f"/api/v1/cases/{first}/notes", headers=owner).json] == [
        created.json["id"]
    ]
    reminder_id = upcoming[0]["id"]
    promise_id = promises[0]["id"]
    missing = 10**9
    for headers in (bob, west):
        for path in (f"/api/v1/cases/{first}/notes", f"/api/v1/cases/{first}/promises"):
            assert client.get(path, headers=headers).status_code == 404
        assert client.post(f"/api/v1/cases/{first}/notes", json=body, headers=headers).status_code == 404
        for rid in (reminder_id, missing):
            assert client.post(f"/api/v1/reminders/{rid}/done", headers=headers).status_code == 404
        for pid in (promise_id, missing):
            confirm = client.post(
                f"/api/v1/promises/{pid}/confirm", json={"paid_amount": "1"}, headers=headers
            )
            assert confirm.status_code == 404
    assert client.get(f"/api/v1/cases/{missing}/notes", headers=mine).status_code == 404
    # the owner does not work a case it placed out
    assert client.post(f"/api/v1/cases/{first}/notes", json=body, headers=owner).status_code in (403, 404)

    # confirm by hand, snooze and done
    confirmed = client.post(
        f"/api/v1/promises/{promise_id}/confirm", json={"paid_amount": "120"}, headers=mine
    )
    assert confirmed.status_code == 200 and confirmed.json["status"] == "kept"
    later = (today + dt.timedelta(days=7)).isoformat()
    snoozed = client.post(f"/api/v1/reminders/{reminder_id}/snooze", json={"until": later}, headers=mine)
    assert snoozed.status_code == 200 and snoozed.json["snoozed"] == 1
    assert client.post(f"/api/v1/reminders/{reminder_id}/done", headers=mine).json["done"] is True

    # result codes: relabel one, and the set shows it; a collector may not change them
    east_admin = bearer(api_token(world.east.admin_email))
    put = client.put(
        "/api/v1/result-codes/busy", json={"label": "Line busy", "contacted": False}, headers=east_admin
    )
    assert put.status_code == 200
    codes = {c["code"]: c["label"] for c in client.get("/api/v1/result-codes", headers=mine).json}
    assert codes["busy"] == "Line busy" and "promise_to_pay" in codes
    assert client.put("/api/v1/result-codes/busy", json={"label": "x"}, headers=mine).status_code == 403
    with tenant(world.bank.org_id):
        assert db.session.scalar(select(Case.id).where(Case.id == second)) == second


def test_the_desk_and_the_contact_history_through_the_api(
    app: Flask, world: World, database: Database
) -> None:
    first, _second = two_cases_with_collector(world)
    mine = bearer(api_token(world.east.emails["collector"]))
    owner = bearer(api_token(world.bank.admin_email))
    west = bearer(api_token(world.west.admin_email))
    client = app.test_client()
    with tenant(world.east.org_id):
        today = business_date(db.session.get(Organisation, world.east.org_id))
    r = client.post(
        f"/api/v1/cases/{first}/notes",
        json={
            "action": "call",
            "party": "debtor",
            "result_code": "promise_to_pay",
            "text": "agreed",
            "promise_amount": "80.00",
            "promise_due_on": today.isoformat(),
        },
        headers=mine,
    )
    assert r.status_code == 201, r.get_json()
    r = client.post(
        f"/api/v1/cases/{first}/calls/manual",
        json={"started_at": "2026-01-05T10:30:00+08:00", "duration_s": 12, "result": "busy"},
        headers=mine,
    )
    assert r.status_code == 201, r.get_json()

    history = client.get(f"/api/v1/cases/{first}/contact-history", headers=mine).get_json()
    assert [(h["channel"], h["result"], h["contacted"]) for h in history] == [
        ("call", "promise_to_pay", True),
        ("call", "busy", False),
    ]
    assert len(client.get(f"/api/v1/cases/{first}/contact-history", headers=owner).get_json()) == 2
    assert client.get(f"/api/v1/cases/{first}/contact-history", headers=west).status_code == 404

    desk = client.get("/api/v1/workbench/desk", headers=mine).get_json()
    assert (desk["open_cases"], desk["promises_due_today"], desk["notes_month"]) == (2, 1, 1)
    assert desk["contact_rate"] == "1.000" and desk["confirmed_month"] == "0.00"
    promise = database.scalar("SELECT id FROM promises")
    r = client.post(f"/api/v1/promises/{promise}/confirm", json={"paid_amount": "80"}, headers=mine)
    assert r.status_code == 200 and r.get_json()["status"] == "kept"
    # a promise confirmed by hand is no money of the lender's: the figures count applied repayments
    assert client.get("/api/v1/workbench/desk", headers=mine).get_json()["confirmed_month"] == "0.00"
    with tenant(world.bank.org_id):
        loan_no = db.session.get(Case, first).loan_no
    paid = {"transaction_id": "CORE-1", "loan_no": loan_no, "amount": "80.00"}
    paid["paid_at"] = dt.datetime.now(dt.UTC).isoformat()
    r = client.post("/api/v1/repayments", json={"items": [paid]}, headers=owner)
    assert r.status_code == 202, r.get_json()
    with tenant(world.bank.org_id):
        assert repayments.apply_received(db.session.get(Organisation, world.bank.org_id))["applied"] == 1
    desk = client.get("/api/v1/workbench/desk", headers=mine).get_json()
    assert desk["confirmed_month"] == "80.00" and desk["rank"] == 1  # the cached roll was forgotten
    assert [row["name"] for row in desk["roll"]["month"]["amount"]] == ["collector of east"]
    assert client.get("/api/v1/workbench/desk", headers=west).get_json()["roll"]["month"]["amount"] == []
    spec = client.get("/api/v1/openapi.json").get_json()
    assert (
        "get" in spec["paths"]["/workbench/desk"]
        and "get" in spec["paths"]["/cases/{case_id}/contact-history"]
    )


def test_only_the_holding_organisation_works_a_case(app: Flask, world: World, database: Database) -> None:
    """The owner sees the work on a case it placed with an agency, but does not work the case itself:
    a call, a file, a letter or an application of the owner's on it answers 404, nothing saved."""
    first, _second = two_cases_with_collector(world)
    owner = bearer(api_token(world.bank.admin_email))
    client = app.test_client()
    tables = ("calls", "attachments", "letters", "applications", "collection_notes")
    before = [int(database.scalar(f"SELECT count(*) FROM {t}")) for t in tables]
    attempts = [
        (
            f"/api/v1/cases/{first}/calls/manual",
            {"started_at": "2026-01-05T10:30:00+08:00", "duration_s": 5, "result": "busy"},
        ),
        (f"/api/v1/cases/{first}/letters", {"template_id": 1}),
        (f"/api/v1/cases/{first}/applications", {"kind": "reduction", "waive_fee": "1", "reason": "x"}),
        (f"/api/v1/cases/{first}/notes", {"action": "call", "party": "none", "result_code": "no_answer"}),
    ]
    for url, body in attempts:
        r = client.post(url, json=body, headers=owner)
        assert r.status_code == 404, (url, r.status_code, r.get_json())
    r = client.post(
        f"/api/v1/cases/{first}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4\n"), "x.pdf"), "kind": "document"},
        headers=owner,
        content_type="multipart/form-data",
    )
    assert r.status_code == 404
    assert [int(database.scalar(f"SELECT count(*) FROM {t}")) for t in tables] == before
    assert client.get(f"/api/v1/cases/{first}/notes", headers=owner).status_code == 200  # it reads them
