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

from flask import Flask
from sqlalchemy import func, select

from arrears.extensions import db
from arrears.models import Case, CaseStatus, Organisation, Posting, Repayment, RepaymentStatus, User
from arrears.services import ledger, repayments
from arrears.services.imports import upsert_records
from arrears.tenancy import tenant
from tests.conftest import World, api_token


def make_cases(world: World, n: int = 3, prefix: str = "RP") -> list[int]:
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        items = [
            {
                "loan_no": f"{prefix}-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": "2026-01-01",
                "principal": "1000",
                "interest": "100",
                "penalty": "50",
                "fee": "20",
            }
            for i in range(n)
        ]
        assert upsert_records(admin, items)["imported"] == n
        return list(db.session.scalars(select(Case.id).order_by(Case.loan_no)))


def post(client: Any, token: str, items: list[dict[str, Any]], key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/v1/repayments",
        data=json.dumps({"items": items}),
        headers=headers,
        content_type="application/json",
    )


def apply_all(world: World) -> None:
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        while repayments.apply_received(org)["applied"]:
            pass


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
    response = post(client, token, items, key="k-1")
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
    again = post(client, token, items, key="k-1")
    assert again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == body
    # the same key with another body is refused
    assert post(client, token, items[:1], key="k-1").status_code == 409
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
        assert ledger.disagreements(world.bank.org_id) == []
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
        assert ledger.disagreements(world.bank.org_id) == []
        assert admin is not None
    # another owner: 404 on the repayment, its loans unknown
    other = api_token(world.lender.admin_email)
    assert (
        client.get(f"/api/v1/repayments/{t1_id}", headers={"Authorization": f"Bearer {other}"}).status_code
        == 404
    )
    foreign = post(
        client, other, [{"transaction_id": "X", "loan_no": "RP-0", "amount": "1", "paid_at": "2026-11-01"}]
    )
    assert foreign.get_json()["items"][0]["status"] == "rejected"
