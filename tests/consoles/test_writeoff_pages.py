"""The write-off pages against PostgreSQL, through HTTP: the owner's admin adds a rule, sees the
candidates, proposes the ticked ones and all matching ones (a reason is required), finds the batch
among the proposals and decides it on the approvals page (a checker, not the maker), reads the ledger
with its totals, exports it, opens a line and asks for its reversal; the threshold is set on the
rules tab. Agencies have no write-off pages; another owner's lines and rules answer 404."""

from __future__ import annotations

import io
import re

import openpyxl
from flask import Flask
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Approval, ApprovalStatus, Organisation, WriteOff
from arrears.tenancy import tenant
from arrears.writeoffs import writeoffs
from tests.builders.tenants import World
from tests.builders.writeoffs import setup_bank
from tests.conftest import csrf_token, signed_in


def test_owner_pages_from_rule_to_ledger(app: Flask, world: World) -> None:
    ids = setup_bank(
        world,
        [
            {"loan_no": "PG-1", "due_date": "2026-01-01"},
            {"loan_no": "PG-2", "due_date": "2026-01-01"},
            {"loan_no": "PG-3", "due_date": "2026-01-01"},
        ],
    )
    admin = signed_in(app, world.bank.admin_email)
    token = csrf_token(admin, "/asset/writeoffs/rules")
    # the nav shows the tab; nothing matches without a rule
    page = admin.get("/asset/writeoffs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/asset/writeoffs" in html and "No active rule" in html
    # a rule with a wrong field is refused naming it, then saved
    bad = admin.post(
        "/asset/writeoffs/rules/new",
        data={"csrf_token": token, "name": "old", "dpd_min": "abc", "active": "y"},
    )
    assert bad.status_code == 422
    made = admin.post(
        "/asset/writeoffs/rules/new",
        data={"csrf_token": token, "name": "old", "dpd_min": "180", "active": "y"},
    )
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    with tenant(world.bank.org_id):
        rule_id = db.session.scalar(select(writeoffs.WriteOffRule.id))
    assert admin.get(f"/asset/writeoffs/rules/{rule_id}").status_code == 200
    assert "old" in admin.get("/asset/writeoffs/rules").get_data(as_text=True)
    # the threshold
    assert (
        admin.post("/asset/writeoffs/rules", data={"csrf_token": token, "threshold": "2000"}).status_code
        == 302
    )
    with tenant(world.bank.org_id):
        assert writeoffs.threshold(db.session.get(Organisation, world.bank.org_id)) == 2000
    html = admin.get("/asset/writeoffs?sort=amount").get_data(as_text=True)
    assert all(loan in html for loan in ("PG-1", "PG-2", "PG-3"))
    # no reason: refused; ticked: one batch of two (2,340.00 > 2,000: two stages)
    assert (
        admin.post(
            "/asset/writeoffs/propose", data={"csrf_token": token, "case_ids": [ids["PG-1"]]}
        ).status_code
        == 400
    )
    done = admin.post(
        "/asset/writeoffs/propose",
        data={"csrf_token": token, "case_ids": [ids["PG-1"], ids["PG-2"]], "reason": "uncollectable"},
    )
    assert done.status_code == 302
    # all matching: the one left
    assert (
        admin.post(
            "/asset/writeoffs/propose", data={"csrf_token": token, "all": "1", "reason": "all"}
        ).status_code
        == 302
    )
    html = admin.get("/asset/writeoffs/proposals").get_data(as_text=True)
    approval_ids = sorted(int(i) for i in re.findall(r"/asset/approvals/(\d+)", html))
    assert len(approval_ids) == 2
    assert "PG-3" not in admin.get("/asset/writeoffs").get_data(as_text=True)
    # the approvals page describes it; the maker cannot decide, checkers can
    page = admin.get(f"/asset/approvals/{approval_ids[0]}").get_data(as_text=True)
    assert "Write off 2 loans" in page and "PG-1" in page
    first = signed_in(app, world.bank.emails["checker1"])
    second = signed_in(app, world.bank.emails["checker2"])
    for client in (first, second, first):
        client.post(
            f"/asset/approvals/{approval_ids[0]}",
            data={"csrf_token": csrf_token(client, f"/asset/approvals/{approval_ids[0]}"), "approve": "1"},
        )
    with tenant(world.bank.org_id):
        approval = db.session.get(Approval, approval_ids[0], populate_existing=True)
        assert approval.status == ApprovalStatus.APPROVED
        assert [t["by"] for t in approval.trail] == [
            world.bank.users["checker1"],
            world.bank.users["checker2"],
        ]
        writeoffs.register_approved(approval.id)
        write_off_id = db.session.scalar(select(WriteOff.id).order_by(WriteOff.id))
    html = admin.get("/asset/writeoffs/proposals?status=decided").get_data(as_text=True)
    assert f"/asset/approvals/{approval_ids[0]}" in html
    # the ledger: the lines, the totals, the export
    html = admin.get("/asset/writeoffs/ledger").get_data(as_text=True)
    assert "PG-1" in html and "PG-2" in html and "2,340.00" in html
    export = admin.get("/asset/writeoffs/ledger/export?loan_no=PG-2")
    assert export.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows] == ["Loan number", "PG-2", "Total"]
    # one line, and the request to reverse it
    assert admin.get(f"/asset/writeoffs/{write_off_id}").status_code == 200
    assert (
        admin.post(f"/asset/writeoffs/{write_off_id}/reversal", data={"csrf_token": token}).status_code == 400
    )
    asked = admin.post(
        f"/asset/writeoffs/{write_off_id}/reversal", data={"csrf_token": token, "reason": "oops"}
    )
    assert asked.status_code == 302 and "/asset/approvals/" in asked.headers["Location"]
    assert "Reverse the write-off of loan" in admin.get(asked.headers["Location"]).get_data(as_text=True)
    # deactivating the rule
    assert (
        admin.post(f"/asset/writeoffs/rules/{rule_id}/deactivate", data={"csrf_token": token}).status_code
        == 302
    )
    with tenant(world.bank.org_id):
        assert db.session.get(writeoffs.WriteOffRule, rule_id, populate_existing=True).active is False

    # another owner: 404 on the line and the rule, empty lists
    lender = signed_in(app, world.lender.admin_email)
    assert lender.get(f"/asset/writeoffs/{write_off_id}").status_code == 404
    assert lender.get(f"/asset/writeoffs/rules/{rule_id}").status_code == 404
    assert "PG-1" not in lender.get("/asset/writeoffs/ledger").get_data(as_text=True)
    # an agency has no asset console, hence no write-off pages
    agency = signed_in(app, world.east.admin_email)
    assert agency.get("/asset/writeoffs").status_code in (403, 404)
    assert agency.get(f"/asset/writeoffs/{write_off_id}").status_code in (403, 404)
    # the owner's staff sees the pages but cannot configure
    staff = signed_in(app, world.bank.emails["owner_staff"])
    assert staff.get("/asset/writeoffs/ledger").status_code == 200
    assert staff.get("/asset/writeoffs/rules/new").status_code == 403
