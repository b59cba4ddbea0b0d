"""Incentives (contract kind ``incentive``): an organisation pays its own collectors for what the cases
they held repaid, against PostgreSQL, end to end.

* An owner's incentive pays its in-house collectors for payments on cases it did not place
  (``agency_org_id`` NULL, ``collector_user_id`` set): the bucket is the days past due on the day
  the payment was made (there is no placement).
* An agency's incentive pays its collectors for payments on the cases placed with it (the bucket at
  placement), settled by the agency itself, one statement per collector (``user:<id>``), seen by
  neither the owner nor another agency.
* An owner's agency contract settles per agency even when an agency collector is credited with the
  payment (the payee is the agency, whatever the record's collector)."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select, text

from arrears.allocation import runs as allocation
from arrears.cases.imports.batches import upsert_records
from arrears.commission import accrual, commission
from arrears.commission import statements as commission_statements
from arrears.commission.loaders import get_commission_statement_for
from arrears.errors import NotFound
from arrears.extensions import db
from arrears.models import (
    AllocationLevel,
    Case,
    CommissionRecord,
    CommissionStatement,
    ContractKind,
    Organisation,
    Repayment,
    User,
)
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.commission import RATES, bank_checker, contract_for, pay, place
from tests.builders.tenants import World, make_tenant, partner

ZONE = zoneinfo.ZoneInfo("Asia/Shanghai")
INCENTIVE = {"M0": "0.01", "M1": "0.02", "M2": "0.03", "M3": "0.04", "M4+": "0.05"}
_seq = itertools.count()


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _org(org_id: int) -> Organisation:
    return db.session.get(Organisation, org_id)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _incentive(actor_id: int, org_id: int) -> int:
    with tenant(org_id):
        return commission.create_contract(
            _user(actor_id),
            kind="incentive",
            name="collectors",
            version=commission.version_input({"effective_from": "2020-01-01", "rates": INCENTIVE}),
        ).id


def _dispatch(actor: User, case_ids: list[int], to_user_id: int) -> None:
    """A dispatch run of the cases to one of the organisation's own people, applied."""
    run = allocation.preview(
        actor,
        level=AllocationLevel.DISPATCH,
        case_ids=case_ids,
        rules=[{"name": "selection", "targets": [f"user:{to_user_id}"]}],
        targets=[{"id": to_user_id}],
    )
    assert run.allocated_count == len(case_ids)
    allocation.start_apply(actor, run)
    allocation.apply_run(run.id)


def test_an_owner_pays_its_in_house_collectors_by_the_bucket_on_the_payment_day(
    app: Flask, world: World
) -> None:
    today = _now().astimezone(ZONE).date()
    prefix = f"IH{next(_seq)}"
    with tenant(world.bank.org_id):
        admin, checker = _user(world.bank.admin_id), bank_checker(world)
        items = [
            {
                "loan_no": f"{prefix}-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": (today - dt.timedelta(days=days)).isoformat(),
                "principal": "10000",
            }
            for i, days in enumerate((45, 10))  # M2 and M1 on the payment day
        ]
        assert upsert_records(admin, items)["imported"] == 2
        ids = list(
            db.session.scalars(select(Case.id).where(Case.loan_no.like(f"{prefix}-%")).order_by(Case.id))
        )
        _dispatch(admin, [ids[0]], admin.id)
        _dispatch(admin, [ids[1]], checker.id)
        checker_id = checker.id
    contract_id = _incentive(world.bank.admin_id, world.bank.org_id)
    # an agency contract of bank too: its payments are east's, never an in-house incentive's
    placed = place(world, ["M1"], world.east.org_id)
    contract_for(world, world.east.org_id, [{"effective_from": "2020-01-01", "rates": RATES}])
    now = _now()
    paid = pay(
        world,
        [
            (ids[0], Decimal("1000.00"), now),
            (ids[1], Decimal("333.33"), now),
            (placed[0], Decimal("100.00"), now),
        ],
    )
    period = commission.period_of(now)
    with tenant(world.bank.org_id):
        attributed = {
            r.id: (r.agency_org_id, r.collector_user_id)
            for r in db.session.scalars(select(Repayment).where(Repayment.id.in_(paid)))
        }
        assert attributed[paid[0]] == (None, world.bank.admin_id)
        assert attributed[paid[1]] == (None, checker_id)
        result = commission.settle(_org(world.bank.org_id), period)
        assert result["statements"] == 3
        statements = {
            s.payee_key: s
            for s in db.session.scalars(
                select(CommissionStatement).where(CommissionStatement.contract_id == contract_id)
            )
        }
        assert set(statements) == {f"user:{world.bank.admin_id}", f"user:{checker_id}"}
        mine = statements[f"user:{world.bank.admin_id}"]
        assert (mine.agency_org_id, mine.collector_user_id, mine.org_id) == (
            None,
            world.bank.admin_id,
            world.bank.org_id,
        )
        assert [(line["bucket"], line["commission"]) for line in mine.lines] == [("M2", "30.00")]
        theirs = statements[f"user:{checker_id}"]
        assert [(line["bucket"], line["commission"]) for line in theirs.lines] == [("M1", "6.67")]
        assert theirs.net == Decimal("6.67") and theirs.recovery_rate is None
        # the placed case's payment: bank's agency contract only
        records = {
            (r.repayment_id, r.contract_id)
            for r in db.session.scalars(
                select(CommissionRecord).where(CommissionRecord.repayment_id.in_(paid))
            )
        }
        assert (paid[2], contract_id) not in records and len(records) == 3
        # approved by someone else than the payee is fine; the in-house collector's statement is the
        # owner's like any other
        commission_statements.approve(checker, mine)
        # a reversal claws the incentive back, in the payee's statement of the month
        repayments.reverse(admin, db.session.get(Repayment, paid[1]), "bounced")
        commission.settle(_org(world.bank.org_id), period)
        db.session.refresh(theirs)
        assert (theirs.commission, theirs.clawbacks, theirs.net) == (
            Decimal("6.67"),
            Decimal("-6.67"),
            Decimal("0.00"),
        )
    # the owner's incentive: the agency sees neither the contract nor the statements
    with tenant(world.east.org_id):
        east = _user(world.east.admin_id)
        seen = db.session.scalars(commission.statement_query(east)).all()
        assert {s.contract_id for s in seen} <= {c.id for c in commission.contracts(east)}
        assert contract_id not in {c.id for c in commission.contracts(east)}
        assert (
            db.session.execute(
                text("SELECT count(*) FROM commission_statements WHERE contract_id = :c"), {"c": contract_id}
            ).scalar()
            == 0
        )


def test_an_agency_pays_its_collectors_for_its_placed_cases_and_settles_them_itself(
    app: Flask, world: World
) -> None:
    north = make_tenant("agency", "north", ("collector",))
    partner(world.bank, north)
    east_cases = place(world, ["M2", "M3"], world.east.org_id)
    north_cases = place(world, ["M1"], north.org_id)
    collector = world.east.users["collector"]
    with tenant(world.east.org_id):
        _dispatch(_user(world.east.admin_id), east_cases, collector)
    with tenant(north.org_id):
        _dispatch(_user(north.admin_id), north_cases, north.users["collector"])
    east_contract = _incentive(world.east.admin_id, world.east.org_id)
    north_contract = _incentive(north.admin_id, north.org_id)
    now = _now()
    pay(
        world,
        [
            (east_cases[0], Decimal("1000.00"), now),
            (east_cases[1], Decimal("250.00"), now),
            (north_cases[0], Decimal("500.00"), now),
        ],
    )
    period = commission.period_of(now)
    with tenant(world.east.org_id):
        east_org = _org(world.east.org_id)
        result = commission.settle(east_org, period)
        assert (result["statements"], result["net"]) == (1, "40.00")  # 3 % of 1,000 + 4 % of 250
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.contract_id == east_contract)
        )
        assert (
            statement.payee_key,
            statement.org_id,
            statement.agency_org_id,
            statement.collector_user_id,
        ) == (
            f"user:{collector}",
            world.east.org_id,
            None,
            collector,
        )
        # the bucket at placement, not the bucket on the payment day
        assert [(line["bucket"], line["commission"]) for line in statement.lines] == [
            ("M2", "30.00"),
            ("M3", "10.00"),
        ]
        east = _user(world.east.admin_id)
        assert get_commission_statement_for(east, statement.id).id == statement.id
        assert commission.settle(east_org, period)["net"] == "40.00"  # a rebuild: the same
        commission_statements.approve(east, statement)
        commission_statements.mark_paid(east, statement, "PAYROLL-1")
        statement_id = statement.id
    # the owner, north and west see none of it
    for org_id, admin_id in (
        (world.bank.org_id, world.bank.admin_id),
        (north.org_id, north.admin_id),
        (world.west.org_id, world.west.admin_id),
    ):
        with tenant(org_id):
            me = _user(admin_id)
            assert statement_id not in {s.id for s in db.session.scalars(commission.statement_query(me))}
            assert east_contract not in {c.id for c in commission.contracts(me)}
            assert all(r.org_id != world.east.org_id for r in db.session.scalars(commission.record_query(me)))
            with pytest.raises(NotFound):  # like a missing id
                get_commission_statement_for(me, statement_id)
            assert (
                db.session.execute(
                    text("SELECT count(*) FROM commission_statements WHERE id = :s"), {"s": statement_id}
                ).scalar()
                == 0
            )
    # north settles its own collector's
    with tenant(north.org_id):
        commission.settle(_org(north.org_id), period)
        mine = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.contract_id == north_contract)
        )
        assert (mine.payee_key, mine.net) == (f"user:{north.users['collector']}", Decimal("10.00"))


def test_an_agency_contract_settles_per_agency_whoever_collected(app: Flask, world: World) -> None:
    """The owner's records of an agency's payments carry the agency's collector; accrued between
    settlements (the periodic accrual) or clawed back, under a contract ended since, they still go to
    the agency's statement, never to one per collector."""
    cases = place(world, ["M1", "M2"], world.east.org_id)
    collector = world.east.users["collector"]
    with tenant(world.east.org_id):
        _dispatch(_user(world.east.admin_id), cases, collector)
    contract = contract_for(world, world.east.org_id, [{"effective_from": "2020-01-01", "rates": RATES}])
    now = _now()
    paid = pay(world, [(cases[0], Decimal("100.00"), now), (cases[1], Decimal("200.00"), now)])
    period = commission.period_of(now)
    with tenant(world.bank.org_id):
        bank = _org(world.bank.org_id)
        assert accrual.accrue(bank)["commission"] == 2  # the periodic accrual, before any settlement
        assert {r.collector_user_id for r in db.session.scalars(select(CommissionRecord))} == {collector}
        repayments.reverse(_user(world.bank.admin_id), db.session.get(Repayment, paid[1]), "bounced")
        # ended since: no draft is opened for it up front, its records still settle to the agency
        commission.end_contract(_user(world.bank.admin_id), contract)
        result = commission.settle(bank, period)
        statements = db.session.scalars(
            select(CommissionStatement).where(CommissionStatement.contract_id == contract.id)
        ).all()
        assert [(s.payee_key, s.collector_user_id) for s in statements] == [
            (f"agency:{world.east.org_id}", None)
        ]
        assert result["net"] == "8.00"  # 8 % of 100; 12 % of 200 clawed back in the same month
        assert (statements[0].commission, statements[0].clawbacks) == (Decimal("32.00"), Decimal("-24.00"))
        assert statements[0].record_count == 3
        assert contract.kind == ContractKind.AGENCY
