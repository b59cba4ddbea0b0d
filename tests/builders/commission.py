"""Commission set-ups (``arrears.commission``): bank's cases placed with an agency in the buckets
asked, core payments on them at given moments, and agency contracts with their rate versions."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from arrears.allocation import runs as allocation
from arrears.cases.imports.batches import upsert_records
from arrears.commission import commission
from arrears.extensions import db
from arrears.models import (
    AllocationLevel,
    Case,
    CommissionContract,
    Organisation,
    PlacementCase,
    RepaymentSource,
    User,
)
from arrears.orgs import approvals, roles, users
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.placements import CHECKER
from tests.builders.tenants import PASSWORD, World, get_user

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
# The day place() places cases (bank's business date is fixed there).
PLACED_ON = dt.date(2026, 9, 30)
BUCKET_DUE = {  # due dates giving each bucket on PLACED_ON
    "M1": dt.date(2026, 9, 10),
    "M2": dt.date(2026, 8, 15),
    "M3": dt.date(2026, 7, 15),
    "M4+": dt.date(2026, 3, 1),
}
# A rate per bucket, as contract versions take them.
RATES = {"M0": "0.05", "M1": "0.08", "M2": "0.12", "M3": "0.18", "M4+": "0.25"}
_seq = itertools.count()  # loan-number prefixes and transaction ids, unique in the process


def bank_checker(world: World) -> User:
    """Bank's second admin (``placements.CHECKER``), who approves what bank's admin asks; made the
    first time it is asked for."""
    org = db.session.get(Organisation, world.bank.org_id)
    found = db.session.scalar(select(User).where(User.email == CHECKER))
    if found is not None:
        return found
    return users.create_user(
        None,
        org=org,
        email=CHECKER,
        name="Checker",
        password=PASSWORD,
        role_ids=[roles.builtin_role(org, "owner_admin").id],
    )


def place(world: World, buckets: list[str], agency_id: int, prefix: str | None = None) -> list[int]:
    """Import one case per bucket and place them all with the agency from PLACED_ON (the owner's
    business date is fixed there, so the bucket at placement is the one asked); their ids."""
    prefix = prefix or f"CM{next(_seq)}"
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        org.settings = {**(org.settings or {}), "business_date": PLACED_ON.isoformat()}
        db.session.commit()
        admin = get_user(world.bank.admin_id)
        items = [
            {
                "loan_no": f"{prefix}-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": BUCKET_DUE[b].isoformat(),
                "principal": "100000",
            }
            for i, b in enumerate(buckets)
        ]
        assert upsert_records(admin, items)["imported"] == len(items)
        case_ids = list(
            db.session.scalars(select(Case.id).where(Case.loan_no.like(f"{prefix}-%")).order_by(Case.id))
        )
        run = allocation.preview(
            admin,
            level=AllocationLevel.PLACEMENT,
            rules=[{"name": "all"}],
            case_ids=case_ids,
            targets=[{"id": agency_id}],
            starts_on=PLACED_ON,
            ends_on=dt.date(2030, 1, 1),
        )
        approvals.decide(bank_checker(world), allocation.submit(admin, run), approve=True)
        allocation.start_apply(admin, run)
        allocation.apply_run(run.id)
        placed = dict(
            db.session.execute(
                select(PlacementCase.case_id, PlacementCase.bucket).where(PlacementCase.case_id.in_(case_ids))
            ).all()
        )
        assert [placed[c] for c in case_ids] == buckets
        return case_ids


def pay(world: World, payments: list[tuple[int, Decimal, dt.datetime]]) -> list[int]:
    """Record and apply payments (case id, amount, paid at) as the core system's; their ids."""
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        loan = dict(db.session.execute(select(Case.id, Case.loan_no)).all())
        items = [
            {
                "transaction_id": f"T{next(_seq)}",
                "loan_no": loan[case_id],
                "amount": str(amount),
                "paid_at": paid_at.isoformat(),
            }
            for case_id, amount, paid_at in payments
        ]
        result = repayments.record(org, items, source=RepaymentSource.API, enqueue_apply=False)
        db.session.commit()
        ids = [i["repayment_id"] for i in result.items]
        assert all(ids), result.items
        repayments.apply_all(org)
        return ids


def contract_for(world: World, agency_id: int, versions: list[dict[str, Any]]) -> CommissionContract:
    """Bank's agency contract with the agency, its versions as given (raw version input)."""
    with tenant(world.bank.org_id):
        admin = get_user(world.bank.admin_id)
        contract = commission.create_contract(
            admin,
            kind="agency",
            name=f"contract {agency_id}",
            agency_org_id=agency_id,
            version=commission.version_input(versions[0]),
        )
        for raw in versions[1:]:
            commission.add_version(admin, contract, commission.version_input(raw))
        return contract


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    """That day at that hour in Shanghai."""
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)
