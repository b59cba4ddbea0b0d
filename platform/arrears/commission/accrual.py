"""Accrual (佣金记录): one commission record per attributed repayment, priced by the contract version in
force when it was paid, and a clawback per reversed one; run between settlements and by each."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    and_,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql

from arrears.allocation.models import PlacementCase
from arrears.cases.models import Case
from arrears.columns import utcnow
from arrears.commission.models import (
    CommissionContract,
    CommissionRate,
    CommissionRecord,
    CommissionVersion,
    ContractKind,
    ContractStatus,
    RecordKind,
)
from arrears.extensions import db
from arrears.kernel import audit, clock
from arrears.kernel.db import is_postgres
from arrears.kernel.transaction import transaction
from arrears.payments.models import Repayment, RepaymentStatus
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind

# --- accrual: one record per attributed repayment, a clawback per reversed one -----------------------------


def _local_date(column: Any) -> Any:
    """The day (in the owner's zone) of a timestamp column, in SQL."""
    zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    if is_postgres():
        return cast(func.timezone(zone, column), Date)
    offset = int((dt.datetime.now(clock.zone()).utcoffset() or dt.timedelta()).total_seconds() // 60)
    return func.date(column, f"{offset:+d} minutes")


def _days_between(later: Any, earlier: Any) -> Any:
    if is_postgres():
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def _bucket_of_dpd(dpd: Any) -> Any:
    """``cases.cases.bucket`` in SQL."""
    return case(
        (dpd <= 0, "M0"),
        (dpd <= 30, "M1"),
        (dpd <= 60, "M2"),
        (dpd <= 90, "M3"),
        else_="M4+",
    )


_RECORD_COLUMNS = (
    "org_id",
    "kind",
    "contract_id",
    "version_id",
    "version_number",
    "agency_org_id",
    "collector_user_id",
    "owner_org_id",
    "repayment_id",
    "case_id",
    "bucket",
    "paid_at",
    "event_at",
    "amount",
    "rate",
    "commission",
    "created_at",
    "statement_id",
)


def _insert_records(query: Any) -> int:
    table = CommissionRecord.__table__
    if is_postgres():
        stmt: Any = postgresql.insert(table).from_select(_RECORD_COLUMNS, query).on_conflict_do_nothing()
    else:
        stmt = insert(table).from_select(_RECORD_COLUMNS, query)
    result: Any = db.session.execute(stmt.execution_options(preserve_rowcount=True))
    return int(result.rowcount or 0)


def _priced(
    payer: Organisation,
    kind: ContractKind,
    *,
    until: dt.datetime | None,
    now: dt.datetime,
    into: Mapping[int, int],
) -> Any:
    """The SELECT of new commission records of the payer's active contracts of ``kind``."""
    r, c, pc = Repayment, CommissionContract, PlacementCase
    v, rate = CommissionVersion, CommissionRate
    paid_day = _local_date(r.paid_at)
    null_id = cast(null(), BigInteger)
    into_statement = (
        case(*((c.id == cid, literal(sid)) for cid, sid in sorted(into.items())), else_=null_id)
        if into and kind == ContractKind.AGENCY
        else null_id
    )
    # each version with the day it stops pricing (the next one's first day; a version superseded on
    # its first day by a higher number prices nothing): a range join the planner hashes, where a
    # correlated "latest version by then" subquery was evaluated once per candidate row and rate
    versions = (
        select(
            v.id,
            v.contract_id,
            v.number,
            v.effective_from,
            func.lead(v.effective_from)
            .over(partition_by=v.contract_id, order_by=(v.effective_from, v.number))
            .label("until"),
        )
        .where(v.org_id == payer.id)
        .subquery("versions")
    )
    in_force = and_(
        versions.c.contract_id == c.id,
        versions.c.effective_from <= paid_day,
        or_(versions.c.until.is_(None), paid_day < versions.c.until),
    )
    # the payments this kind of contract has priced already: NOT IN a subquery, which PostgreSQL
    # hashes once per statement; a NOT EXISTS probe planned against a table that is empty when the
    # statement starts became a scan of the rows the same INSERT was writing (quadratic)
    done = select(CommissionRecord.repayment_id).where(
        CommissionRecord.org_id == payer.id,
        CommissionRecord.kind == RecordKind.COMMISSION,
        CommissionRecord.contract_id.in_(
            select(CommissionContract.id).where(
                CommissionContract.org_id == payer.id, CommissionContract.kind == kind
            )
        ),
    )

    def priced(bucket: Any, agency: Any, statement: Any) -> Any:
        return select(
            c.org_id,
            literal(RecordKind.COMMISSION.value),
            c.id,
            versions.c.id,
            versions.c.number,
            agency,
            r.collector_user_id,
            r.org_id,
            r.id,
            r.case_id,
            bucket,
            r.paid_at,
            r.paid_at,
            r.amount,
            rate.rate,
            func.round(r.amount * rate.rate, 2),
            literal(now),
            statement,
        ).select_from(r)

    if kind == ContractKind.AGENCY:
        bucket: Any = pc.bucket
        query = (
            priced(bucket, r.agency_org_id, into_statement)
            .join(c, and_(c.org_id == r.org_id, c.agency_org_id == r.agency_org_id))
            .join(pc, pc.id == r.placement_case_id)
            .where(r.org_id == payer.id, r.agency_org_id.is_not(None))
        )
    else:
        # the payer's own collectors: the owner's in-house work, or an agency's collectors on the
        # cases placed with it (the bucket at placement; in-house, the bucket on the day it was paid)
        held_by = r.org_id if payer.kind == OrgKind.ASSET_OWNER else r.agency_org_id
        bucket = func.coalesce(pc.bucket, _bucket_of_dpd(_days_between(paid_day, Case.due_date)))
        query = (
            priced(bucket, null_id, null_id)
            .join(c, c.org_id == held_by)
            .join(Case, Case.id == r.case_id)
            .outerjoin(pc, pc.id == r.placement_case_id)
            .where(r.collector_user_id.is_not(None))
        )
        if payer.kind == OrgKind.ASSET_OWNER:
            query = query.where(r.org_id == payer.id, r.agency_org_id.is_(None))
        else:
            query = query.where(r.agency_org_id == payer.id)
    query = query.join(versions, in_force).join(
        rate, and_(rate.version_id == versions.c.id, rate.bucket == bucket)
    )
    query = query.where(
        c.org_id == payer.id,
        c.kind == kind,
        c.status == ContractStatus.ACTIVE,
        r.applied_at.is_not(None),
        r.status.in_((RepaymentStatus.CONFIRMED, RepaymentStatus.REVERSED)),
        r.id.not_in(done),
    )
    if until is not None:
        query = query.where(r.paid_at < until)
    return query


def _clawbacks(payer: Organisation, now: dt.datetime) -> Any:
    x, r = CommissionRecord, Repayment
    null_id = cast(null(), BigInteger)
    back = CommissionRecord.__table__.alias("back")
    return (
        select(
            x.org_id,
            literal(RecordKind.CLAWBACK.value),
            x.contract_id,
            x.version_id,
            x.version_number,
            x.agency_org_id,
            x.collector_user_id,
            x.owner_org_id,
            x.repayment_id,
            x.case_id,
            x.bucket,
            x.paid_at,
            func.coalesce(r.decided_at, literal(now)),
            -x.amount,
            x.rate,
            -x.commission,
            literal(now),
            null_id,
        )
        .select_from(x)
        .join(r, r.id == x.repayment_id)
        .where(
            x.org_id == payer.id,
            x.kind == RecordKind.COMMISSION,
            r.status == RepaymentStatus.REVERSED,
            # a payer prices a payment under one contract at most (agency or incentive, never both)
            x.repayment_id.not_in(
                select(back.c.repayment_id).where(
                    back.c.org_id == payer.id, back.c.kind == RecordKind.CLAWBACK.value
                )
            ),
        )
    )


def accrue(
    payer: Organisation, *, until: dt.datetime | None = None, into: Mapping[int, int] | None = None
) -> dict[str, int]:
    """Write the payer's missing records: a commission for each attributed, applied payment (paid
    before ``until`` if given) under its active contracts, a clawback for each reversed payment
    that has a commission. Idempotent: the unique (contract, repayment, kind) and the NOT EXISTS make
    a second run (or a concurrent one) write nothing. ``into``: the draft statement (by agency
    contract) the new records of those contracts are written into (settlement: binding them as they
    are written spares an UPDATE of every record)."""
    now = utcnow()
    with transaction():
        counts = {"commission": 0, "clawback": 0}
        kinds = set(
            db.session.scalars(
                select(CommissionContract.kind).where(
                    CommissionContract.org_id == payer.id, CommissionContract.status == ContractStatus.ACTIVE
                )
            )
        )
        for kind in sorted(kinds):
            query = _priced(payer, kind, until=until, now=now, into=into or {})
            if payer.kind == OrgKind.AGENCY:
                # an agency's collectors worked cases of several owners: their placements and due
                # dates are the owners' rows (only this agency's repayments are read)
                with cross_tenant("incentive accrual reads the placements of the agency's repayments"):
                    counts["commission"] += _insert_records(query)
            else:
                counts["commission"] += _insert_records(query)
        if kinds or db.session.scalar(
            select(CommissionRecord.id).where(CommissionRecord.org_id == payer.id).limit(1)
        ):
            counts["clawback"] = _insert_records(_clawbacks(payer, now))
        if counts["commission"] or counts["clawback"]:
            audit.record("commission.accrued", org_id=payer.id, details=counts)
    return counts
