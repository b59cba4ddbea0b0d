"""Demo placements (``seed-demo``): demo-bank places most of its cases with both agencies and keeps a
few in-house (its placements began on the first day of last month, for the demo's commission),
demo-lender places half with east; each agency dispatches to its collectors by a
strategy and keeps some in its pool. Everything goes through the real services (strategy, preview,
maker-checker approval, apply), so the demo shows the logs a real run leaves. Runs once per owner."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from arrears.allocation import runs as allocation
from arrears.allocation import strategies
from arrears.allocation.models import AllocationLevel, AllocationStrategy, Placement
from arrears.auth.models import User
from arrears.cases.cases import CaseFilter
from arrears.demo.commission import OWNER as COMMISSION_OWNER
from arrears.demo.commission import placed_since
from arrears.extensions import db
from arrears.kernel.clock import business_date
from arrears.orgs import approvals
from arrears.tenancy import tenant
from arrears.tenancy.models import Organisation

PLACEMENT_RULES: list[dict[str, Any]] = [
    {"name": "M1-M2 shared equally", "filter": {"dpd_max": 60}, "method": "round_robin"},
    {
        "name": "Large balances to the least loaded",
        "filter": {"amount_min": "20000"},
        "method": "balanced_amount",
    },
    {"name": "Everything else", "method": "round_robin", "previous_holder": "exclude"},
]
DISPATCH_RULES: list[dict[str, Any]] = [
    {"name": "Early buckets", "filter": {"dpd_max": 90}, "method": "round_robin"},
    {"name": "Late buckets by amount", "method": "balanced_amount"},
]


def _user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None, email
    return user


def _strategy(
    actor: User, name: str, level: AllocationLevel, rules: list[dict[str, Any]]
) -> AllocationStrategy:
    found = db.session.scalar(select(AllocationStrategy).where(AllocationStrategy.name == name))
    return found or strategies.save(actor, strategy=None, name=name, level=level, rules=rules)


def _applied(actor: User, run: Any, checker: User | None = None) -> None:
    if checker is not None:
        approvals.decide(checker, allocation.submit(actor, run, "demo"), approve=True)
    allocation.start_apply(actor, run)
    allocation.apply_run(run.id)  # the queued job finds it applied and does nothing


def seed_placements(by_slug: dict[str, Organisation]) -> None:
    plans = [
        ("demo-bank", ["demo-agency-east", "demo-agency-west"], 240, 20),
        ("demo-lender", ["demo-agency-east"], 150, 0),
    ]
    dispatched: set[str] = set()
    for owner_slug, agency_slugs, placed, inhouse in plans:
        owner = by_slug[owner_slug]
        with tenant(owner.id, owner.kind):
            if db.session.scalar(select(Placement.id).limit(1)) is not None:
                continue  # seeded before
            admin = _user(f"admin@{owner_slug}.example")
            checker = _user(f"reviewer@{owner_slug}.example")
            strategy = _strategy(admin, "Standard placement", AllocationLevel.PLACEMENT, PLACEMENT_RULES)
            today = business_date(owner)
            # demo-bank's placements began last month: its agencies' payments then are settled
            # (demo.commission)
            since = placed_since(today) if owner_slug == COMMISSION_OWNER else today
            candidates = allocation.candidate_ids(owner, AllocationLevel.PLACEMENT, CaseFilter(dpd_min=1))
            run = allocation.preview(
                admin,
                level=AllocationLevel.PLACEMENT,
                strategy=strategy,
                case_ids=candidates[:placed],
                targets=[{"id": by_slug[a].id} for a in agency_slugs],
                starts_on=since,
                ends_on=today + dt.timedelta(days=90),
            )
            _applied(admin, run, checker)
            if inhouse:  # a few cases the owner works itself (内部监控)
                rest = allocation.candidate_ids(owner, AllocationLevel.DISPATCH, CaseFilter())
                own = allocation.preview(
                    admin,
                    level=AllocationLevel.DISPATCH,
                    case_ids=rest[:inhouse],
                    rules=[{"name": "in-house", "targets": [f"user:{admin.id}", f"user:{checker.id}"]}],
                    targets=[{"id": admin.id}, {"id": checker.id}],
                )
                _applied(admin, own)
        dispatched.update(agency_slugs)
    for agency_slug in sorted(dispatched):
        agency = by_slug[agency_slug]
        with tenant(agency.id, agency.kind):
            manager = _user(f"manager@{agency_slug}.example")
            strategy = _strategy(manager, "Team 1 rotation", AllocationLevel.DISPATCH, DISPATCH_RULES)
            pool = allocation.candidate_ids(agency, AllocationLevel.DISPATCH, CaseFilter())
            if not pool:
                continue
            workers = db.session.scalars(
                select(User.id)
                .where(User.email.like("collector%") | User.email.like("lead@%"))
                .order_by(User.id)
            ).all()
            run = allocation.preview(
                manager,
                level=AllocationLevel.DISPATCH,
                strategy=strategy,
                case_ids=[c for i, c in enumerate(pool) if i % 10],  # the pool keeps every tenth
                targets=[{"id": w} for w in workers],
            )
            _applied(manager, run)
