"""The demo's commission (佣金) for demo-bank: a contract per partner agency (rates by bucket at
placement M0 5 %, M1 8 %, M2 12 %, M3 18 %, M4+ 25 %, a tier on the amount collected and a minimum per
month), payments the agencies collected last month (demo-bank's placements began on the first day of
last month: ``placed_since``), and last month settled: the statements built, east's approved by the
reviewer and paid, west's left as a draft to approve. Seeded once: skipped when the owner has a
contract already."""

from __future__ import annotations

import datetime as dt
import random
import zlib
from decimal import Decimal

from sqlalchemy import select

from arrears.auth.models import User
from arrears.cases.models import Case, CaseStatus
from arrears.commission import commission
from arrears.commission import statements as commission_statements
from arrears.commission.models import CommissionContract, CommissionStatement
from arrears.extensions import db
from arrears.kernel import clock
from arrears.kernel.transaction import transaction
from arrears.payments import repayments
from arrears.payments.models import Repayment, RepaymentSource
from arrears.tenancy import tenant
from arrears.tenancy.models import Organisation
from arrears.work.models import Promise

OWNER = "demo-bank"
RATES = {"M0": "0.05", "M1": "0.08", "M2": "0.12", "M3": "0.18", "M4+": "0.25"}
TIERS = [{"threshold": "10000", "bonus_rate": "0.01"}, {"threshold": "50000", "bonus_rate": "0.02"}]
MINIMUM = "500.00"
# last month's payments collected by each agency (the demo test counts them)
PAYMENTS = {"demo-agency-east": 6, "demo-agency-west": 4}
PARTNERSHIP_START = dt.date(2026, 1, 1)  # the demo partnerships' (demo.seed)


def placed_since(today: dt.date) -> dt.date:
    """When demo-bank's placements begin: the first day of last month (so last month has payments to
    settle), never before the partnerships."""
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return min(today, max(first, PARTNERSHIP_START))


def seed_commission(by_slug: dict[str, Organisation]) -> None:

    owner = by_slug.get(OWNER)
    if owner is None:
        return
    with tenant(owner.id, owner.kind):
        if db.session.scalar(select(CommissionContract.id).limit(1)) is not None:
            return
        admin = db.session.scalar(select(User).where(User.email == f"admin@{OWNER}.example"))
        reviewer = db.session.scalar(select(User).where(User.email == f"reviewer@{OWNER}.example"))
        if admin is None or reviewer is None:
            return
        period = commission.previous_period()
        start, end = commission.period_bounds(period)
        zone = clock.zone()
        first_day = start.astimezone(zone).date()
        last_day = (end.astimezone(zone) - dt.timedelta(days=1)).date()
        agencies = sorted((by_slug[s] for s in PAYMENTS if s in by_slug), key=lambda o: o.slug)
        for agency in agencies:
            commission.create_contract(
                admin,
                kind="agency",
                name=f"{agency.name} 佣金协议 {first_day.year}",
                agency_org_id=agency.id,
                version=commission.version_input(
                    {
                        "effective_from": PARTNERSHIP_START.isoformat(),
                        "rates": RATES,
                        "tier_basis": "collected",
                        "tiers": TIERS,
                        "min_amount": MINIMUM,
                        "note": "demo",
                    }
                ),
            )
        # last month's payments on placed cases nobody has paid nor promised anything on yet (the
        # demo's promises and their counts stay as they are)
        rng = random.Random(zlib.crc32(f"{OWNER}/commission".encode()))  # noqa: S311 (demo data)
        items = []
        for agency in agencies:
            cases = db.session.scalars(
                select(Case)
                .where(
                    Case.agency_org_id == agency.id,
                    Case.status.in_((CaseStatus.NEW, CaseStatus.ACTIVE)),
                    Case.id.not_in(select(Repayment.case_id)),
                    Case.id.not_in(select(Promise.case_id)),
                )
                .order_by(Case.id)
                .limit(PAYMENTS[agency.slug])
            ).all()
            for n, case in enumerate(cases):
                share = Decimal(rng.randrange(10, 40)) / 100
                amount = max(Decimal("100"), (case.outstanding * share / 100).quantize(Decimal("1")) * 100)
                day = min(last_day, first_day + dt.timedelta(days=2 + n * 4 + rng.randrange(0, 3)))
                moment = dt.datetime.combine(day, dt.time(rng.randrange(9, 18), rng.randrange(0, 60)), zone)
                items.append(
                    {
                        "transaction_id": f"DEMO-{OWNER}-C{agency.id}-{n}",
                        "loan_no": case.loan_no,
                        "amount": str(min(amount, case.outstanding)),
                        "paid_at": moment.astimezone(dt.UTC).isoformat(),
                        "channel": "银行卡代扣",
                    }
                )
        if items:
            with transaction():
                repayments.record(owner, items, source=RepaymentSource.API, enqueue_apply=False)
            repayments.apply_all(owner)
        # last month settled: east's statement approved by the reviewer and paid, west's a draft
        commission.settle(owner, period, actor_id=admin.id)
        statements = {
            s.agency_org_id: s
            for s in db.session.scalars(
                select(CommissionStatement).where(CommissionStatement.period == period)
            )
        }
        east = by_slug.get("demo-agency-east")
        paid = statements.get(east.id) if east is not None else None
        if paid is not None:
            commission_statements.approve(reviewer, paid, "核对无误 (checked)")
            commission_statements.mark_paid(reviewer, paid, f"WIRE-{period}-001")
