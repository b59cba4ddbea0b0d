"""The demo's write-off (核销) for demo-bank: one rule, one loan written off (proposed by the admin,
approved by the reviewer, registered) with a payment recovered since, and one proposal waiting for
approval. Seeded once: skipped when the owner has a rule already."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from arrears.auth.models import User
from arrears.extensions import db
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.payments import repayments
from arrears.payments.models import RepaymentSource
from arrears.tenancy import tenant
from arrears.tenancy.models import Organisation
from arrears.writeoffs import proposals, writeoffs
from arrears.writeoffs.models import WriteOffRule

OWNER = "demo-bank"


def seed_writeoffs(by_slug: dict[str, Organisation]) -> None:

    owner = by_slug.get(OWNER)
    if owner is None:
        return
    with tenant(owner.id, owner.kind):
        if db.session.scalar(select(WriteOffRule.id).limit(1)) is not None:
            return
        admin = db.session.scalar(select(User).where(User.email == f"admin@{OWNER}.example"))
        reviewer = db.session.scalar(select(User).where(User.email == f"reviewer@{OWNER}.example"))
        if admin is None or reviewer is None:
            return
        rule = writeoffs.create_rule(
            admin,
            {"name": "逾期180天以上 Over 180 days past due", "dpd_min": 180, "quiet_days": 90},
        )
        # cases nobody works (neither placed nor held in-house): the demo's placements stay as they are
        found = [
            c
            for c in writeoffs.candidates_page(
                admin, writeoffs.CandidateFilter(rule_id=rule.id), per_page=200
            ).rows
            if c.case.agency_org_id is None and c.case.holder is None
        ]
        if len(found) < 2:
            return
        first, second = found[0].case, found[1].case
        loan, outstanding = first.loan_no, first.outstanding
        done = proposals.propose(admin, [first.id], "长期逾期, 无还款能力 (no means to pay)", rule_id=rule.id)
        approvals.decide(reviewer, done.approval, approve=True, note="同意核销")
        writeoffs.register_approved(done.approval.id)
        # the debtor pays a little after the write-off: a recovery
        amount = max(Decimal("100.00"), (outstanding / 10).quantize(Decimal("1")))
        with transaction():
            repayments.record(
                owner,
                [
                    {
                        "transaction_id": f"DEMO-{OWNER}-WO-1",
                        "loan_no": loan,
                        "amount": str(min(amount, outstanding)),
                        "paid_at": dt.datetime.now(dt.UTC).isoformat(),
                        "channel": "对公转账",
                    }
                ],
                source=RepaymentSource.API,
                enqueue_apply=False,
            )
        repayments.apply_all(owner)
        proposals.propose(admin, [second.id], "失联超过一年 (unreachable for over a year)", rule_id=rule.id)
