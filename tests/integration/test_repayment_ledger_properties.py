"""The ledger against PostgreSQL, with Hypothesis: random opening balances, a random allocation order
and a random sequence of payments recorded (``repayments.record``) and applied
(``repayments.apply_received``), then a random subset reversed (``repayments.reverse``), then the
rest. At every step the postings of each case sum to its balances and credit, no component is below
zero, each payment's postings sum to its amount; the balances after applying are what
``ledger.allocate`` gives payment by payment; after every payment is reversed the balances and the
credit are exactly the opening ones.

The fixtures (the app, the tenants) are made once per test, not per example: each example works on
cases of its own (a fresh loan-number prefix) and checks only them."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from arrears.cases import ledger
from arrears.cases.imports.batches import upsert_records
from arrears.extensions import db
from arrears.models import Case, Organisation, Posting, PostingKind, Repayment, RepaymentSource, User
from arrears.payments import ledger_check, repayments
from arrears.tenancy import tenant
from tests.builders.tenants import World

ZERO = Decimal("0.00")
COLUMNS = (*ledger.COMPONENTS, "credit")
_examples = itertools.count()

money = st.integers(min_value=0, max_value=500_00).map(lambda cents: Decimal(cents).scaleb(-2))
payment = st.integers(min_value=1, max_value=300_00).map(lambda cents: Decimal(cents).scaleb(-2))
opening_st = st.fixed_dictionaries(
    {
        "principal": st.integers(min_value=1, max_value=2000_00).map(lambda c: Decimal(c).scaleb(-2)),
        "interest": money,
        "penalty": money,
        "fee": money,
    }
)


def _balances(case_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    db.session.expire_all()
    rows = db.session.execute(
        select(Case.id, *(getattr(Case, c) for c in COLUMNS)).where(Case.id.in_(case_ids))
    )
    return {r[0]: dict(zip(COLUMNS, (Decimal(v) for v in r[1:]), strict=True)) for r in rows}


def _check_ledger(
    org_id: int, case_ids: list[int], opening: dict[int, dict[str, Decimal]]
) -> dict[int, dict[str, Decimal]]:
    """Postings per case sum to the balances and credit (a case no money moved on has none, and
    its opening balances); nothing below zero; no disagreement."""
    now = _balances(case_ids)
    sums = {
        r[0]: dict(zip(COLUMNS, (Decimal(v) for v in r[1:]), strict=True))
        for r in db.session.execute(
            select(Posting.case_id, *(func.sum(getattr(Posting, c)) for c in COLUMNS))
            .where(Posting.case_id.in_(case_ids))
            .group_by(Posting.case_id)
        )
    }
    for case_id, balance in now.items():
        assert sums.get(case_id, opening[case_id]) == balance, (case_id, sums.get(case_id), balance)
        assert all(balance[c] >= 0 for c in COLUMNS), balance
    assert ledger_check.disagreements(org_id) == []
    return now


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    openings=st.lists(opening_st, min_size=1, max_size=3),
    order=st.permutations(ledger.COMPONENTS).map(tuple),
    payments=st.lists(st.tuples(st.integers(min_value=0, max_value=2), payment), min_size=1, max_size=12),
    reversed_first=st.sets(st.integers(min_value=0, max_value=11)),
    data=st.data(),
)
def test_payments_applied_then_reversed_leave_the_opening_balances_exactly(
    app: Flask,
    world: World,
    openings: list[dict[str, Decimal]],
    order: tuple[str, ...],
    payments: list[tuple[int, Decimal]],
    reversed_first: set[int],
    data: Any,
) -> None:
    n = next(_examples)
    prefix = f"H{n}"
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        assert admin is not None
        org = db.session.get(Organisation, world.bank.org_id)
        assert org is not None
        org.settings = {**(org.settings or {}), "repayment_order": list(order)}
        db.session.commit()
        records = [
            {
                "loan_no": f"{prefix}-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": "2026-01-01",
                **{c: str(v) for c, v in opening.items()},
            }
            for i, opening in enumerate(openings)
        ]
        assert upsert_records(admin, records)["imported"] == len(openings)
        cases = dict(
            db.session.execute(select(Case.loan_no, Case.id).where(Case.loan_no.like(f"{prefix}-%"))).all()
        )
        case_ids = [cases[f"{prefix}-{i}"] for i in range(len(openings))]
        opening = _balances(case_ids)
        for i, case_id in enumerate(case_ids):
            assert opening[case_id] == {**openings[i], "credit": ZERO}

        # recorded and applied; each payment on one of the example's loans
        start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        items = [
            {
                "transaction_id": f"{prefix}-P{k:02d}",
                "loan_no": f"{prefix}-{which % len(openings)}",
                "amount": str(amount),
                "paid_at": (start + dt.timedelta(hours=k)).isoformat(),
            }
            for k, (which, amount) in enumerate(payments)
        ]
        org = db.session.get(Organisation, world.bank.org_id)
        done = repayments.record(org, items, source=RepaymentSource.API, enqueue_apply=False)
        assert done.accepted == len(items)
        db.session.commit()
        while repayments.apply_received(org)["applied"]:
            pass
        after = _check_ledger(world.bank.org_id, case_ids, opening)

        # the balances are what allocate gives, payment by payment in the order recorded
        model = {case_id: dict(opening[case_id]) for case_id in case_ids}
        for item, (_which, amount) in zip(items, payments, strict=True):
            state = model[cases[item["loan_no"]]]
            split = ledger.allocate(state, amount, order)
            for c, take in split.taken.items():
                state[c] -= take
            state["credit"] += split.credit
        assert after == model

        rows = {
            r.external_id: r
            for r in db.session.scalars(select(Repayment).where(Repayment.external_id.like(f"{prefix}-P%")))
        }
        assert all(r.status == "confirmed" for r in rows.values())
        paid = {
            r[0]: Decimal(r[1])
            for r in db.session.execute(
                select(
                    Posting.repayment_id,
                    func.sum(
                        -Posting.principal - Posting.interest - Posting.penalty - Posting.fee + Posting.credit
                    ),
                )
                .where(
                    Posting.repayment_id.in_([r.id for r in rows.values()]),
                    Posting.kind == PostingKind.PAYMENT,
                )
                .group_by(Posting.repayment_id)
            )
        }
        assert paid == {r.id: Decimal(r.amount) for r in rows.values()}

        # a random subset reversed, in a random order; then the rest
        first = [items[k]["transaction_id"] for k in sorted(reversed_first) if k < len(items)]
        first = data.draw(st.permutations(first))
        rest = data.draw(
            st.permutations([i["transaction_id"] for i in items if i["transaction_id"] not in first])
        )
        for step in (first, rest):
            for txn in step:
                row = db.session.get(Repayment, rows[txn].id, populate_existing=True)
                assert repayments.reverse(admin, row, "chargeback").status == "reversed"
            _check_ledger(world.bank.org_id, case_ids, opening)
        # reversing again changes nothing
        for txn in first[:2]:
            repayments.reverse(admin, db.session.get(Repayment, rows[txn].id), "again")
        assert _check_ledger(world.bank.org_id, case_ids, opening) == opening
