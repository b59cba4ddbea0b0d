"""The ledger's invariant, checked every night (``ledger-check``): per case, the postings sum to the
balances and the credit; per repayment, its postings sum to its amount."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from arrears.cases.ledger import COMPONENTS
from arrears.cases.models import Case, Posting, PostingKind
from arrears.extensions import db
from arrears.payments.models import Repayment, RepaymentStatus


def disagreements(org_id: int | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Cases whose postings do not sum to their balances and credit, and payments whose postings do
    not sum to their amount (none, when the ledger is right). ``org_id`` None: the tenant in scope."""

    # joined and grouped by the case's key, not a grouped subquery joined back: without fresh
    # statistics the planner ran such a subquery once per outer row (15 minutes at 100,000 rows)
    totals = [func.sum(getattr(Posting, c)) for c in (*COMPONENTS, "credit")]
    stmt = (
        select(Case.id, Case.loan_no, *totals)
        .join(Posting, Posting.case_id == Case.id)
        .group_by(Case.id)
        .having(or_(*(t != getattr(Case, c) for t, c in zip(totals, (*COMPONENTS, "credit"), strict=True))))
    )
    if org_id is not None:
        stmt = stmt.where(Case.org_id == org_id)
    out: list[dict[str, Any]] = []
    for row in db.session.execute(stmt.limit(limit)):
        case = db.session.get(Case, row[0])
        assert case is not None
        out.append(
            {
                "kind": "balances",
                "case_id": row[0],
                "loan_no": row[1],
                "ledger": {c: str(v) for c, v in zip((*COMPONENTS, "credit"), row[2:], strict=True)},
                "case": {c: str(getattr(case, c)) for c in (*COMPONENTS, "credit")},
            }
        )
    # a payment's postings (net of its reversal) sum to its amount, or to nothing once reversed
    paid = (
        func.sum(-Posting.principal - Posting.interest - Posting.penalty - Posting.fee + Posting.credit)
        .filter(Posting.kind == PostingKind.PAYMENT)
        .label("paid")
    )
    net = func.sum(
        -Posting.principal - Posting.interest - Posting.penalty - Posting.fee + Posting.credit
    ).label("net")
    stmt2 = (
        select(Repayment.id, Repayment.case_id, Repayment.amount, Repayment.status, paid, net)
        .outerjoin(Posting, Posting.repayment_id == Repayment.id)
        .where(
            Repayment.status.in_((RepaymentStatus.CONFIRMED, RepaymentStatus.REVERSED)),
            Repayment.applied_at.is_not(None),
        )
        .group_by(Repayment.id)
    )
    if org_id is not None:
        stmt2 = stmt2.where(Repayment.org_id == org_id)
    expected_net = func.coalesce(net, 0)
    stmt2 = stmt2.having(
        or_(
            func.coalesce(paid, 0) != Repayment.amount,
            (Repayment.status == RepaymentStatus.CONFIRMED) & (expected_net != Repayment.amount),
            (Repayment.status == RepaymentStatus.REVERSED) & (expected_net != 0),
        )
    )
    for rid, case_id, amount, status, got, net_v in db.session.execute(stmt2.limit(limit)):
        out.append(
            {
                "kind": "repayment",
                "repayment_id": rid,
                "case_id": case_id,
                "amount": str(amount),
                "status": str(status),
                "posted": str(got or 0),
                "net": str(net_v or 0),
            }
        )
    return out
