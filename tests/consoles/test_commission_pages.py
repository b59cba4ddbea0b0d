"""The commission (佣金) pages against PostgreSQL, through HTTP.

The owner's admin creates an agency contract through the form (a wrong rate is shown next to its
field), adds a version, settles October (the job, run here as a worker would), reads the statement,
adjusts it; a checker approves it (who adjusted may not) and marks it paid (a reference is required);
the .xlsx carries the statement's net and one row per record, the .pdf is a PDF. The agency's manager
reads its statements and records (and exports them), never acts on them, and gets 404 for another
agency's statement; it runs its own incentive. Owner staff read but may not settle."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl
from flask import Flask
from sqlalchemy import select

from arrears.extensions import db
from arrears.kernel.jobs.runner import run
from arrears.models import (
    AuditEvent,
    CommissionContract,
    CommissionStatement,
    ContractKind,
    JobRecord,
    JobStatus,
    StatementStatus,
)
from arrears.tenancy import tenant
from tests.builders.commission import at, bank_checker, contract_for, pay, place
from tests.builders.tenants import World, make_tenant, partner
from tests.conftest import csrf_token, signed_in

RATES = {"rate_m0": "5%", "rate_m1": "8%", "rate_m2": "0.12", "rate_m3": "18%", "rate_m4": "0.25"}


def _settle_job(org_id: int) -> str:
    with tenant(org_id):
        job_id = db.session.scalar(
            select(JobRecord.id)
            .where(JobRecord.func == "commission.settle")
            .order_by(JobRecord.created_at.desc())
            .limit(1)
        )
    assert job_id
    run(job_id, org_id)
    with tenant(org_id):
        assert db.session.get(JobRecord, job_id, populate_existing=True).status == JobStatus.FINISHED
    return job_id


def test_owner_contract_settlement_approval_payment_and_documents(app: Flask, world: World) -> None:
    cases = place(world, ["M1", "M2"], world.east.org_id)
    pay(
        world,
        [
            (cases[0], Decimal("1000.00"), at(dt.date(2026, 10, 5))),  # 8 %: 80.00
            (cases[1], Decimal("500.05"), at(dt.date(2026, 10, 6))),  # 12 %: 60.006 -> 60.01
        ],
    )
    admin = signed_in(app, world.bank.admin_email)
    token = csrf_token(admin, "/asset/commission/contracts/new")
    assert "/asset/commission" in admin.get("/asset/").get_data(as_text=True)  # the nav item
    # a wrong rate is refused, named next to its field
    bad = admin.post(
        "/asset/commission/contracts/new",
        data={
            "csrf_token": token,
            "payee": str(world.east.org_id),
            "name": "East 2026",
            "effective_from": "2026-01-01",
            **RATES,
            "rate_m1": "eight",
        },
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    field = re.search(r'id="rate_m1"[^>]*>\s*<div class="invalid-feedback d-block">([^<]+)<', html)
    assert field and "Not a rate" in field.group(1), html[:3000]
    made = admin.post(
        "/asset/commission/contracts/new",
        data={
            "csrf_token": token,
            "payee": str(world.east.org_id),
            "name": "East 2026",
            "effective_from": "2026-01-01",
            **RATES,
            "tier_basis": "collected",
            "tier1_threshold": "100000",
            "tier1_bonus": "1%",
            "note": "signed in January",
        },
    )
    assert made.status_code == 302, made.get_data(as_text=True)[:3000]
    with tenant(world.bank.org_id):
        contract = db.session.scalar(select(CommissionContract).where(CommissionContract.name == "East 2026"))
        assert contract.kind == ContractKind.AGENCY and contract.agency_org_id == world.east.org_id
        contract_id = contract.id
    page = admin.get(f"/asset/commission/contracts/{contract_id}")
    assert page.status_code == 200 and "8%" in page.get_data(as_text=True)
    # a second contract for the same agency is refused; a new version is added instead
    again = admin.post(
        "/asset/commission/contracts/new",
        data={
            "csrf_token": token,
            "payee": str(world.east.org_id),
            "name": "dup",
            "effective_from": "2026-01-01",
            **RATES,
        },
    )
    assert again.status_code == 409 and "add a version" in again.get_data(as_text=True)
    version = admin.post(
        f"/asset/commission/contracts/{contract_id}/versions",
        data={"csrf_token": token, "effective_from": "2026-11-01", **RATES, "rate_m1": "10%"},
    )
    assert version.status_code == 302
    html = admin.get(f"/asset/commission/contracts/{contract_id}").get_data(as_text=True)
    assert html.index("v2") < html.index("v1") and "10%" in html
    contracts = admin.get("/asset/commission/contracts").get_data(as_text=True)
    assert "East 2026" in contracts and "payee=incentive" in contracts  # no incentive contract yet
    assert f"payee={world.east.org_id}" not in contracts

    # settle October: the job is queued, the flash links to it
    assert "2026-11" in admin.get("/asset/commission").get_data(as_text=True)  # the previous month
    settled = admin.post("/asset/commission/settle", data={"csrf_token": token, "period": "2026-10"})
    assert settled.status_code == 302
    job_id = _settle_job(world.bank.org_id)
    listing = admin.get(settled.headers["Location"]).get_data(as_text=True)
    assert f"/asset/jobs/{job_id}" in listing and "140.01" in listing
    assert (
        admin.post("/asset/commission/settle", data={"csrf_token": token, "period": "2099-01"}).status_code
        == 422
    )
    with tenant(world.bank.org_id):
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-10")
        )
        statement_id = statement.id
        assert statement.net == Decimal("140.01") and statement.record_count == 2
    url = f"/asset/commission/statements/{statement_id}"
    html = admin.get(url).get_data(as_text=True)
    assert "M1" in html and "M2" in html and "140.01" in html and "Org east" in html
    assert "/asset/commission/records" in admin.get("/asset/commission/records").get_data(as_text=True)

    # a manual adjustment; who adjusted does not approve; the checker approves and pays
    assert (
        admin.post(f"{url}/adjustments", data={"csrf_token": token, "amount": "", "reason": "x"}).status_code
        == 422
    )
    adjusted = admin.post(
        f"{url}/adjustments", data={"csrf_token": token, "amount": "9.99", "reason": "goodwill"}
    )
    assert adjusted.status_code == 302
    refused = admin.post(f"{url}/approve", data={"csrf_token": token})
    assert refused.status_code == 403 and "another person" in refused.get_data(as_text=True)
    with tenant(world.bank.org_id):
        checker_email = bank_checker(world).email
    checker = signed_in(app, checker_email)
    ctoken = csrf_token(checker, url)
    assert checker.post(f"{url}/approve", data={"csrf_token": ctoken}).status_code == 302
    no_ref = checker.post(f"{url}/paid", data={"csrf_token": ctoken, "reference": " "})
    assert no_ref.status_code == 422 and "reference" in no_ref.get_data(as_text=True)
    assert (
        checker.post(f"{url}/paid", data={"csrf_token": ctoken, "reference": "WIRE-2026-10"}).status_code
        == 302
    )
    with tenant(world.bank.org_id):
        statement = db.session.get(CommissionStatement, statement_id, populate_existing=True)
        assert statement.status == StatementStatus.PAID and statement.net == Decimal("150.00")
    assert "WIRE-2026-10" in admin.get(url).get_data(as_text=True)

    # the documents
    xlsx = admin.get(f"{url}/statement.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    summary, lines, records = book.worksheets
    values = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert Decimal(str(values["Net"])) == Decimal("150.00") and values["Payee"] == "Org east"
    assert values["Payment reference"] == "WIRE-2026-10"
    assert summary.cell(row=11, column=2).number_format == "#,##0.00"
    assert "goodwill" in [c.value for row in summary.iter_rows() for c in row]
    data_rows = [r for r in records.iter_rows(min_row=2, values_only=True) if r[0] and r[0] != "Total"]
    assert len(data_rows) == 2 and {r[4] for r in data_rows} == {"M1", "M2"}
    assert sum(Decimal(str(r[7])) for r in data_rows) == Decimal("140.01")
    assert [r[0] for r in lines.iter_rows(min_row=2, values_only=True)][:2] == ["M1", "M2"]
    pdf = admin.get(f"{url}/statement.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.mimetype == "application/pdf"
    records_xlsx = admin.get("/asset/commission/records.xlsx?period=2026-10")
    assert records_xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(records_xlsx.data)).worksheets[0]
    assert len([r for r in sheet.iter_rows(min_row=2, values_only=True) if r[0] and r[0] != "Total"]) == 2
    with tenant(world.bank.org_id):
        exported = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "commission.exported")
        ).all()
        assert sorted(e.details["format"] for e in exported) == ["pdf", "xlsx", "xlsx"]


def test_agency_reads_its_own_and_runs_its_incentive(app: Flask, world: World) -> None:
    north = make_tenant("agency", "north")
    partner(world.bank, north)
    cases = place(world, ["M1"], world.east.org_id)
    contract_for(
        world,
        world.east.org_id,
        [
            {
                "effective_from": "2026-01-01",
                "rates": {"M0": "0.05", "M1": "0.08", "M2": "0.1", "M3": "0.1", "M4+": "0.1"},
            }
        ],
    )
    contract_for(
        world,
        north.org_id,
        [
            {
                "effective_from": "2026-01-01",
                "rates": {"M0": "0.05", "M1": "0.08", "M2": "0.1", "M3": "0.1", "M4+": "0.1"},
            }
        ],
    )
    pay(world, [(cases[0], Decimal("250.00"), at(dt.date(2026, 10, 9)))])
    admin = signed_in(app, world.bank.admin_email)
    token = csrf_token(admin, "/asset/commission")
    assert (
        admin.post("/asset/commission/settle", data={"csrf_token": token, "period": "2026-10"}).status_code
        == 302
    )
    _settle_job(world.bank.org_id)
    with tenant(world.bank.org_id):
        mine, theirs = (
            db.session.scalar(
                select(CommissionStatement.id).where(CommissionStatement.agency_org_id == agency)
            )
            for agency in (world.east.org_id, north.org_id)
        )
        east_contract = db.session.scalar(
            select(CommissionContract.id).where(CommissionContract.agency_org_id == world.east.org_id)
        )
    manager = signed_in(app, world.east.admin_email)
    mtoken = csrf_token(manager, "/agency/commission")
    listing = manager.get("/agency/commission").get_data(as_text=True)
    assert f"/agency/commission/statements/{mine}" in listing and f"/statements/{theirs}" not in listing
    html = manager.get(f"/agency/commission/statements/{mine}").get_data(as_text=True)
    assert "20.00" in html and "Org bank" in html and "Approve the statement" not in html
    assert manager.get(f"/agency/commission/statements/{theirs}").status_code == 404
    assert manager.get(f"/agency/commission/statements/{theirs}/statement.pdf").status_code == 404
    # the payee reads, never acts
    assert (
        manager.post(f"/agency/commission/statements/{mine}/approve", data={"csrf_token": mtoken}).status_code
        == 403
    )
    assert manager.get(f"/agency/commission/statements/{mine}/statement.pdf").data.startswith(b"%PDF")
    book = openpyxl.load_workbook(
        io.BytesIO(manager.get(f"/agency/commission/statements/{mine}/statement.xlsx").data)
    )
    assert [
        r[0] for r in book.worksheets[2].iter_rows(min_row=2, values_only=True) if r[0] and r[0] != "Total"
    ] != []
    records = manager.get("/agency/commission/records?period=2026-10").get_data(as_text=True)
    assert "250.00" in records and "20.00" in records
    assert manager.get("/agency/commission/records.xlsx").status_code == 200
    contract_page = manager.get(f"/agency/commission/contracts/{east_contract}").get_data(as_text=True)
    assert "8%" in contract_page and "Add the version" not in contract_page
    assert (
        manager.post(
            f"/agency/commission/contracts/{east_contract}/versions",
            data={"csrf_token": mtoken, "effective_from": "2026-12-01", **RATES},
        ).status_code
        == 403
    )
    # its own incentive: only the incentive is offered; created, versioned, settled
    form = manager.get("/agency/commission/contracts/new").get_data(as_text=True)
    assert "Org bank" not in form
    made = manager.post(
        "/agency/commission/contracts/new",
        data={
            "csrf_token": mtoken,
            "payee": "incentive",
            "name": "East collectors",
            "effective_from": "2026-01-01",
            **RATES,
        },
    )
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    incentive = int(made.headers["Location"].rsplit("/", 1)[1])
    assert "Add the version" in manager.get(f"/agency/commission/contracts/{incentive}").get_data(
        as_text=True
    )
    assert (
        manager.post(
            "/agency/commission/settle", data={"csrf_token": mtoken, "period": "2026-10"}
        ).status_code
        == 302
    )
    _settle_job(world.east.org_id)
    ended = manager.post(f"/agency/commission/contracts/{incentive}/end", data={"csrf_token": mtoken})
    assert ended.status_code == 302
    with tenant(world.east.org_id):
        assert db.session.get(CommissionContract, incentive).status.value == "ended"
    # in Chinese too (the pages and the PDF's CID font)
    assert manager.get("/lang/zh_CN").status_code in (302, 303)
    for page in (
        f"/agency/commission/statements/{mine}",
        "/agency/commission/contracts/new",
        "/agency/commission/records",
    ):
        assert manager.get(page).status_code == 200, page
    assert manager.get(f"/agency/commission/statements/{mine}/statement.pdf").data.startswith(b"%PDF")
    # another agency's manager sees none of it
    west = signed_in(app, world.west.admin_email)
    assert west.get(f"/agency/commission/statements/{mine}").status_code == 404
    assert west.get(f"/agency/commission/contracts/{east_contract}").status_code == 404
    assert "Org bank" not in west.get("/agency/commission").get_data(as_text=True)


def test_owner_staff_reads_but_does_not_settle(app: Flask, world: World) -> None:
    staff = signed_in(app, world.bank.emails["owner_staff"])
    token = csrf_token(staff, "/asset/commission")
    html = staff.get("/asset/commission").get_data(as_text=True)
    assert "Settle the period" not in html
    assert staff.get("/asset/commission/records").status_code == 200
    assert staff.get("/asset/commission/contracts").status_code == 200
    assert (
        staff.post("/asset/commission/settle", data={"csrf_token": token, "period": "2026-10"}).status_code
        == 403
    )
    assert staff.get("/asset/commission/contracts/new").status_code == 403
    with tenant(world.bank.org_id):
        assert db.session.scalar(select(JobRecord.id).where(JobRecord.func.like("%commission%"))) is None
