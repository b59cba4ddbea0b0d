"""Write-off (核销) against PostgreSQL: rules checked field by field; the candidate query matches the
rules (days past due, quiet days, products, amounts) and leaves out closed, written-off and proposed
cases; only approved batches post; above the owner's threshold a second, different approver is
needed; the maker never decides; the registration job is idempotent and lets paid-off cases lapse;
the lines carry the balances by component; the placement ends unless the agency keeps the case;
recoveries never exceed what was written off and a reversed payment takes its recovery back; a
write-off is reversed only with approval; the ledger's export opens and is audited."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    ApprovalStatus,
    AuditEvent,
    Case,
    CaseHolder,
    CaseStatus,
    JobRecord,
    Organisation,
    PlacementCase,
    PlacementCaseStatus,
    Repayment,
    RepaymentSource,
    User,
)
from arrears.orgs import approvals
from arrears.payments import repayments
from arrears.tenancy import tenant
from arrears.writeoffs import ledger as writeoff_ledger
from arrears.writeoffs import proposals, writeoffs
from arrears.writeoffs.models import (
    ProposalStatus,
    WriteOff,
    WriteOffProposal,
    WriteOffRecovery,
    WriteOffStatus,
)
from tests.builders.tenants import World
from tests.builders.writeoffs import TODAY, setup_bank
from tests.conftest import api_token


def user(world: World, key: str) -> User:
    found = db.session.get(User, world.bank.users[key], populate_existing=True)
    assert found is not None
    return found


def approve(world: World, approval_id: int, *keys: str) -> Any:
    from arrears.models import Approval

    approval = None
    for key in keys:
        approval = db.session.get(Approval, approval_id, populate_existing=True)
        approvals.decide(user(world, key), approval, approve=True)
    return db.session.get(Approval, approval_id, populate_existing=True)


def pay(world: World, loan: str, amount: str, txn: str, when: dt.datetime | None = None) -> int:
    org = db.session.get(Organisation, world.bank.org_id)
    done = repayments.record(
        org,
        [
            {
                "transaction_id": txn,
                "loan_no": loan,
                "amount": amount,
                "paid_at": (when or dt.datetime.now(dt.UTC)).isoformat(),
            }
        ],
        source=RepaymentSource.API,
        enqueue_apply=False,
    )
    db.session.commit()
    repayments.apply_all(org)
    return done.new_ids[0]


# --- rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"name": "", "dpd_min": 90}, "name"),
        ({"name": "r", "dpd_min": "abc"}, "dpd_min"),
        ({"name": "r", "dpd_min": -1}, "dpd_min"),
        ({"name": "r", "dpd_min": 90, "quiet_days": 0}, "quiet_days"),
        ({"name": "r", "dpd_min": 90, "amount_min": "x"}, "amount_min"),
        ({"name": "r", "dpd_min": 90, "amount_min": "500", "amount_max": "100"}, "amount_max"),
        ({"name": "r", "dpd_min": 90, "products": [1, 2]}, "products"),
    ],
)
def test_rule_validation_names_the_field(
    app: Flask, world: World, values: dict[str, Any], field: str
) -> None:
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        with pytest.raises(ValidationFailed) as caught:
            writeoffs.create_rule(admin, values)
        assert caught.value.field == field
        staff = db.session.get(User, world.bank.users["owner_staff"])
        with pytest.raises(PermissionDenied):
            writeoffs.create_rule(staff, {"name": "r", "dpd_min": 90})
        with pytest.raises(ValidationFailed) as caught:
            writeoffs.set_threshold(admin, "-1")
        assert caught.value.field == "threshold"


# --- candidates --------------------------------------------------------------------------------------


def test_candidates_match_the_rules_and_leave_out_closed_written_off_and_proposed(
    app: Flask, world: World
) -> None:
    ids = setup_bank(
        world,
        [
            {"loan_no": "OLD", "due_date": "2026-01-01"},  # 334 dpd
            {"loan_no": "YOUNG", "due_date": "2026-10-01"},  # 61 dpd
            {"loan_no": "PAID-RECENTLY", "due_date": "2026-01-01"},
            {"loan_no": "OTHER-PRODUCT", "due_date": "2026-01-01", "product": "auto"},
            {"loan_no": "BIG", "due_date": "2026-01-01", "principal": "90000"},
            {"loan_no": "CLOSED", "due_date": "2026-01-01"},
            {"loan_no": "PROPOSED", "due_date": "2026-01-01"},
        ],
    )
    with tenant(world.bank.org_id):
        admin = user(world, "admin")
        rule = writeoffs.create_rule(
            admin,
            {
                "name": "old cards",
                "dpd_min": "180",
                "quiet_days": "30",
                "products": "card",
                "amount_max": "10000",
            },
        )
        # a second rule that matches only the big one: its case names that rule
        big_rule = writeoffs.create_rule(admin, {"name": "big", "dpd_min": 300, "amount_min": "50000"})
        pay(world, "PAID-RECENTLY", "10", "T-RECENT")
        db.session.execute(
            Case.__table__.update().where(Case.__table__.c.id == ids["CLOSED"]).values(status="closed")
        )
        db.session.commit()
        proposals.propose(admin, [ids["PROPOSED"]], "uncollectable")
        page = writeoffs.candidates_page(admin, writeoffs.CandidateFilter(sort="amount"))
        found = {c.case.loan_no: c.rule.id if c.rule else None for c in page.rows}
        assert found == {"BIG": big_rule.id, "OLD": rule.id}
        assert [c.case.loan_no for c in page.rows] == ["BIG", "OLD"]
        assert page.total == 2
        assert page.sums["outstanding"] == Decimal("90170.00") + Decimal("1170.00")
        assert page.rows[1].dpd == 334
        only = writeoffs.candidates_page(admin, writeoffs.CandidateFilter(rule_id=rule.id))
        assert [c.case.loan_no for c in only.rows] == ["OLD"]
        # a deactivated rule matches nothing
        writeoffs.deactivate_rule(admin, big_rule)
        assert [c.case.loan_no for c in writeoffs.candidates_page(admin).rows] == ["OLD"]
        # another owner sees none of it
    with tenant(world.lender.org_id):
        other = db.session.get(User, world.lender.admin_id)
        assert writeoffs.candidates_page(other).rows == []
        with pytest.raises(NotFound):
            writeoffs.get_rule_for(other, rule.id)


def test_propose_refuses_closed_written_off_and_pending_cases_naming_the_loan(
    app: Flask, world: World
) -> None:
    ids = setup_bank(
        world, [{"loan_no": "A", "due_date": "2026-01-01"}, {"loan_no": "B", "due_date": "2026-01-01"}]
    )
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        with pytest.raises(ValidationFailed) as caught:
            proposals.propose(staff, [ids["A"]], "  ")
        assert caught.value.field == "reason"
        proposals.propose(staff, [ids["A"]], "dead")
        with pytest.raises(Conflict) as conflict:
            proposals.propose(staff, [ids["B"], ids["A"]], "dead")
        assert "A" in str(conflict.value.message)
        db.session.execute(
            Case.__table__.update().where(Case.__table__.c.id == ids["B"]).values(status="written_off")
        )
        db.session.commit()
        with pytest.raises(Conflict) as conflict:
            proposals.propose(staff, [ids["B"]], "dead")
        assert "B" in str(conflict.value.message)
        # nothing of the refused batches was written
        assert db.session.scalar(select(func.count()).select_from(WriteOffProposal)) == 1
    with tenant(world.lender.org_id), pytest.raises(NotFound):
        proposals.propose(db.session.get(User, world.lender.admin_id), [ids["A"]], "x")


# --- approval -----------------------------------------------------------------------------------------


def test_only_approved_batches_post_and_the_maker_never_decides(app: Flask, world: World) -> None:
    ids = setup_bank(world, [{"loan_no": f"L{i}", "due_date": "2026-01-01"} for i in range(3)])
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        rejected = proposals.propose(staff, [ids["L0"]], "dead")
        cancelled = proposals.propose(staff, [ids["L1"]], "dead")
        approved = proposals.propose(staff, [ids["L2"]], "dead")
        assert rejected.stages == ["review"]  # 1,170.00 is below the default threshold
        with pytest.raises(PermissionDenied):
            approvals.decide(staff, rejected.approval, approve=True)
        approvals.decide(user(world, "checker1"), rejected.approval, approve=False)
        approvals.cancel(staff, cancelled.approval)
        done = approve(world, approved.approval.id, "checker1")
        assert done.status == ApprovalStatus.APPROVED
        job_id = done.payload["job_id"]
        # the registration of a rejected or cancelled batch writes nothing
        assert writeoffs.register_approved(rejected.approval.id)["registered"] == 0
        assert writeoffs.register_approved(cancelled.approval.id)["registered"] == 0
        statuses = dict(db.session.execute(select(WriteOffProposal.case_id, WriteOffProposal.status)).all())
        assert statuses[ids["L0"]] == ProposalStatus.REJECTED
        assert statuses[ids["L1"]] == ProposalStatus.CANCELLED
        assert statuses[ids["L2"]] == ProposalStatus.PENDING  # approved, waiting for its job
        assert db.session.get(JobRecord, job_id) is not None
    from arrears.kernel.jobs.runner import run

    run(job_id, world.bank.org_id)
    with tenant(world.bank.org_id):
        db.session.expire_all()
        lines = db.session.scalars(select(WriteOff)).all()
        assert [w.case_id for w in lines] == [ids["L2"]]
        assert db.session.get(Case, ids["L2"]).status == CaseStatus.WRITTEN_OFF
        assert db.session.get(Case, ids["L0"]).status != CaseStatus.WRITTEN_OFF
        # the rejected case can be proposed again
        proposals.propose(staff, [ids["L0"]], "again")


def test_above_the_threshold_a_second_different_approver_is_needed(app: Flask, world: World) -> None:
    ids = setup_bank(
        world,
        [
            {"loan_no": "S", "due_date": "2026-01-01"},
            {"loan_no": "H", "due_date": "2026-01-01", "principal": "9000"},
        ],
    )
    with tenant(world.bank.org_id):
        admin = user(world, "admin")
        writeoffs.set_threshold(admin, "5000")
        staff = user(world, "owner_staff")
        small = proposals.propose(staff, [ids["S"]], "dead")
        assert small.stages == ["review"]
        big = proposals.propose(staff, [ids["H"]], "dead")
        assert big.stages == ["review", "second"]
        assert big.total == Decimal("9170.00")
        after_first = approve(world, big.approval.id, "checker1")
        assert after_first.status == ApprovalStatus.PENDING and after_first.stage == "second"
        assert "job_id" not in after_first.payload
        # the first checker cannot pass the second stage too
        assert not approvals.may_decide(user(world, "checker1"), after_first)
        with pytest.raises(PermissionDenied):
            approvals.decide(user(world, "checker1"), after_first, approve=True)
        # the maker cannot either, nor somebody without writeoffs.approve
        assert not approvals.may_decide(staff, after_first)
        done = approve(world, big.approval.id, "checker2")
        assert done.status == ApprovalStatus.APPROVED
        assert [t["by"] for t in done.trail] == [world.bank.users["checker1"], world.bank.users["checker2"]]
        writeoffs.register_approved(done.id)
        line = db.session.scalar(select(WriteOff).where(WriteOff.case_id == ids["H"]))
        assert [(a["by"], a["stage"]) for a in line.approvers] == [
            (world.bank.users["checker1"], "review"),
            (world.bank.users["checker2"], "second"),
        ]
        # below the threshold one checker suffices
        assert approve(world, small.approval.id, "checker1").status == ApprovalStatus.APPROVED


# --- registration ----------------------------------------------------------------------------------------


def place_with_east(world: World, case_ids: list[int]) -> None:
    """The cases placed with east (rows written as the placement service would) and held by its collector."""
    from arrears.models import Placement, PlacementStatus

    with tenant(world.bank.org_id):
        placement = Placement(
            org_id=world.bank.org_id,
            agency_org_id=world.east.org_id,
            partnership_id=world.bank_east,
            status=PlacementStatus.ACTIVE,
            starts_on=dt.date(2026, 1, 1),
            ends_on=dt.date(2030, 1, 1),
        )
        db.session.add(placement)
        db.session.flush()
        for case_id in case_ids:
            db.session.add(
                PlacementCase(
                    org_id=world.bank.org_id,
                    placement_id=placement.id,
                    case_id=case_id,
                    agency_org_id=world.east.org_id,
                    status=PlacementCaseStatus.ACTIVE,
                    bucket="M4+",
                    dpd=300,
                    amount=Decimal("1170"),
                    starts_on=dt.date(2026, 1, 1),
                    ends_on=dt.date(2030, 1, 1),
                )
            )
            db.session.add(
                CaseHolder(
                    case_id=case_id,
                    org_id=world.bank.org_id,
                    agency_org_id=world.east.org_id,
                    assignee_user_id=world.east.users["collector"],
                    assigned_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                )
            )
        db.session.execute(
            Case.__table__.update()
            .where(Case.__table__.c.id.in_(case_ids))
            .values(agency_org_id=world.east.org_id, status="active")
        )
        db.session.commit()


def test_registration_is_idempotent_writes_the_balances_and_releases_unless_kept(
    app: Flask, world: World
) -> None:
    ids = setup_bank(
        world,
        [
            {"loan_no": "GO", "due_date": "2026-01-01", "principal": "800", "interest": "70.5"},
            {"loan_no": "KEEP", "due_date": "2026-01-01"},
            {"loan_no": "PAID", "due_date": "2026-01-01"},
        ],
    )
    place_with_east(world, [ids["GO"], ids["KEEP"], ids["PAID"]])
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        released = proposals.propose(staff, [ids["GO"], ids["PAID"]], "dead", keep_placement=False)
        kept = proposals.propose(staff, [ids["KEEP"]], "agency recovers", keep_placement=True)
        # the debtor pays part of GO meanwhile (registered: the balances at approval) and PAID in full
        pay(world, "GO", "20", "T-PART")
        pay(world, "PAID", "1170", "T-FULL")
        approve(world, released.approval.id, "checker1")
        approve(world, kept.approval.id, "checker1")
        first = writeoffs.register_approved(released.approval.id)
        again = writeoffs.register_approved(released.approval.id)
        assert (first["registered"], first["lapsed"]) == (1, 1)
        assert (again["registered"], again["lapsed"]) == (0, 0)
        writeoffs.register_approved(kept.approval.id)
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(WriteOff)) == 2
        go = db.session.scalar(select(WriteOff).where(WriteOff.case_id == ids["GO"]))
        case_go = db.session.get(Case, ids["GO"])
        # penalty 50 then fee went first: 20 off the penalty
        assert (go.principal, go.interest, go.penalty, go.fee) == (
            case_go.principal,
            case_go.interest,
            case_go.penalty,
            case_go.fee,
        )
        assert (go.principal, go.interest, go.penalty, go.fee) == (
            Decimal("800.00"),
            Decimal("70.50"),
            Decimal("30.00"),
            Decimal("20.00"),
        )
        assert go.total == Decimal("920.50")
        assert go.previous_status == "active"
        assert go.agency_org_id == world.east.org_id
        assert go.written_off_on == TODAY
        assert go.proposed_by_id == world.bank.users["owner_staff"]
        assert case_go.status == CaseStatus.WRITTEN_OFF
        assert case_go.agency_org_id is None  # the placement ended
        placement_rows = dict(db.session.execute(select(PlacementCase.case_id, PlacementCase.status)).all())
        assert placement_rows[ids["GO"]] == PlacementCaseStatus.ENDED
        assert placement_rows[ids["KEEP"]] == PlacementCaseStatus.ACTIVE
        keep_case = db.session.get(Case, ids["KEEP"])
        assert keep_case.agency_org_id == world.east.org_id and keep_case.status == CaseStatus.WRITTEN_OFF
        holders = set(db.session.scalars(select(CaseHolder.case_id)))
        assert ids["GO"] not in holders and ids["KEEP"] in holders
        statuses = dict(db.session.execute(select(WriteOffProposal.case_id, WriteOffProposal.status)).all())
        assert statuses[ids["PAID"]] == ProposalStatus.LAPSED
        assert statuses[ids["GO"]] == ProposalStatus.REGISTERED
        assert db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "writeoff.registered")
        )
        # the written-off case is no candidate and cannot be proposed again
        with pytest.raises(Conflict):
            proposals.propose(staff, [ids["GO"]], "again")


def test_recoveries_are_capped_and_a_reversed_payment_takes_its_recovery_back(
    app: Flask, world: World
) -> None:
    ids = setup_bank(world, [{"loan_no": "R", "due_date": "2026-01-01"}])
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        batch = proposals.propose(staff, [ids["R"]], "dead")
        approve(world, batch.approval.id, "checker1")
        writeoffs.register_approved(batch.approval.id)
        line = db.session.scalar(select(WriteOff))
        assert line.total == Decimal("1170.00")
        first = pay(world, "R", "1000", "T-1")
        line = db.session.get(WriteOff, line.id, populate_existing=True)
        assert line.recovered == Decimal("1000.00")
        # more than is left: only the rest is a recovery; the case stays written off when paid off
        second = pay(world, "R", "500", "T-2")
        line = db.session.get(WriteOff, line.id, populate_existing=True)
        assert line.recovered == line.total == Decimal("1170.00")
        case_r = db.session.get(Case, ids["R"], populate_existing=True)
        assert case_r.status == CaseStatus.WRITTEN_OFF and case_r.outstanding == 0
        pay(world, "R", "5", "T-3")  # nothing is left to recover: no line
        amounts = list(db.session.scalars(select(WriteOffRecovery.amount).order_by(WriteOffRecovery.id)))
        assert amounts == [Decimal("1000.00"), Decimal("170.00")]
        # the first payment bounces: its recovery is taken back
        admin = user(world, "admin")
        repayments.reverse(admin, db.session.get(Repayment, first), "bounced")
        line = db.session.get(WriteOff, line.id, populate_existing=True)
        assert line.recovered == Decimal("170.00")
        lines = db.session.execute(
            select(
                WriteOffRecovery.repayment_id, WriteOffRecovery.amount, WriteOffRecovery.amount_sign
            ).order_by(WriteOffRecovery.id)
        ).all()
        assert lines[-1] == (first, Decimal("-1000.00"), -1)
        # reversing again changes nothing
        repayments.reverse(admin, db.session.get(Repayment, first), "bounced")
        assert db.session.get(WriteOff, line.id, populate_existing=True).recovered == Decimal("170.00")
        assert second
        assert db.session.get(Case, ids["R"], populate_existing=True).status == CaseStatus.WRITTEN_OFF


def test_reversal_needs_approval_restores_the_status_and_marks_the_line(app: Flask, world: World) -> None:
    ids = setup_bank(world, [{"loan_no": "V", "due_date": "2026-01-01"}])
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        batch = proposals.propose(staff, [ids["V"]], "dead")
        approve(world, batch.approval.id, "checker1")
        writeoffs.register_approved(batch.approval.id)
        line = db.session.scalar(select(WriteOff))
        previous = line.previous_status
        with pytest.raises(ValidationFailed):
            writeoffs.request_reversal(staff, line, "")
        request = writeoffs.request_reversal(staff, line, "written off by mistake")
        with pytest.raises(Conflict):
            writeoffs.request_reversal(staff, line, "written off by mistake")
        # nothing changes before the decision; the maker cannot decide
        assert db.session.get(Case, ids["V"]).status == CaseStatus.WRITTEN_OFF
        with pytest.raises(PermissionDenied):
            approvals.decide(staff, request, approve=True)
        approve(world, request.id, "checker2")
        line = db.session.get(WriteOff, line.id, populate_existing=True)
        assert line.status == WriteOffStatus.REVERSED
        assert line.reversal_approval_id == request.id
        assert line.reversal_reason == "written off by mistake"
        assert line.reversed_at is not None
        assert db.session.get(Case, ids["V"], populate_existing=True).status.value == previous
        # the ledger keeps the line; the case may be written off again
        again = proposals.propose(staff, [ids["V"]], "now for real")
        approve(world, again.approval.id, "checker1")
        writeoffs.register_approved(again.approval.id)
        statuses = sorted(s.value for s in db.session.scalars(select(WriteOff.status)))
        assert statuses == ["registered", "reversed"]


def test_ledger_export_opens_with_the_rows_and_totals_and_is_audited(app: Flask, world: World) -> None:
    import openpyxl

    ids = setup_bank(
        world,
        [
            {"loan_no": "E1", "due_date": "2026-01-01"},
            {"loan_no": "E2", "due_date": "2026-01-01", "fee": "30.25"},
        ],
    )
    with tenant(world.bank.org_id):
        staff = user(world, "owner_staff")
        batch = proposals.propose(staff, [ids["E1"], ids["E2"]], "uncollectable")
        approve(world, batch.approval.id, "checker1")
        writeoffs.register_approved(batch.approval.id)
        admin = user(world, "admin")
        totals = writeoff_ledger.ledger_totals(admin)
        assert totals["count"] == 2 and totals["total"] == Decimal("2350.25")
        out = io.BytesIO()
        assert writeoff_ledger.export_xlsx(admin, writeoff_ledger.LedgerFilter(), out) == 2
        sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][0] == "Loan number"
        body = {r[0]: r for r in rows[1:3]}
        assert set(body) == {"E1", "E2"}
        assert body["E2"][1] != "债务人"  # masked
        assert Decimal(str(body["E2"][6])) == Decimal("1180.25")
        assert body["E1"][12] == "uncollectable"
        assert "checker1" in body["E1"][11]
        assert rows[3][0] == "Total" and Decimal(str(rows[3][6])) == Decimal("2350.25")
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "writeoffs.exported")
            )
            == 1
        )
        only = writeoff_ledger.ledger_page(admin, writeoff_ledger.LedgerFilter(loan_no="E2"))
        assert [r.loan_no for r in only.rows] == ["E2"]
        assert writeoff_ledger.ledger_page(admin, writeoff_ledger.LedgerFilter(status="reversed")).total == 0


# --- the API ---------------------------------------------------------------------------------------------


def test_api_rules_candidates_proposals_ledger_and_reversal(app: Flask, world: World) -> None:
    ids = setup_bank(world, [{"loan_no": "P1", "due_date": "2026-01-01"}])
    client = app.test_client()
    token = api_token(world.bank.admin_email)
    auth = {"Authorization": f"Bearer {token}"}
    bad = client.post("/api/v1/writeoffs/rules", json={"name": "r", "dpd_min": "x"}, headers=auth)
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "dpd_min"
    made = client.post("/api/v1/writeoffs/rules", json={"name": "r", "dpd_min": 90}, headers=auth)
    assert made.status_code == 201, made.get_data(as_text=True)
    assert client.get("/api/v1/writeoffs/rules", headers=auth).get_json()[0]["name"] == "r"
    found = client.get("/api/v1/writeoffs/candidates", headers=auth).get_json()
    assert [c["loan_no"] for c in found["items"]] == ["P1"]
    assert found["items"][0]["rule_id"] == made.get_json()["id"]
    proposed = client.post(
        "/api/v1/writeoffs/proposals", json={"case_ids": [ids["P1"]], "reason": "dead"}, headers=auth
    )
    assert proposed.status_code == 202, proposed.get_data(as_text=True)
    approval_id = proposed.get_json()["approval_id"]
    listed = client.get("/api/v1/writeoffs/proposals", headers=auth).get_json()
    assert [p["status"] for p in listed] == ["pending"]
    with tenant(world.bank.org_id):
        approve(world, approval_id, "checker1")
        writeoffs.register_approved(approval_id)
    ledger = client.get("/api/v1/writeoffs", headers=auth).get_json()
    assert ledger["totals"]["total"] == "1170.00"
    write_off_id = ledger["items"][0]["id"]
    one = client.get(f"/api/v1/writeoffs/{write_off_id}", headers=auth)
    assert one.status_code == 200 and one.get_json()["loan_no"] == "P1"
    asked = client.post(
        f"/api/v1/writeoffs/{write_off_id}/reversal", json={"reason": "mistake"}, headers=auth
    )
    assert asked.status_code == 202, asked.get_data(as_text=True)
    # another owner: 404 on the line, nothing in its lists
    other = {"Authorization": f"Bearer {api_token(world.lender.admin_email)}"}
    assert client.get(f"/api/v1/writeoffs/{write_off_id}", headers=other).status_code == 404
    assert (
        client.post(
            f"/api/v1/writeoffs/{write_off_id}/reversal", json={"reason": "x"}, headers=other
        ).status_code
        == 404
    )
    assert client.get("/api/v1/writeoffs", headers=other).get_json()["items"] == []
    assert client.get(f"/api/v1/writeoffs/{write_off_id + 999}", headers=auth).status_code == 404
    # an agency has no write-off
    agency = {"Authorization": f"Bearer {api_token(world.east.admin_email)}"}
    assert client.get("/api/v1/writeoffs/candidates", headers=agency).status_code in (403, 404)
