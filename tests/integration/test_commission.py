"""Commission against PostgreSQL, end to end: cases imported, placed with an agency by an approved
allocation run (the bucket at placement), repayments recorded and applied by the repayments service
(the attribution), then accrual and settlement (``commission.commission``).

The Hypothesis property: for random buckets, payments, days and version schedules, every record's
commission is ``price(amount, rate of the version effective on the payment's day for the bucket at
placement)``, the statement's commission is their sum to the cent, reversed payments' clawbacks net
to zero with their originals, and settling the same period twice gives the same statement."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from arrears.commission import accrual, commission
from arrears.commission import statements as commission_statements
from arrears.errors import Conflict, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    AdjustmentKind,
    CommissionAdjustment,
    CommissionContract,
    CommissionRecord,
    CommissionStatement,
    Organisation,
    RecordKind,
    Repayment,
    StatementStatus,
    User,
)
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.commission import BUCKET_DUE, RATES, at, bank_checker, contract_for, pay, place
from tests.builders.tenants import World, make_tenant, partner

_seq = itertools.count()  # agency slugs, unique across Hypothesis's examples


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _bank() -> Organisation:
    return db.session.get(
        Organisation, db.session.scalar(select(Organisation.id).where(Organisation.slug == "bank"))
    )


def test_records_are_priced_by_bucket_at_placement_and_the_version_of_the_payment_day(
    app: Flask, world: World
) -> None:
    cases = place(world, ["M1", "M2", "M4+"], world.east.org_id)
    contract_for(
        world,
        world.east.org_id,
        [
            {"effective_from": "2026-01-01", "rates": RATES},
            {"effective_from": "2026-11-01", "rates": {**RATES, "M1": "0.10", "M4+": "30%"}},
        ],
    )
    pay(
        world,
        [
            (cases[0], Decimal("1000.05"), at(dt.date(2026, 10, 31), 23)),  # v1: 8 % (Oct 31, Shanghai)
            (cases[0], Decimal("333.33"), at(dt.date(2026, 11, 1), 0)),  # v2: 10 % (Nov 1, 00:xx Shanghai)
            (cases[1], Decimal("0.05"), at(dt.date(2026, 11, 2))),  # 12 % of 5 cents: 0.006 -> 0.01
            (cases[2], Decimal("1234.57"), at(dt.date(2026, 11, 3))),  # 30 %
        ],
    )
    with tenant(world.bank.org_id):
        assert accrual.accrue(_bank()) == {"commission": 4, "clawback": 0}
        assert accrual.accrue(_bank()) == {"commission": 0, "clawback": 0}  # idempotent
        rows = db.session.execute(
            select(
                CommissionRecord.bucket,
                CommissionRecord.rate,
                CommissionRecord.commission,
                CommissionRecord.version_number,
            ).order_by(CommissionRecord.paid_at)
        ).all()
        assert [(b, r, c, v) for b, r, c, v in rows] == [
            ("M1", Decimal("0.080000"), Decimal("80.00"), 1),
            ("M1", Decimal("0.100000"), Decimal("33.33"), 2),
            ("M2", Decimal("0.120000"), Decimal("0.01"), 2),
            ("M4+", Decimal("0.300000"), Decimal("370.37"), 2),
        ]
        october = commission.settle(_bank(), "2026-10")
        november = commission.settle(_bank(), "2026-11")
        assert (october["statements"], october["net"]) == (1, "80.00")
        assert (november["statements"], november["net"]) == (1, "403.71")
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-11")
        )
        assert [(line["bucket"], line["count"], line["commission"]) for line in statement.lines] == [
            ("M1", 1, "33.33"),
            ("M2", 1, "0.01"),
            ("M4+", 1, "370.37"),
        ]
        assert statement.agency_org_id == world.east.org_id
        assert statement.base_amount == Decimal("1567.95")


def test_reversal_claws_back_and_a_closed_period_never_changes(app: Flask, world: World) -> None:
    cases = place(world, ["M2", "M3"], world.east.org_id)
    contract_for(world, world.east.org_id, [{"effective_from": "2026-01-01", "rates": RATES}])
    ids = pay(
        world,
        [
            (cases[0], Decimal("500.00"), at(dt.date(2026, 10, 5))),
            (cases[1], Decimal("100.00"), at(dt.date(2026, 10, 6))),
        ],
    )
    with tenant(world.bank.org_id):
        admin, checker = _user(world.bank.admin_id), bank_checker(world)
        first = commission.settle(_bank(), "2026-10")
        assert first["net"] == "78.00"  # 60.00 + 18.00
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-10")
        )
        again = commission.settle(_bank(), "2026-10")  # re-running a draft: the same statement
        db.session.refresh(statement)
        assert again["net"] == first["net"] and statement.record_count == 2 and statement.generation == 2
        commission_statements.approve(checker, statement)
        # after the close: a reversal of an October payment, and a late October payment
        repayments.reverse(admin, db.session.get(Repayment, ids[0]), "bounced")
    late = pay(world, [(cases[1], Decimal("10.00"), at(dt.date(2026, 10, 20)))])
    with tenant(world.bank.org_id):
        rerun = commission.settle(_bank(), "2026-10")  # the closed one is left alone
        assert rerun["statements"] == 0 and rerun["closed"] == 1
        closed = db.session.scalar(select(CommissionStatement).where(CommissionStatement.period == "2026-10"))
        assert (closed.status, closed.net, closed.record_count) == (
            StatementStatus.APPROVED,
            Decimal("78.00"),
            2,
        )
        # the late October payment lands in November; the clawback in the month of the reversal
        nov = commission.settle(_bank(), "2026-11")
        assert nov["net"] == "1.80"
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-11")
        )
        assert statement.late_count == 1 and statement.clawbacks == 0
        reversal_month = commission.period_of(db.session.get(Repayment, ids[0]).decided_at)
        assert commission.settle(_bank(), reversal_month)["net"] == "-60.00"
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == reversal_month)
        )
        assert statement.clawbacks == Decimal("-60.00") and statement.lines[0]["clawback_count"] == 1
        clawed = db.session.scalars(
            select(CommissionRecord).where(CommissionRecord.repayment_id == ids[0])
        ).all()
        assert sorted(r.kind.value for r in clawed) == ["clawback", "commission"]
        assert sum(r.commission for r in clawed) == 0 and sum(r.amount for r in clawed) == 0
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(CommissionRecord)
                .where(CommissionRecord.repayment_id == late[0])
            )
            == 1
        )
        # records are never edited: the database refuses it, even to the owner
        with pytest.raises(Exception, match="never edited"):
            db.session.execute(
                text("UPDATE commission_records SET commission = 0 WHERE repayment_id = :r"), {"r": ids[0]}
            )
        db.session.rollback()
        # paid, with a reference; a closed statement takes no adjustment
        with pytest.raises(ValidationFailed):
            commission_statements.mark_paid(checker, closed, "")
        commission_statements.mark_paid(checker, closed, "WIRE-2026-11-001")
        with pytest.raises(Conflict):
            commission_statements.add_adjustment(admin, closed, "10.00", "goodwill")


def test_tiers_minimum_cap_and_manual_adjustments(app: Flask, world: World) -> None:
    cases = place(world, ["M1", "M1"], world.east.org_id)
    contract_for(
        world,
        world.east.org_id,
        [
            {
                "effective_from": "2026-01-01",
                "rates": RATES,
                "tier_basis": "collected",
                "tiers": [
                    {"threshold": "1000", "bonus_rate": "0.01"},
                    {"threshold": "5000", "bonus_rate": "0.02"},
                ],
                "min_amount": "100.00",
                "cap_amount": "1000.00",
            }
        ],
    )
    pay(world, [(cases[0], Decimal("600.00"), at(dt.date(2026, 10, 5)))])
    with tenant(world.bank.org_id):
        admin, checker = _user(world.bank.admin_id), bank_checker(world)
        oct_ = commission.settle(_bank(), "2026-10")
        assert oct_["net"] == "100.00"  # 48.00, no tier (600 < 1000), topped up to the minimum
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-10")
        )
        kinds = {a.kind: a.amount for a in commission.adjustments_of(statement)}
        assert kinds == {AdjustmentKind.MINIMUM: Decimal("52.00")}
        commission_statements.add_adjustment(admin, statement, "-8.00", "late report fee")
        db.session.refresh(statement)
        assert statement.net == Decimal("100.00")  # still topped up to the minimum
        with pytest.raises(PermissionDenied):
            commission_statements.approve(admin, statement)  # who adjusted does not approve
        commission_statements.approve(checker, statement)
    pay(world, [(cases[1], Decimal("20000.00"), at(dt.date(2026, 11, 5)))])
    with tenant(world.bank.org_id):
        nov = commission.settle(_bank(), "2026-11")
        statement = db.session.scalar(
            select(CommissionStatement).where(CommissionStatement.period == "2026-11")
        )
        kinds = {a.kind: a.amount for a in commission.adjustments_of(statement)}
        # 1,600.00 + tier 2 % of 20,000 = 400.00, capped at 1,000.00
        assert kinds == {AdjustmentKind.TIER: Decimal("400.00"), AdjustmentKind.CAP: Decimal("-1000.00")}
        assert nov["net"] == "1000.00"
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(CommissionAdjustment)
                .where(CommissionAdjustment.statement_id == statement.id)
            )
            == 2
        )


def test_versions_and_contracts_are_validated_naming_the_field(app: Flask, world: World) -> None:
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        for raw, field in [
            ({"effective_from": "2026-13-01", "rates": RATES}, "effective_from"),
            ({"effective_from": "2026-01-01", "rates": {**RATES, "M2": ""}}, "rates.M2"),
            ({"effective_from": "2026-01-01", "rates": {**RATES, "M2": "1.5"}}, "rates.M2"),
            ({"effective_from": "2026-01-01", "rates": {**RATES, "M2": "0.1234567"}}, "rates.M2"),
            ({"effective_from": "2026-01-01", "rates": {**RATES, "M9": "0.1"}}, "rates"),
            (
                {"effective_from": "2026-01-01", "rates": RATES, "min_amount": "5", "cap_amount": "1"},
                "min_amount",
            ),
            (
                {
                    "effective_from": "2026-01-01",
                    "rates": RATES,
                    "tiers": [
                        {"threshold": "0.5", "bonus_rate": "0.01"},
                        {"threshold": "0.3", "bonus_rate": "0.02"},
                    ],
                },
                "tiers.1",
            ),
        ]:
            with pytest.raises(ValidationFailed) as caught:
                commission.version_input(raw)
            assert caught.value.field == field, raw
        version = commission.version_input({"effective_from": "2026-01-01", "rates": RATES})
        with pytest.raises(ValidationFailed) as caught:  # west is not bank's partner
            commission.create_contract(
                admin, kind="agency", name="x", agency_org_id=world.west.org_id, version=version
            )
        assert caught.value.field == "agency_org_id"
        commission.create_contract(
            admin, kind="agency", name="east", agency_org_id=world.east.org_id, version=version
        )
        with pytest.raises(Conflict):
            commission.create_contract(
                admin, kind="agency", name="again", agency_org_id=world.east.org_id, version=version
            )
    # an agency never sets its own commission
    with tenant(world.east.org_id), pytest.raises(PermissionDenied):
        commission.create_contract(
            _user(world.east.admin_id),
            kind="agency",
            name="x",
            agency_org_id=world.east.org_id,
            version=version,
        )


def test_the_agency_sees_its_own_records_and_statements_only(app: Flask, world: World) -> None:
    third = make_tenant("agency", "north")
    partner(world.bank, third)
    east_cases = place(world, ["M1"], world.east.org_id)
    north_cases = place(world, ["M2"], third.org_id)
    contract_for(world, world.east.org_id, [{"effective_from": "2026-01-01", "rates": RATES}])
    contract_for(world, third.org_id, [{"effective_from": "2026-01-01", "rates": RATES}])
    pay(
        world,
        [
            (east_cases[0], Decimal("100.00"), at(dt.date(2026, 10, 5))),
            (north_cases[0], Decimal("100.00"), at(dt.date(2026, 10, 5))),
        ],
    )
    with tenant(world.bank.org_id):
        commission.settle(_bank(), "2026-10")
        assert db.session.scalar(select(func.count()).select_from(CommissionStatement)) == 2
    for agency, rate in ((world.east, "0.080000"), (third, "0.120000")):
        with tenant(agency.org_id):
            me = _user(agency.admin_id)
            records = db.session.scalars(commission.record_query(me)).all()
            assert [str(r.rate) for r in records] == [rate]
            statements = db.session.scalars(commission.statement_query(me)).all()
            assert [s.agency_org_id for s in statements] == [agency.org_id]
            # the walls, below the service: the ORM criteria and row-level security
            assert {r.agency_org_id for r in db.session.scalars(select(CommissionRecord))} == {agency.org_id}
            assert db.session.execute(text("SELECT count(*) FROM commission_records")).scalar() == 1
            with pytest.raises(PermissionDenied):
                commission_statements.approve(me, statements[0])
    with tenant(world.west.org_id):
        assert db.session.execute(text("SELECT count(*) FROM commission_statements")).scalar() == 0
        assert db.session.execute(text("SELECT count(*) FROM commission_contracts")).scalar() == 0
    with tenant(world.lender.org_id):
        assert db.session.execute(text("SELECT count(*) FROM commission_records")).scalar() == 0


# --- the property -----------------------------------------------------------------------------------------

bucket_st = st.sampled_from(list(BUCKET_DUE))
rate_st = st.integers(min_value=0, max_value=400_000).map(lambda n: Decimal(n).scaleb(-6))
cents = st.integers(min_value=1, max_value=5_000_000).map(lambda n: Decimal(n).scaleb(-2))
day_st = st.integers(min_value=0, max_value=60).map(lambda d: dt.date(2026, 10, 1) + dt.timedelta(days=d))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    buckets=st.lists(bucket_st, min_size=1, max_size=4),
    payments=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            cents,
            day_st,
            st.integers(min_value=0, max_value=23),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    v1=st.fixed_dictionaries({b: rate_st for b in ("M0", "M1", "M2", "M3", "M4+")}),
    v2=st.fixed_dictionaries({b: rate_st for b in ("M0", "M1", "M2", "M3", "M4+")}),
    switch=day_st,
)
def test_commission_is_the_sum_of_rate_times_amount_to_the_cent(
    app: Flask,
    world: World,
    buckets: list[str],
    payments: list[Any],
    v1: dict[str, Decimal],
    v2: dict[str, Decimal],
    switch: dt.date,
) -> None:
    agency = make_tenant("agency", f"prop{next(_seq)}")
    partner(world.bank, agency)
    case_ids = place(world, buckets, agency.org_id)
    contract_for(
        world,
        agency.org_id,
        [
            {"effective_from": "2026-01-01", "rates": {b: str(r) for b, r in v1.items()}},
            {"effective_from": switch.isoformat(), "rates": {b: str(r) for b, r in v2.items()}},
        ],
    )
    chosen = [
        (case_ids[i % len(case_ids)], amount, at(day, hour), back) for i, amount, day, hour, back in payments
    ]
    ids = pay(world, [(c, a, p) for c, a, p, _b in chosen])
    expected = Decimal("0.00")
    for case_id, amount, paid_at, _back in chosen:
        bucket = buckets[case_ids.index(case_id)]
        rate = (v2 if paid_at.date() >= switch else v1)[bucket]
        expected += commission.price(amount, rate)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        for rid, (_c, _a, _p, back) in zip(ids, chosen, strict=True):
            if back:
                repayments.reverse(admin, db.session.get(Repayment, rid), "chargeback")
        contract = db.session.scalar(
            select(CommissionContract).where(CommissionContract.agency_org_id == agency.org_id)
        )
        # payments in October and November; clawbacks in the month they are reversed (this one)
        periods = sorted({"2026-10", "2026-11", commission.period_of(dt.datetime.now(dt.UTC))})
        first = {p: commission.settle(_bank(), p) for p in periods}
        statements = db.session.scalars(
            select(CommissionStatement).where(CommissionStatement.contract_id == contract.id)
        ).all()
        before = {s.period: (s.lines, s.commission, s.clawbacks, s.net, s.record_count) for s in statements}
        total_commission = sum((s.commission for s in statements), Decimal("0"))
        total_clawbacks = sum((s.clawbacks for s in statements), Decimal("0"))
        assert total_commission == expected
        reversed_ids = [rid for rid, c in zip(ids, chosen, strict=True) if c[3]]
        clawed = sum(
            (
                r.commission
                for r in db.session.scalars(
                    select(CommissionRecord).where(CommissionRecord.repayment_id.in_(reversed_ids))
                )
            ),
            Decimal("0"),
        )
        assert clawed == 0
        assert total_clawbacks == -sum(
            (
                commission.price(c[1], (v2 if c[2].date() >= switch else v1)[buckets[case_ids.index(c[0])]])
                for c in chosen
                if c[3]
            ),
            Decimal("0"),
        )
        for record in db.session.scalars(
            select(CommissionRecord).where(
                CommissionRecord.contract_id == contract.id, CommissionRecord.kind == RecordKind.COMMISSION
            )
        ):
            assert record.commission == commission.price(record.amount, record.rate)
        # settling the same periods again gives the same statements
        second = {p: commission.settle(_bank(), p) for p in periods}
        assert {p: (r["net"], r["records"]) for p, r in first.items()} == {
            p: (r["net"], r["records"]) for p, r in second.items()
        }
        db.session.expire_all()
        after = {
            s.period: (s.lines, s.commission, s.clawbacks, s.net, s.record_count)
            for s in db.session.scalars(
                select(CommissionStatement).where(CommissionStatement.contract_id == contract.id)
            )
        }
        assert after == before


def test_two_settlements_of_the_same_period_at_once_give_one_set_of_statements(
    app: Flask, world: World
) -> None:
    import threading

    cases = place(world, ["M1", "M3"], world.east.org_id)
    contract_for(world, world.east.org_id, [{"effective_from": "2026-01-01", "rates": RATES}])
    pay(
        world,
        [
            (cases[0], Decimal("100.00"), at(dt.date(2026, 10, 5))),
            (cases[1], Decimal("50.00"), at(dt.date(2026, 10, 9))),
        ],
    )
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with app.app_context(), tenant(world.bank.org_id):
                barrier.wait()
                results.append(commission.settle(_bank(), "2026-10"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert [(r["net"], r["records"]) for r in results] == [("17.00", 2), ("17.00", 2)]
    with tenant(world.bank.org_id):
        assert db.session.scalar(select(func.count()).select_from(CommissionStatement)) == 1
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(CommissionRecord)
                .where(CommissionRecord.statement_id.is_not(None))
            )
            == 2
        )


@pytest.mark.slow
def test_the_settlement_job_runs_on_a_worker_process_and_twice_gives_the_same_statement(
    app: Flask, world: World, rq_worker: Any
) -> None:
    import time

    from arrears.models import JobRecord, JobStatus

    cases = place(world, ["M2"], world.east.org_id)
    contract_for(world, world.east.org_id, [{"effective_from": "2026-01-01", "rates": RATES}])
    pay(world, [(cases[0], Decimal("250.00"), at(dt.date(2026, 10, 5)))])

    def settled_by_worker() -> dict[str, Any]:
        with tenant(world.bank.org_id):
            job_id = commission.queue_settlement(_user(world.bank.admin_id), "2026-10")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with tenant(world.bank.org_id):
                db.session.expire_all()
                job = db.session.get(JobRecord, job_id)
                if job.status in (JobStatus.FINISHED, JobStatus.FAILED):
                    assert job.status == JobStatus.FINISHED, job.error
                    return dict(job.result)
            time.sleep(0.2)
        raise AssertionError("the settlement job did not finish")

    first, second = settled_by_worker(), settled_by_worker()
    assert (first["net"], first["records"]) == (second["net"], second["records"]) == ("30.00", 1)
    with tenant(world.bank.org_id):
        statement = db.session.scalar(select(CommissionStatement))
        assert (statement.net, statement.generation, statement.record_count) == (Decimal("30.00"), 2, 1)
