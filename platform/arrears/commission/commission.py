"""Commission (佣金): contracts and their versions, the records of attributed repayments (accrual),
and the monthly settlement of statements (models.commission says what each row is).

Pricing rule (decision 0009): a record's commission is ``round_half_away_from_zero(amount × rate,
2)``, the rate being the one of the bucket the case was in when placed, in the contract version
effective on the day the payment was made (the owner's time zone). A clawback is the exact negation
of its commission record. A statement's totals are sums of its records; its adjustments (tier bonus,
minimum, cap, manual) are separate lines, each rounded the same way.

Everything that moves money here is idempotent and set-based: accrual is two ``INSERT ... SELECT``
statements guarded by the unique ``(contract, repayment, kind)``; settlement binds unbound records to
draft statements with one ``UPDATE`` and sums them with one ``GROUP BY``. Re-running a period rebuilds
its drafts to the same figures; an approved or paid statement is closed and never changes, and
records arriving after it are settled in the next period.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    case,
    delete,
    func,
    or_,
    select,
    update,
)

from arrears.allocation.models import PlacementCase, PlacementCaseStatus
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.cases import BUCKETS
from arrears.columns import utcnow
from arrears.commission.accrual import accrue
from arrears.commission.models import (
    AdjustmentKind,
    CommissionAdjustment,
    CommissionContract,
    CommissionRate,
    CommissionRecord,
    CommissionStatement,
    CommissionVersion,
    ContractKind,
    ContractStatus,
    RecordKind,
    StatementStatus,
    TierBasis,
)
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, clock
from arrears.kernel.db import is_postgres
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.money import parse_amount
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Partnership
from arrears.tenancy import current_org_id
from arrears.tenancy.models import Organisation, OrgKind

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.000001")
CLOSED = (StatementStatus.APPROVED, StatementStatus.PAID)


def price(amount: Decimal, rate: Decimal) -> Decimal:
    """The commission on ``amount`` at ``rate``: rounded half away from zero to the cent (what
    PostgreSQL's ``round(numeric, 2)`` does, so the SQL and this agree to the cent)."""
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


# --- periods --------------------------------------------------------------------------------------------


def check_period(period: str) -> str:
    """``YYYY-MM``, or ValidationFailed naming the field."""
    try:
        year, month = (int(p) for p in str(period).strip().split("-"))
        dt.date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationFailed(_("A period is a month: YYYY-MM."), field="period") from None
    if not 2000 <= year <= 2100:
        raise ValidationFailed(_("A period is a month: YYYY-MM."), field="period")
    return f"{year:04d}-{month:02d}"


def period_bounds(period: str) -> tuple[dt.datetime, dt.datetime]:
    """The period's first instant and the next period's first instant (UTC), in the owner's zone."""
    period = check_period(period)
    year, month = (int(p) for p in period.split("-"))
    zone = clock.zone()
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def period_of(moment: dt.datetime) -> str:
    local = moment.astimezone(clock.zone())
    return f"{local.year:04d}-{local.month:02d}"


def previous_period(today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(clock.zone()).date()
    first = today.replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


# --- contracts and versions -----------------------------------------------------------------------------


@dataclass
class VersionInput:
    effective_from: dt.date
    rates: dict[str, Decimal]
    tier_basis: TierBasis = TierBasis.RECOVERY_RATE
    tiers: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # (threshold, bonus rate)
    min_amount: Decimal | None = None
    cap_amount: Decimal | None = None
    note: str = ""


def _rate(value: Any, field_name: str) -> Decimal:
    if isinstance(value, (float, bool)):
        raise ValidationFailed(_("Give the rate as a decimal number."), field=field_name)
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        rate = Decimal(text.rstrip("%").strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("Not a rate: %(value)s", value=text[:20]), field=field_name) from None
    if not rate.is_finite():
        raise ValidationFailed(_("Not a rate: %(value)s", value=text[:20]), field=field_name)
    if percent:
        rate = rate / 100
    if rate < 0 or rate >= 1:
        raise ValidationFailed(_("A rate is between 0 and 1 (or 0% and 100%)."), field=field_name)
    if rate != rate.quantize(RATE_PLACES):
        raise ValidationFailed(_("A rate has at most six decimals."), field=field_name)
    return rate.quantize(RATE_PLACES)


def version_input(raw: Mapping[str, Any]) -> VersionInput:  # noqa: C901
    """A version from primitives (a form, a JSON body): every error names its field."""
    try:
        effective = raw.get("effective_from")
        effective_from = (
            effective
            if isinstance(effective, dt.date)
            else dt.date.fromisoformat(str(effective or "").strip())
        )
    except ValueError:
        raise ValidationFailed(_("Give the date as YYYY-MM-DD."), field="effective_from") from None
    raw_rates = raw.get("rates") or {}
    if not isinstance(raw_rates, Mapping):
        raise ValidationFailed(_("Give a rate for every bucket."), field="rates")
    unknown = sorted(set(raw_rates) - set(BUCKETS))
    if unknown:
        raise ValidationFailed(_("Unknown bucket: %(names)s", names=", ".join(unknown)), field="rates")
    rates: dict[str, Decimal] = {}
    for bucket in BUCKETS:
        value = raw_rates.get(bucket)
        if value is None or str(value).strip() == "":
            raise ValidationFailed(
                _("Give a rate for bucket %(bucket)s.", bucket=bucket), field=f"rates.{bucket}"
            )
        rates[bucket] = _rate(value, f"rates.{bucket}")
    try:
        basis = TierBasis(raw.get("tier_basis") or TierBasis.RECOVERY_RATE)
    except ValueError:
        raise ValidationFailed(_("Unknown tier basis."), field="tier_basis") from None
    tiers: list[tuple[Decimal, Decimal]] = []
    for i, tier in enumerate(raw.get("tiers") or []):
        if not isinstance(tier, Mapping):
            raise ValidationFailed(_("A tier has a threshold and a bonus rate."), field=f"tiers.{i}")
        if basis == TierBasis.RECOVERY_RATE:
            threshold = _rate(tier.get("threshold", ""), f"tiers.{i}.threshold")
        else:
            threshold = parse_amount(tier.get("threshold", ""), f"tiers.{i}.threshold", allow_zero=True)
        bonus = _rate(tier.get("bonus_rate", ""), f"tiers.{i}.bonus_rate")
        if tiers and threshold <= tiers[-1][0]:
            raise ValidationFailed(_("Tiers go up: each threshold above the one before."), field=f"tiers.{i}")
        tiers.append((threshold, bonus))
    min_amount = _optional_amount(raw.get("min_amount"), "min_amount")
    cap_amount = _optional_amount(raw.get("cap_amount"), "cap_amount")
    if min_amount is not None and cap_amount is not None and min_amount > cap_amount:
        raise ValidationFailed(_("The minimum is above the cap."), field="min_amount")
    return VersionInput(
        effective_from=effective_from,
        rates=rates,
        tier_basis=basis,
        tiers=tiers,
        min_amount=min_amount,
        cap_amount=cap_amount,
        note=str(raw.get("note") or "")[:500],
    )


def _optional_amount(value: Any, name: str) -> Decimal | None:
    if value is None or str(value).strip() == "":
        return None
    return parse_amount(value, name, allow_zero=True)


def _may_manage(actor: User, contract_kind: ContractKind) -> None:
    require(actor, "commission.manage")
    if contract_kind == ContractKind.AGENCY and actor.org.kind != OrgKind.ASSET_OWNER:
        raise PermissionDenied(_("Only the asset owner sets an agency's commission."))


def create_contract(
    actor: User,
    *,
    kind: ContractKind | str,
    name: str,
    version: VersionInput,
    agency_org_id: int | None = None,
) -> CommissionContract:
    """An agency's contract (the owner, for one of its partnerships) or the organisation's incentive
    contract for its own collectors, with its first version."""
    try:
        kind = ContractKind(kind)
    except ValueError:
        raise ValidationFailed(_("Unknown kind of contract."), field="kind") from None
    _may_manage(actor, kind)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Give the contract a name."), field="name")
    with transaction():
        if kind == ContractKind.AGENCY:
            partnership = db.session.scalar(
                select(Partnership).where(
                    Partnership.org_id == actor.org_id, Partnership.agency_org_id == agency_org_id
                )
            )
            if partnership is None:
                raise ValidationFailed(_("This agency is not a partner."), field="agency_org_id")
            clash = CommissionContract.agency_org_id == agency_org_id
        else:
            agency_org_id = None
            clash = CommissionContract.agency_org_id.is_(None)
        if db.session.scalar(
            select(CommissionContract.id).where(
                CommissionContract.org_id == actor.org_id, CommissionContract.kind == kind, clash
            )
        ):
            raise Conflict(
                _("There is a contract for this agency already: add a version to it.")
                if kind == ContractKind.AGENCY
                else _("The incentive contract exists already: add a version to it."),
                field="agency_org_id",
            )
        contract = CommissionContract(
            org_id=actor.org_id,
            kind=kind,
            agency_org_id=agency_org_id,
            name=name[:120],
            status=ContractStatus.ACTIVE,
            created_by_id=actor.id,
        )
        db.session.add(contract)
        db.session.flush()
        _write_version(actor, contract, version)
        audit.record(
            "commission.contract_created",
            actor=actor,
            target=contract,
            details={"kind": kind.value, "agency_org_id": agency_org_id, "name": name},
        )
    return contract


def add_version(actor: User, contract: CommissionContract, version: VersionInput) -> CommissionVersion:
    """A new version (versions are never edited). Payments already settled keep the rate they were
    priced at; a new version effective in the past prices only records not yet written."""
    _may_manage(actor, contract.kind)
    if contract.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    with transaction():
        locked = db.session.scalar(
            select(CommissionContract).where(CommissionContract.id == contract.id).with_for_update()
        )
        assert locked is not None
        row = _write_version(actor, locked, version)
        audit.record(
            "commission.version_added",
            actor=actor,
            target=locked,
            details={"number": row.number, "effective_from": row.effective_from.isoformat()},
        )
    return row


def _write_version(actor: User, contract: CommissionContract, version: VersionInput) -> CommissionVersion:
    number = (
        db.session.scalar(
            select(func.max(CommissionVersion.number)).where(CommissionVersion.contract_id == contract.id)
        )
        or 0
    ) + 1
    row = CommissionVersion(
        org_id=contract.org_id,
        contract_id=contract.id,
        agency_org_id=contract.agency_org_id,
        number=number,
        effective_from=version.effective_from,
        rates={b: str(r) for b, r in version.rates.items()},
        tier_basis=version.tier_basis,
        tiers=[{"threshold": str(t), "bonus_rate": str(b)} for t, b in version.tiers],
        min_amount=version.min_amount,
        cap_amount=version.cap_amount,
        note=version.note,
        created_by_id=actor.id,
    )
    db.session.add(row)
    db.session.flush()
    db.session.add_all(
        CommissionRate(
            org_id=contract.org_id,
            version_id=row.id,
            agency_org_id=contract.agency_org_id,
            bucket=bucket,
            rate=rate,
        )
        for bucket, rate in version.rates.items()
    )
    db.session.flush()
    return row


def end_contract(actor: User, contract: CommissionContract) -> CommissionContract:
    """No new records are priced under an ended contract (those written stay and are settled)."""
    _may_manage(actor, contract.kind)
    if contract.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    with transaction():
        contract.status = ContractStatus.ENDED
        audit.record("commission.contract_ended", actor=actor, target=contract)
    return contract


def versions_of(contract: CommissionContract) -> list[CommissionVersion]:
    return list(
        db.session.scalars(
            select(CommissionVersion)
            .where(CommissionVersion.contract_id == contract.id)
            .order_by(CommissionVersion.number.desc())
        )
    )


def version_on(contract_id: int, day: dt.date) -> CommissionVersion | None:
    """The version pricing payments made on ``day``: the latest effective by then (the higher number
    when two start the same day)."""
    return db.session.scalar(
        select(CommissionVersion)
        .where(CommissionVersion.contract_id == contract_id, CommissionVersion.effective_from <= day)
        .order_by(CommissionVersion.effective_from.desc(), CommissionVersion.number.desc())
        .limit(1)
    )


def contracts(actor: User) -> list[CommissionContract]:
    """The contracts the organisation pays, and (an agency) those it is paid under."""
    require(actor, "commission.view")
    return list(
        db.session.scalars(
            select(CommissionContract)
            .where(
                or_(
                    CommissionContract.org_id == actor.org_id,
                    CommissionContract.agency_org_id == actor.org_id,
                )
            )
            .order_by(CommissionContract.kind, CommissionContract.name)
        )
    )


# --- settlement ---------------------------------------------------------------------------------------------


def _payee_key(agency_org_id: int | None, collector_user_id: int | None) -> str:
    return f"agency:{agency_org_id}" if collector_user_id is None else f"user:{collector_user_id}"


def settle(payer: Organisation, period: str, *, actor_id: int | None = None) -> dict[str, Any]:
    """Build (or rebuild) the payer's draft statements of ``period``, in one transaction: a draft per
    agency contract in force, the missing records accrued straight into them, then every other
    unbound record that counts before the period's end (incentives, clawbacks, records accrued
    between settlements) bound to its payee's draft; the records summed by bucket; the automatic
    adjustments worked out. Closed statements are left as they are: records they could not take
    (arrived after they closed) stay unbound for the next period."""
    period = check_period(period)
    start, end = period_bounds(period)
    if start > utcnow():
        raise ValidationFailed(_("This period has not started yet."), field="period")
    now = utcnow()
    with transaction():
        drafts = _Drafts(payer, period, start, end, _period_statements(payer, period))
        contracts_by_id = {
            c.id: c
            for c in db.session.scalars(
                select(CommissionContract).where(CommissionContract.org_id == payer.id)
            )
        }
        last_day = (end.astimezone(clock.zone()) - dt.timedelta(seconds=1)).date()
        versions: dict[int, CommissionVersion | None] = {
            cid: version_on(cid, last_day) for cid in contracts_by_id
        }
        # every agency contract in force has its draft (its records are written straight into it)
        for cid, contract in sorted(contracts_by_id.items()):
            if (
                contract.kind == ContractKind.AGENCY
                and contract.status == ContractStatus.ACTIVE
                and versions[cid] is not None  # a version in force by the period's last day
            ):
                drafts.for_payee(cid, contract.agency_org_id, None)
        db.session.flush()
        accrued = accrue(payer, until=end, into=drafts.agency_drafts())
        # the other payees with records to settle (incentives, clawbacks, records accrued before)
        for cid, agency_id, user_id in _unbound_payees(payer, end):
            # an agency contract pays the agency, whichever of its collectors a record names
            drafts.for_payee(
                cid, agency_id, None if contracts_by_id[cid].kind == ContractKind.AGENCY else user_id
            )
        db.session.flush()
        if open_drafts := drafts.open():
            _bind(payer.id, [s.id for s in open_drafts], end)
            _sum_up(payer, open_drafts, versions, start, end, now)
        drafts.drop_empty()
        open_drafts, closed = drafts.open(), drafts.closed()
        audit.record(
            "commission.settled",
            org_id=payer.id,
            details={
                "period": period,
                "drafts": len(open_drafts),
                "closed": len(closed),
                "net": str(sum((s.net for s in open_drafts), ZERO)),
                "by": actor_id,
            },
        )
    return {
        "period": period,
        "statements": len(open_drafts),
        "closed": len(closed),
        "net": str(sum((s.net for s in open_drafts), ZERO)),
        "records": sum(s.record_count for s in open_drafts),
        "accrued": accrued,
    }


def _period_statements(payer: Organisation, period: str) -> dict[tuple[int, str], CommissionStatement]:
    """The payer's statements of ``period``, locked; a rebuild's drafts lose their automatic
    adjustments (worked out again)."""
    if is_postgres():
        # one settlement of a payer's period at a time (a job delivered twice, a click during the
        # job): the second waits, then rebuilds the same drafts
        db.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"commission:{payer.id}:{period}", 0)))
        )
    statements = {
        (s.contract_id, s.payee_key): s
        for s in db.session.scalars(
            select(CommissionStatement)
            .where(CommissionStatement.org_id == payer.id, CommissionStatement.period == period)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    drafts = [s for s in statements.values() if s.status == StatementStatus.DRAFT]
    if drafts:
        # a rebuild: the drafts keep the records they have (a record never changes, nor does the
        # period it counts in), take the new ones, and work out their automatic adjustments again
        db.session.execute(
            delete(CommissionAdjustment)
            .where(
                CommissionAdjustment.statement_id.in_([s.id for s in drafts]),
                CommissionAdjustment.kind != AdjustmentKind.MANUAL,
            )
            .execution_options(synchronize_session=False)
        )
    return statements


def _unbound_payees(payer: Organisation, end: dt.datetime) -> list[Any]:
    """(contract, agency, collector) of the payer's records not on a statement that count before ``end``."""
    return list(
        db.session.execute(
            select(
                CommissionRecord.contract_id,
                CommissionRecord.agency_org_id,
                CommissionRecord.collector_user_id,
            )
            .where(
                CommissionRecord.org_id == payer.id,
                CommissionRecord.statement_id.is_(None),
                CommissionRecord.event_at < end,
            )
            .distinct()
        ).all()
    )


@dataclass
class _Drafts:
    """A settlement's statements of the period by (contract, payee), and the drafts it created."""

    payer: Organisation
    period: str
    start: dt.datetime
    end: dt.datetime
    statements: dict[tuple[int, str], CommissionStatement]
    created: list[CommissionStatement] = field(default_factory=list)

    def for_payee(self, cid: int, agency_id: int | None, user_id: int | None) -> CommissionStatement:
        key = _payee_key(agency_id, user_id)
        found = self.statements.get((cid, key))
        if found is None:
            found = CommissionStatement(
                org_id=self.payer.id,
                contract_id=cid,
                agency_org_id=agency_id,
                collector_user_id=user_id,
                payee_key=key,
                period=self.period,
                period_start=self.start,
                period_end=self.end,
                status=StatementStatus.DRAFT,
            )
            db.session.add(found)
            self.statements[(cid, key)] = found
            self.created.append(found)
        return found

    def agency_drafts(self) -> dict[int, int]:
        """contract id -> its agency draft's id (where accrual writes the records straight in)."""
        return {
            s.contract_id: s.id
            for s in self.statements.values()
            if s.status == StatementStatus.DRAFT and s.collector_user_id is None
        }

    def open(self) -> list[CommissionStatement]:
        return [s for s in self.statements.values() if s.status == StatementStatus.DRAFT]

    def closed(self) -> list[CommissionStatement]:
        return [s for s in self.statements.values() if s.status in CLOSED]

    def drop_empty(self) -> None:
        """A contract in force with nothing to settle and no minimum gets no statement."""
        for row in self.created:
            if row.record_count == 0 and row.net == 0 and not row.adjustments:
                db.session.delete(row)
                del self.statements[(row.contract_id, row.payee_key)]
        db.session.flush()


def _bind(payer_id: int, draft_ids: list[int], end: dt.datetime) -> None:
    """Every unbound record of the payer that counts before ``end`` goes to its payee's draft."""
    s, x = CommissionStatement, CommissionRecord
    target = (
        select(s.id)
        .where(
            s.id.in_(draft_ids),
            s.contract_id == x.contract_id,
            or_(s.collector_user_id.is_(None), s.collector_user_id == x.collector_user_id),
        )
        .limit(1)
        .scalar_subquery()
    )
    if is_postgres():
        db.session.execute(
            update(x)
            .where(
                x.org_id == payer_id,
                x.statement_id.is_(None),
                x.event_at < end,
                s.id.in_(draft_ids),
                s.contract_id == x.contract_id,
                or_(s.collector_user_id.is_(None), s.collector_user_id == x.collector_user_id),
            )
            .values(statement_id=s.id)
            .execution_options(synchronize_session=False)
        )
    else:
        db.session.execute(
            update(x)
            .where(x.org_id == payer_id, x.statement_id.is_(None), x.event_at < end)
            .values(statement_id=target)
            .execution_options(synchronize_session=False)
        )


def _sum_up(
    payer: Organisation,
    drafts: list[CommissionStatement],
    versions: Mapping[int, CommissionVersion | None],
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
) -> None:
    x = CommissionRecord
    ids = [s.id for s in drafts]
    lines: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    late: dict[int, int] = defaultdict(int)
    for sid, bucket, kind, count, amount, commission, early in db.session.execute(
        select(
            x.statement_id,
            x.bucket,
            x.kind,
            func.count(),
            func.sum(x.amount),
            func.sum(x.commission),
            func.sum(case((x.event_at < start, 1), else_=0)),
        )
        .where(x.statement_id.in_(ids))
        .group_by(x.statement_id, x.bucket, x.kind)
    ):
        line = lines[sid].setdefault(
            bucket,
            {
                "bucket": bucket,
                "count": 0,
                "amount": ZERO,
                "commission": ZERO,
                "clawback_count": 0,
                "clawbacks": ZERO,
            },
        )
        if RecordKind(kind) == RecordKind.COMMISSION:
            line["count"] += int(count)
            line["amount"] += Decimal(amount)
            line["commission"] += Decimal(commission)
        else:
            line["clawback_count"] += int(count)
            line["clawbacks"] += Decimal(commission)
        late[sid] += int(early or 0)
    placed = _placed_amounts(payer, [s.agency_org_id for s in drafts if s.agency_org_id], start, end)
    manual = defaultdict(lambda: ZERO)
    for sid, amount in db.session.execute(
        select(CommissionAdjustment.statement_id, func.sum(CommissionAdjustment.amount))
        .where(CommissionAdjustment.statement_id.in_(ids), CommissionAdjustment.kind == AdjustmentKind.MANUAL)
        .group_by(CommissionAdjustment.statement_id)
    ):
        manual[sid] = Decimal(amount)
    for statement in drafts:
        by_bucket = [lines[statement.id][b] for b in sorted(lines[statement.id], key=_bucket_order)]
        base = sum((line["amount"] for line in by_bucket), ZERO)
        commission = sum((line["commission"] for line in by_bucket), ZERO)
        clawbacks = sum((line["clawbacks"] for line in by_bucket), ZERO)
        version = versions.get(statement.contract_id)
        rate = None
        if statement.agency_org_id and placed.get(statement.agency_org_id):
            rate = (base / placed[statement.agency_org_id]).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
        automatic = _automatic_adjustments(version, base, rate, commission + clawbacks + manual[statement.id])
        for kind, amount, reason in automatic:
            db.session.add(
                CommissionAdjustment(
                    org_id=payer.id,
                    statement_id=statement.id,
                    agency_org_id=statement.agency_org_id,
                    kind=kind,
                    amount=amount,
                    reason=reason,
                )
            )
        adjustments = manual[statement.id] + sum((a for _k, a, _r in automatic), ZERO)
        statement.lines = [
            {**line, **{k: str(line[k]) for k in ("amount", "commission", "clawbacks")}} for line in by_bucket
        ]
        statement.record_count = sum(line["count"] + line["clawback_count"] for line in by_bucket)
        statement.late_count = late[statement.id]
        statement.base_amount = base
        statement.recovery_rate = rate
        statement.commission = commission
        statement.clawbacks = clawbacks
        statement.adjustments = adjustments
        statement.net = commission + clawbacks + adjustments
        statement.version_id = version.id if version is not None else None
        statement.generated_at = now
        statement.generation = (statement.generation or 0) + 1
    db.session.flush()


def _bucket_order(bucket: str) -> int:
    return BUCKETS.index(bucket) if bucket in BUCKETS else len(BUCKETS)


def _automatic_adjustments(
    version: CommissionVersion | None, base: Decimal, recovery_rate: Decimal | None, subtotal: Decimal
) -> list[tuple[AdjustmentKind, Decimal, str]]:
    """The tier bonus (the highest tier reached, on the period's attributed amount), then the
    minimum and the cap on the net."""
    out: list[tuple[AdjustmentKind, Decimal, str]] = []
    if version is None:
        return out
    basis = recovery_rate if version.tier_basis == TierBasis.RECOVERY_RATE else base
    reached = None
    if basis is not None:
        for tier in version.tiers or []:
            if basis >= Decimal(tier["threshold"]):
                reached = tier
    if reached is not None and base:
        bonus = price(base, Decimal(reached["bonus_rate"]))
        if bonus:
            out.append(
                (
                    AdjustmentKind.TIER,
                    bonus,
                    f"{version.tier_basis.value} {basis} >= {reached['threshold']}: +{reached['bonus_rate']}",
                )
            )
            subtotal += bonus
    if version.min_amount is not None and subtotal < version.min_amount:
        out.append((AdjustmentKind.MINIMUM, version.min_amount - subtotal, f"minimum {version.min_amount}"))
    elif version.cap_amount is not None and subtotal > version.cap_amount:
        out.append((AdjustmentKind.CAP, version.cap_amount - subtotal, f"cap {version.cap_amount}"))
    return out


def _placed_amounts(
    payer: Organisation, agency_ids: Iterable[int], start: dt.datetime, end: dt.datetime
) -> dict[int, Decimal]:
    """Per agency: the amount (outstanding at placement) of the payer's cases it held at any time in
    the period, the denominator of its recovery rate."""
    ids = sorted(set(agency_ids))
    if not ids or payer.kind != OrgKind.ASSET_OWNER:
        return {}
    zone = clock.zone()
    first_day, last_day = (
        start.astimezone(zone).date(),
        (end.astimezone(zone) - dt.timedelta(seconds=1)).date(),
    )
    pc = PlacementCase
    return {
        agency: Decimal(total)
        for agency, total in db.session.execute(
            select(pc.agency_org_id, func.sum(pc.amount))
            .where(
                pc.org_id == payer.id,
                pc.agency_org_id.in_(ids),
                pc.status.in_(
                    (PlacementCaseStatus.ACTIVE, PlacementCaseStatus.ENDED, PlacementCaseStatus.RECALLED)
                ),
                pc.starts_on <= last_day,
                or_(pc.closed_at.is_(None), pc.closed_at >= start),
                pc.ends_on >= first_day,
            )
            .group_by(pc.agency_org_id)
        )
        if total
    }


def queue_settlement(actor: User, period: str) -> str:
    """Queue the settlement job of ``period`` for the actor's organisation (after the commit)."""
    require(actor, "commission.manage")
    period = check_period(period)
    start, _end = period_bounds(period)
    if start > utcnow():
        raise ValidationFailed(_("This period has not started yet."), field="period")

    with transaction():
        record_ = enqueue(
            settle_job,
            name="settle-commission",
            kwargs={"period": period},
            created_by=actor,
        )
        audit.record("commission.settlement_queued", actor=actor, details={"period": period})
    return record_.id


# --- reading ------------------------------------------------------------------------------------------------


@dataclass
class RecordFilter:
    period: str | None = None
    kind: RecordKind | None = None
    agency_org_id: int | None = None
    collector_user_id: int | None = None
    statement_id: int | None = None
    bucket: str | None = None
    unsettled: bool = False


def record_query(actor: User, f: RecordFilter | None = None) -> Any:
    """The commission records (佣金记录查询) the actor's organisation pays or is paid, newest first.
    An agency sees its own (the tenant walls pin it); a collector's incentives are their employer's."""
    require(actor, "commission.view")
    f = f or RecordFilter()
    x = CommissionRecord
    stmt = select(x).where(or_(x.org_id == actor.org_id, x.agency_org_id == actor.org_id))
    if f.period:
        start, end = period_bounds(f.period)
        stmt = stmt.where(x.event_at >= start, x.event_at < end)
    if f.kind is not None:
        stmt = stmt.where(x.kind == f.kind)
    if f.agency_org_id is not None:
        stmt = stmt.where(x.agency_org_id == f.agency_org_id)
    if f.collector_user_id is not None:
        stmt = stmt.where(x.collector_user_id == f.collector_user_id)
    if f.statement_id is not None:
        stmt = stmt.where(x.statement_id == f.statement_id)
    if f.bucket:
        stmt = stmt.where(x.bucket == f.bucket)
    if f.unsettled:
        stmt = stmt.where(x.statement_id.is_(None))
    return stmt.order_by(x.event_at.desc(), x.id.desc())


def statement_query(actor: User, *, period: str | None = None, status: StatementStatus | None = None) -> Any:
    require(actor, "commission.view")
    s = CommissionStatement
    stmt = select(s).where(or_(s.org_id == actor.org_id, s.agency_org_id == actor.org_id))
    if period:
        stmt = stmt.where(s.period == check_period(period))
    if status is not None:
        stmt = stmt.where(s.status == status)
    return stmt.order_by(s.period.desc(), s.id)


def adjustments_of(statement: CommissionStatement) -> list[CommissionAdjustment]:
    return list(
        db.session.scalars(
            select(CommissionAdjustment)
            .where(CommissionAdjustment.statement_id == statement.id)
            .order_by(CommissionAdjustment.id)
        )
    )


@job("commission.settle")
def settle_job(job: JobContext, period: str) -> dict[str, Any]:
    """Build (or rebuild) the tenant's draft statements of ``period``. Delivered twice or retried
    after a crash, it gives the same statements: records are bound once, drafts are rebuilt whole,
    closed statements are never touched."""
    payer = db.session.get(Organisation, current_org_id() or 0)
    if payer is None:
        return {"statements": 0}
    job.progress(10, "accruing")
    return settle(payer, period, actor_id=job.created_by_id)
