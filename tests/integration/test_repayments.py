"""Repayments against PostgreSQL: a batch through the API is recorded per item (accepted, duplicate,
rejected naming field and reason) and applied by the job to the loan's components in the owner's
order, with postings that sum to the payment and to the balances; an overpayment is kept as credit,
a paid-off case closes and its placement ends; an Idempotency-Key replays its answer; a reversal
restores the balances exactly; another owner's token sees 404."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Case, CaseStatus, Posting, Repayment, RepaymentStatus, User
from arrears.payments import collector_reports, ledger_check, records
from arrears.payments.tasks import ledger_check_job
from arrears.tenancy import tenant
from tests.builders.cases import make_cases
from tests.builders.payments import apply_all, post_repayments
from tests.builders.tenants import World
from tests.conftest import Database, api_token


def test_batch_is_recorded_per_item_and_applied_in_order(app: Flask, world: World) -> None:
    ids = make_cases(world)
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    now = dt.datetime.now(dt.UTC)
    items = [
        {
            "transaction_id": "T1",
            "loan_no": "RP-0",
            "amount": "60.00",
            "paid_at": "2026-11-01T10:00:00+08:00",
        },
        {"transaction_id": "T2", "loan_no": "RP-1", "amount": 1170.5, "paid_at": "2026-11-01"},
        {"transaction_id": "T3", "loan_no": "NOPE", "amount": "1", "paid_at": "2026-11-01"},
        {"transaction_id": "T4", "loan_no": "RP-2", "amount": "-5", "paid_at": "2026-11-01"},
        {"transaction_id": "T5", "loan_no": "RP-2", "amount": "1.001", "paid_at": "2026-11-01"},
        {
            "transaction_id": "T6",
            "loan_no": "RP-2",
            "amount": "1",
            "paid_at": (now + dt.timedelta(days=2)).isoformat(),
        },
        {
            "transaction_id": "T1",
            "loan_no": "RP-0",
            "amount": "60.00",
            "paid_at": "2026-11-01T10:00:00+08:00",
        },
        "nonsense",
    ]
    response = post_repayments(client, token, items, key="k-1")
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    statuses = [i["status"] for i in body["items"]]
    assert statuses == [
        "accepted",
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
        "rejected",
    ]
    assert body["items"][2]["errors"][0]["field"] == "loan_no"
    assert body["items"][3]["errors"][0]["field"] == "amount"
    assert body["items"][4]["errors"][0]["field"] == "amount"
    assert body["items"][5]["errors"][0]["field"] == "paid_at"
    # the same key and body: the same answer, nothing recorded again
    again = post_repayments(client, token, items, key="k-1")
    assert again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == body
    # the same key with another body is refused
    assert post_repayments(client, token, items[:1], key="k-1").status_code == 409
    apply_all(world)
    with tenant(world.bank.org_id):
        first = db.session.get(Case, ids[0])
        # penalty 50 then fee 10 of 20
        assert (first.penalty, first.fee, first.interest, first.principal) == (
            Decimal("0.00"),
            Decimal("10.00"),
            Decimal("100.00"),
            Decimal("1000.00"),
        )
        second = db.session.get(Case, ids[1])
        assert second.outstanding == 0
        assert second.credit == Decimal("0.50")
        assert second.status == CaseStatus.CLOSED
        assert db.session.scalar(select(func.count()).select_from(Repayment)) == 2
        assert ledger_check.disagreements(world.bank.org_id) == []
        paid = db.session.scalar(
            select(
                func.sum(
                    -Posting.principal - Posting.interest - Posting.penalty - Posting.fee + Posting.credit
                )
            ).where(Posting.kind == "payment")
        )
        assert paid == Decimal("1230.50")
        t1 = db.session.scalar(select(Repayment).where(Repayment.external_id == "T1"))
        assert t1.status == RepaymentStatus.CONFIRMED
        t1_id = t1.id
        admin = db.session.get(User, world.bank.admin_id)
    # a reversal restores the balances exactly
    response = client.post(
        f"/api/v1/repayments/{t1_id}/reversal",
        json={"reason": "bounced"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] == "reversed"
    with tenant(world.bank.org_id):
        db.session.expire_all()
        first = db.session.get(Case, ids[0])
        assert (first.penalty, first.fee, first.outstanding) == (
            Decimal("50.00"),
            Decimal("20.00"),
            Decimal("1170.00"),
        )
        assert ledger_check.disagreements(world.bank.org_id) == []
        assert admin is not None
    # another owner: 404 on the repayment, its loans unknown
    other = api_token(world.lender.admin_email)
    assert (
        client.get(f"/api/v1/repayments/{t1_id}", headers={"Authorization": f"Bearer {other}"}).status_code
        == 404
    )
    foreign = post_repayments(
        client, other, [{"transaction_id": "X", "loan_no": "RP-0", "amount": "1", "paid_at": "2026-11-01"}]
    )
    assert foreign.get_json()["items"][0]["status"] == "rejected"


# --- bad input ------------------------------------------------------------------------------------


def raw_post(client: Any, token: str, body: bytes | str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/repayments", data=body, headers=headers, content_type="application/json")


def recorded(world: World) -> dict[str, Any]:
    with tenant(world.bank.org_id):
        db.session.expire_all()
        return {r.external_id: r for r in db.session.scalars(select(Repayment))}


def test_each_bad_item_is_rejected_naming_field_and_reason_and_the_rest_is_recorded(
    app: Flask, world: World
) -> None:
    ids = make_cases(world, 2)
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    now = dt.datetime.now(dt.UTC)
    good = {"loan_no": "RP-0", "amount": "10.00", "paid_at": "2026-11-01T10:00:00+08:00"}
    cases: list[tuple[Any, set[str]]] = [
        ({**good, "transaction_id": "OK-1"}, set()),
        ({**good, "transaction_id": "B-loan", "loan_no": "NO-SUCH-LOAN"}, {"loan_no"}),
        ({**good, "transaction_id": "B-neg", "amount": "-5"}, {"amount"}),
        ({**good, "transaction_id": "B-zero", "amount": "0"}, {"amount"}),
        ({**good, "transaction_id": "B-zero2", "amount": 0}, {"amount"}),
        ({**good, "transaction_id": "B-3dec", "amount": "1.005"}, {"amount"}),
        ({**good, "transaction_id": "B-text", "amount": "ten"}, {"amount"}),
        ({**good, "transaction_id": "B-bool", "amount": True}, {"amount"}),
        ({**good, "transaction_id": "B-list", "amount": [1]}, {"amount"}),
        ({**good, "transaction_id": "B-nan", "amount": "NaN"}, {"amount"}),
        ({**good, "transaction_id": "B-inf", "amount": "Infinity"}, {"amount"}),
        ({**good, "transaction_id": "B-huge", "amount": "1e20"}, {"amount"}),
        (
            {**good, "transaction_id": "B-future", "paid_at": (now + dt.timedelta(days=2)).isoformat()},
            {"paid_at"},
        ),
        ({**good, "transaction_id": "B-garbage", "paid_at": "yesterday"}, {"paid_at"}),
        ({**good, "transaction_id": "B-month", "paid_at": "2026-13-45"}, {"paid_at"}),
        ({**good, "transaction_id": "B-number", "paid_at": 20261101}, {"paid_at"}),
        ({**good, "transaction_id": "B-maxyear", "paid_at": "9999-12-31T23:59:59-10:00"}, {"paid_at"}),
        ({**good, "transaction_id": "B-minyear", "paid_at": "0001-01-01"}, {"paid_at"}),
        ({**good, "transaction_id": "B-1989", "paid_at": "1989-12-31T23:59:59Z"}, {"paid_at"}),
        ({**good, "transaction_id": "B-chan", "channel": 5}, {"channel"}),
        ({**good, "transaction_id": "X" * 65}, {"transaction_id"}),
        ({**good, "transaction_id": ""}, {"transaction_id"}),
        ({**good, "transaction_id": "B-two", "amount": "-1", "paid_at": "soon"}, {"amount", "paid_at"}),
        ({}, {"transaction_id", "loan_no", "amount", "paid_at"}),
        ({"transaction_id": "B-only"}, {"loan_no", "amount", "paid_at"}),
        ("a string", {"item"}),
        (5, {"item"}),
        (None, {"item"}),
        ([good], {"item"}),
        ({**good, "transaction_id": "OK-2", "loan_no": "RP-1", "amount": 12.5}, set()),
        ({**good, "transaction_id": "OK-3", "amount": "7", "channel": "bank transfer"}, set()),
    ]
    response = post_repayments(client, token, [c[0] for c in cases])
    assert response.status_code == 202, response.get_data(as_text=True)
    answer = response.get_json()
    assert len(answer["items"]) == len(cases)
    for (item, fields), got in zip(cases, answer["items"], strict=True):
        if not fields:
            assert got["status"] == "accepted", (item, got)
            continue
        assert got["status"] == "rejected", (item, got)
        assert {e["field"] for e in got["errors"]} == fields, (item, got["errors"])
        assert all(e["reason"] for e in got["errors"])
        assert "repayment_id" not in got
    assert (answer["accepted"], answer["rejected"], answer["duplicates"]) == (3, len(cases) - 3, 0)
    # nothing of a rejected item was written; the rest is recorded and applied
    assert sorted(recorded(world)) == ["OK-1", "OK-2", "OK-3"]
    apply_all(world)
    with tenant(world.bank.org_id):
        assert db.session.get(Case, ids[1]).penalty == Decimal("37.50")
        assert {r.status for r in recorded(world).values()} == {RepaymentStatus.CONFIRMED}
        assert recorded(world)["OK-2"].amount == Decimal("12.50")
        assert ledger_check.disagreements(world.bank.org_id) == []


def test_amounts_as_json_numbers_are_read_as_decimals(app: Flask, world: World) -> None:
    make_cases(world, 1)
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    body = (
        '{"items": ['
        '{"transaction_id": "N1", "loan_no": "RP-0", "amount": 1.005, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N2", "loan_no": "RP-0", "amount": 0.1, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N3", "loan_no": "RP-0", "amount": 1e2, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N4", "loan_no": "RP-0", "amount": NaN, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N5", "loan_no": "RP-0", "amount": -Infinity, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N6", "loan_no": "RP-0", "amount": 3, "paid_at": "2026-11-01"},'
        '{"transaction_id": "N7", "loan_no": "RP-0", "amount": 0.30000000000000004, "paid_at": "2026-11-01"}'
        "]}"
    )
    answer = raw_post(client, token, body).get_json()
    statuses = {i["transaction_id"]: i["status"] for i in answer["items"]}
    assert statuses == {
        "N1": "rejected",
        "N2": "accepted",
        "N3": "accepted",
        "N4": "rejected",
        "N5": "rejected",
        "N6": "accepted",
        "N7": "rejected",
    }
    assert answer["items"][0]["errors"] == [
        {"field": "amount", "reason": "An amount has at most two decimals."}
    ]
    amounts = {k: v.amount for k, v in recorded(world).items()}
    assert amounts == {"N2": Decimal("0.10"), "N3": Decimal("100.00"), "N6": Decimal("3.00")}


def test_a_malformed_batch_is_refused_whole_and_records_nothing(app: Flask, world: World) -> None:
    make_cases(world, 1)
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    item = {"transaction_id": "M1", "loan_no": "RP-0", "amount": "1", "paid_at": "2026-11-01"}
    refused = {
        b"not json": 400,
        b'{"items": [': 400,
        b"\xff\xfe\x00garbage": 400,
        b"[" * 100_000: 400,  # nested too deep for the parser
        b"": 422,  # no items
        b"null": 422,
        b"[]": 422,
        b'"items"': 422,
        b"{}": 422,
        b'{"items": []}': 422,
        b'{"items": {}}': 422,
        b'{"items": "M1"}': 422,
        b'{"items": null}': 422,
        json.dumps({"items": [item] * 1001}).encode(): 422,
    }
    for body, status in refused.items():
        response = raw_post(client, token, body, key="k-malformed")
        assert response.status_code == status, (body[:40], response.get_data(as_text=True)[:300])
        error = response.get_json()["error"]
        assert error["message"]
        if status == 422:
            assert error["field"] == "items"
        else:
            assert error["code"] == "malformed_json"
    # the wrong content type
    wrong = client.post(
        "/api/v1/repayments",
        data=json.dumps({"items": [item]}),
        headers={"Authorization": f"Bearer {token}"},
        content_type="text/plain",
    )
    assert wrong.status_code == 422
    assert recorded(world) == {}
    # a refused body used no key: the key still takes a good batch; exactly 1,000 items are fine
    ok = raw_post(client, token, json.dumps({"items": [item] * 1000}), key="k-malformed")
    assert ok.status_code == 202
    assert (ok.get_json()["accepted"], ok.get_json()["duplicates"]) == (1, 999)


def test_a_duplicate_transaction_id_names_what_differs(app: Flask, world: World) -> None:
    make_cases(world, 2)
    token = api_token(world.bank.admin_email)
    client = app.test_client()
    first = {"transaction_id": "D1", "loan_no": "RP-0", "amount": "50.00", "paid_at": "2026-11-01"}
    answer = post_repayments(client, token, [first]).get_json()
    rid = answer["items"][0]["repayment_id"]
    again = post_repayments(
        client,
        token,
        [
            {**first, "amount": "50"},  # the same amount written differently
            {**first, "amount": "60.00"},
            {**first, "loan_no": "RP-1"},
            {**first, "loan_no": "RP-1", "amount": "1"},
            {**first, "amount": "-1"},  # a bad item is rejected, not a duplicate
            {**first, "transaction_id": "D2"},
            {**first, "transaction_id": "D2", "amount": "51.00"},  # twice in one batch
        ],
    ).get_json()
    items = again["items"]
    assert [i["status"] for i in items] == [
        "duplicate",
        "duplicate",
        "duplicate",
        "duplicate",
        "rejected",
        "accepted",
        "duplicate",
    ]
    assert [i.get("differs") for i in items] == [
        None,
        ["amount"],
        ["loan_no"],
        ["amount", "loan_no"],
        None,
        None,
        ["amount"],
    ]
    assert all(i["repayment_id"] == rid for i in items[:4])
    assert items[6]["repayment_id"] == items[5]["repayment_id"]
    assert items[0]["recorded_status"] == "received"
    apply_all(world)
    resent = post_repayments(client, token, [{**first, "amount": "60.00"}]).get_json()["items"][0]
    assert (resent["status"], resent["recorded_status"], resent["differs"]) == (
        "duplicate",
        "confirmed",
        ["amount"],
    )
    # nothing but the first of each was recorded, and applied once
    rows = recorded(world)
    assert sorted(rows) == ["D1", "D2"]
    assert rows["D1"].amount == Decimal("50.00") and rows["D2"].amount == Decimal("50.00")
    with tenant(world.bank.org_id):
        assert (
            db.session.scalar(select(func.count()).select_from(Posting).where(Posting.kind == "payment")) == 2
        )


def _core_and_reports(app: Flask, world: World, reports: int) -> tuple[dict[str, int], list[int]]:
    """Two core records applied on RP-0 (C1, C2: 30.00 each) and collectors' reports waiting for the
    owner (29.00: no core record matches them by itself)."""
    from arrears.models import RepaymentSource

    ids = make_cases(world, 1)
    items = [
        {"transaction_id": f"C{i}", "loan_no": "RP-0", "amount": "30.00", "paid_at": f"2026-11-0{i}"}
        for i in (1, 2)
    ]
    answer = post_repayments(app.test_client(), api_token(world.bank.admin_email), items).get_json()
    assert answer["accepted"] == 2, answer
    apply_all(world)
    with tenant(world.bank.org_id):
        core = {
            r.external_id: r.id
            for r in db.session.scalars(select(Repayment).where(Repayment.origin == "core"))
        }
        rows = [
            Repayment(
                org_id=world.bank.org_id,
                case_id=ids[0],
                source=RepaymentSource.COLLECTOR,
                origin="collector",
                external_id=f"report-{n}",
                amount=Decimal("29.00"),
                paid_at=dt.datetime(2026, 11, 1, 4, tzinfo=dt.UTC),
                status=RepaymentStatus.PENDING_AUDIT,
            )
            for n in range(reports)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return core, [r.id for r in rows]


def test_a_core_record_matched_to_one_report_is_no_candidate_for_another(app: Flask, world: World) -> None:
    from arrears.errors import Conflict

    core, report_ids = _core_and_reports(app, world, 2)
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        reports = [db.session.get(Repayment, i) for i in report_ids]
        first, second = reports
        assert {r.id for r in collector_reports.match_candidates(second)} == set(core.values())
        collector_reports.match_report(admin, first, core["C1"], "the same money")
        db.session.expire_all()
        second = db.session.get(Repayment, second.id)
        # C1 carries the first report's money: offered no more, and refused if chosen
        assert [r.id for r in collector_reports.match_candidates(second)] == [core["C2"]]
        with pytest.raises(Conflict):
            collector_reports.match_report(admin, second, core["C1"])
        collector_reports.match_report(admin, second, core["C2"])
        db.session.expire_all()
        assert collector_reports.match_candidates(db.session.get(Repayment, second.id)) == []


def test_a_report_is_not_matched_to_a_core_record_reversed_meanwhile(
    app: Flask, world: World, database: Database
) -> None:
    """The owner matches a report to C1 while C1's reversal is being committed: the match waits for
    the reversal and then finds no applied record (it used to match the report to money gone)."""
    import threading

    from sqlalchemy import text

    from arrears.errors import ValidationFailed

    core, (report_id,) = _core_and_reports(app, world, 1)
    outcome: dict[str, Any] = {}

    def match() -> None:
        with app.app_context(), tenant(world.bank.org_id):
            admin = db.session.get(User, world.bank.admin_id)
            try:
                collector_reports.match_report(admin, db.session.get(Repayment, report_id), core["C1"])
                outcome["result"] = "matched"
            except ValidationFailed as exc:
                outcome["result"] = exc.field

    with database.owner_engine.connect() as reversal:
        tx = reversal.begin()
        reversal.execute(text("SELECT id FROM repayments WHERE id = :i FOR UPDATE"), {"i": core["C1"]})
        thread = threading.Thread(target=match)
        thread.start()
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
        while thread.is_alive() and dt.datetime.now(dt.UTC) < deadline:
            waiting = database.scalar(  # another connection: a transaction sees one snapshot of it
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'"
            )
            if waiting:
                break
        assert thread.is_alive(), f"the match did not wait for the reversal: {outcome}"
        reversal.execute(text("UPDATE repayments SET status = 'reversed' WHERE id = :i"), {"i": core["C1"]})
        tx.commit()
    thread.join(60)
    assert outcome == {"result": "core_id"}
    assert database.scalar("SELECT status FROM repayments WHERE id = :i", i=report_id) == "pending_audit"


def test_a_cases_payments_are_applied_in_the_order_they_were_paid(app: Flask, world: World) -> None:
    """Whatever the order of the batch or of the transaction ids: the earlier payment takes the
    first components of the order."""
    make_cases(world, 1)
    token = api_token(world.bank.admin_email)
    items = [
        {
            "transaction_id": "T-A",
            "loan_no": "RP-0",
            "amount": "20.00",
            "paid_at": "2026-11-01T11:00:00+08:00",
        },
        {
            "transaction_id": "T-C",
            "loan_no": "RP-0",
            "amount": "5.00",
            "paid_at": "2026-11-01T12:00:00+08:00",
        },
        {
            "transaction_id": "T-B",
            "loan_no": "RP-0",
            "amount": "50.00",
            "paid_at": "2026-11-01T10:00:00+08:00",
        },
    ]
    answer = post_repayments(app.test_client(), token, items).get_json()
    rid = {i["transaction_id"]: i["repayment_id"] for i in answer["items"]}
    apply_all(world)
    with tenant(world.bank.org_id):
        split = records.postings_of(rid.values())
    assert split[rid["T-B"]]["penalty"] == Decimal("50.00")  # paid first: all the penalty
    assert (split[rid["T-A"]]["penalty"], split[rid["T-A"]]["fee"]) == (Decimal("0.00"), Decimal("20.00"))
    assert split[rid["T-C"]]["interest"] == Decimal("5.00")


def test_the_nightly_check_reports_a_loan_and_a_payment_the_ledger_does_not_explain(
    app: Flask, world: World, database: Database
) -> None:
    """The ledger check is not vacuous: a balance changed behind the ledger's back and a payment whose
    amount no longer matches its postings are both reported, in the job's result and the owner's log."""
    from arrears.kernel.jobs.queue import enqueue
    from arrears.kernel.jobs.runner import run
    from arrears.models import AuditEvent, JobRecord

    ids = make_cases(world, 2, prefix="LC")
    token = api_token(world.bank.admin_email)
    items = [
        {"transaction_id": f"LC{i}", "loan_no": f"LC-{i}", "amount": "70.00", "paid_at": "2026-11-01"}
        for i in range(2)
    ]
    assert post_repayments(app.test_client(), token, items).get_json()["accepted"] == 2
    apply_all(world)
    with tenant(world.bank.org_id):
        assert ledger_check.disagreements(world.bank.org_id) == []
    # behind the ledger's back (as the database owner: the application role could not do this)
    with database.owner_engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE cases SET principal = principal + 1 WHERE id = :i"), {"i": ids[0]})
        conn.execute(text("UPDATE repayments SET amount = 71.00 WHERE external_id = 'LC1'"))
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        job = enqueue(ledger_check_job, name="ledger-check", created_by=admin)
        db.session.commit()
        job_id = job.id
    run(job_id, world.bank.org_id)
    with tenant(world.bank.org_id):
        result = db.session.get(JobRecord, job_id, populate_existing=True).result
        found = {(d["kind"], d.get("case_id")) for d in result["disagreements"]}
        assert result["count"] == 2
        assert ("balances", ids[0]) in found
        assert ("repayment", ids[1]) in found
        logged = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ledger.disagreement"))
        assert logged is not None and logged.details["count"] == 2
