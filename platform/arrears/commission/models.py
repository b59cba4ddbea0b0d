"""Commission (佣金): contracts with their versions and rates, one record per attributed repayment,
and the monthly statements that settle them.

A **contract** is either an agency's (``kind = agency``: the owner pays the agency for what its
placed cases repaid, one contract per partnership) or an incentive (``kind = incentive``: an
organisation pays its own collectors for what the cases they held repaid: the owner for in-house
work, an agency for its collectors). ``org_id`` is the payer.

A **version** is immutable and effective from a date: the rates by bucket at placement (M0 .. M4+),
optional tiers (a bonus rate once the period's recovery rate or collected amount reaches a
threshold) and a minimum and a cap per settlement period. The version effective on the day a
payment was made prices it.

A **record** is one line per (contract, repayment, kind): ``commission`` for an attributed payment,
``clawback`` (the exact negation) when that payment is reversed. Records are never edited; a record
is bound to one statement (``statement_id``) when a period is settled. The rounding rule: each
record's commission is ``amount × rate`` rounded half away from zero to the cent; statement totals
are sums of records (docs/decisions/0009-commission-settlement.md).

A **statement** (佣金结算) is one payee's settlement of one period (a calendar month in the owner's
time zone): totals by bucket, adjustments (tier bonus, minimum, cap, manual), clawbacks and the net.
Draft statements are rebuilt by re-running the period; an approved or paid statement is closed and
never changes: records arriving after it land in the next period's statement.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import SharedTenantScoped

ZERO = Decimal("0")
# a rate is a fraction with up to six decimals (0.085 = 8.5 %)
Rate = Numeric(9, 6, asdecimal=True)


class ContractKind(enum.StrEnum):
    AGENCY = "agency"  # the owner pays an agency (per partnership)
    INCENTIVE = "incentive"  # an organisation pays its own collectors


class ContractStatus(enum.StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class TierBasis(enum.StrEnum):
    RECOVERY_RATE = "recovery_rate"  # repaid in the period / amount placed with the agency
    COLLECTED = "collected"  # amount attributed in the period


class CommissionContract(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "commission_contracts"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        # one contract per partnership, and one incentive contract per paying organisation
        Index(
            "uq_commission_contracts_agency",
            "org_id",
            "agency_org_id",
            unique=True,
            postgresql_where=text("kind = 'agency'"),
            sqlite_where=text("kind = 'agency'"),
        ),
        Index(
            "uq_commission_contracts_incentive",
            "org_id",
            unique=True,
            postgresql_where=text("kind = 'incentive'"),
            sqlite_where=text("kind = 'incentive'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[ContractKind] = mapped_column(
        enum_type(ContractKind, "commission_contract_kind"), nullable=False
    )
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    status: Mapped[ContractStatus] = mapped_column(
        enum_type(ContractStatus, "commission_contract_status"), default=ContractStatus.ACTIVE, nullable=False
    )
    created_by_id: Mapped[int | None] = mapped_column(BigId)


class CommissionVersion(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """Immutable once written: a change is a new version from a later date (or the same date, which
    then supersedes it for payments from that day)."""

    __tablename__ = "commission_versions"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        UniqueConstraint("contract_id", "number"),
        Index("ix_commission_versions_effective", "contract_id", "effective_from", "number"),
    )
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(BigId, ForeignKey("commission_contracts.id"), nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)  # the contract's, for visibility
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    effective_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    # {"M0": "0.05", "M1": "0.08", ...}: every bucket, as decimal strings (the rates table mirrors it)
    rates: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    tier_basis: Mapped[TierBasis] = mapped_column(
        enum_type(TierBasis, "commission_tier_basis"), default=TierBasis.RECOVERY_RATE, nullable=False
    )
    # [{"threshold": "0.30", "bonus_rate": "0.02"}, ...] ascending; the highest reached applies
    tiers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, nullable=False)
    min_amount: Mapped[Decimal | None] = mapped_column(Money)  # per period
    cap_amount: Mapped[Decimal | None] = mapped_column(Money)  # per period
    note: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId)


class CommissionRate(SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """A version's rate for one bucket, as rows (the set-based pricing joins them)."""

    __tablename__ = "commission_rates"
    __party_column__ = "agency_org_id"
    __table_args__ = (UniqueConstraint("version_id", "bucket"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version_id: Mapped[int] = mapped_column(BigId, ForeignKey("commission_versions.id"), nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    bucket: Mapped[str] = mapped_column(String(8), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Rate, nullable=False)


class RecordKind(enum.StrEnum):
    COMMISSION = "commission"
    CLAWBACK = "clawback"


class CommissionRecord(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """``org_id`` is the payer; ``agency_org_id`` the agency paid (it sees its records), NULL for an
    incentive, whose payee is ``collector_user_id``."""

    __tablename__ = "commission_records"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        UniqueConstraint("contract_id", "repayment_id", "kind", name="uq_commission_records_once"),
        Index(
            "ix_commission_records_open",
            "org_id",
            "contract_id",
            "event_at",
            postgresql_where=text("statement_id IS NULL"),
            sqlite_where=text("statement_id IS NULL"),
        ),
        Index("ix_commission_records_statement", "statement_id"),
        Index("ix_commission_records_repayment", "repayment_id"),
        Index("ix_commission_records_agency_event", "agency_org_id", "event_at"),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[RecordKind] = mapped_column(enum_type(RecordKind, "commission_record_kind"), nullable=False)
    contract_id: Mapped[int] = mapped_column(BigId, nullable=False)
    version_id: Mapped[int] = mapped_column(BigId, nullable=False)
    version_number: Mapped[int] = mapped_column(Integer, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    collector_user_id: Mapped[int | None] = mapped_column(BigId)
    owner_org_id: Mapped[int] = mapped_column(BigId, nullable=False)  # the repayment's owner
    repayment_id: Mapped[int] = mapped_column(BigId, nullable=False)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    bucket: Mapped[str] = mapped_column(String(8), nullable=False)
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    # when it counts: the payment's time for a commission, the reversal's for a clawback
    event_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # attributed amount, signed
    rate: Mapped[Decimal] = mapped_column(Rate, nullable=False)
    commission: Mapped[Decimal] = mapped_column(Money, nullable=False)  # signed
    statement_id: Mapped[int | None] = mapped_column(BigId)


class StatementStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"  # closed: never changes again
    PAID = "paid"


class CommissionStatement(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "commission_statements"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        UniqueConstraint("contract_id", "payee_key", "period", name="uq_commission_statements_period"),
        Index("ix_commission_statements_org_period", "org_id", "period"),
    )
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contract_id: Mapped[int] = mapped_column(BigId, ForeignKey("commission_contracts.id"), nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    collector_user_id: Mapped[int | None] = mapped_column(BigId)
    payee_key: Mapped[str] = mapped_column(String(32), nullable=False)  # "agency:<id>" / "user:<id>"
    period: Mapped[str] = mapped_column(String(7), nullable=False)  # YYYY-MM
    period_start: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    period_end: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)  # exclusive
    status: Mapped[StatementStatus] = mapped_column(
        enum_type(StatementStatus, "commission_statement_status"),
        default=StatementStatus.DRAFT,
        nullable=False,
    )
    version_id: Mapped[int | None] = mapped_column(BigId)  # the version whose tiers/min/cap applied
    # [{"bucket": "M1", "count": 3, "amount": "…", "commission": "…", "clawback_count": 1,
    #   "clawbacks": "-…"}, …]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    record_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    late_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # from earlier periods
    base_amount: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    recovery_rate: Mapped[Decimal | None] = mapped_column(Rate)
    commission: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    clawbacks: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    adjustments: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    net: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    generated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    generation: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # times built
    approved_by_id: Mapped[int | None] = mapped_column(BigId)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    paid_by_id: Mapped[int | None] = mapped_column(BigId)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    paid_reference: Mapped[str] = mapped_column(String(120), default="", nullable=False)


class AdjustmentKind(enum.StrEnum):
    TIER = "tier"
    MINIMUM = "minimum"
    CAP = "cap"
    MANUAL = "manual"


class CommissionAdjustment(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """An amount added to (or taken from) a statement: automatic (tier bonus, minimum, cap: rebuilt
    with the statement) or manual (kept across rebuilds, with its reason and author)."""

    __tablename__ = "commission_adjustments"
    __party_column__ = "agency_org_id"
    __table_args__ = (Index("ix_commission_adjustments_statement", "statement_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[int] = mapped_column(BigId, ForeignKey("commission_statements.id"), nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[AdjustmentKind] = mapped_column(
        enum_type(AdjustmentKind, "commission_adjustment_kind"), nullable=False
    )
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # signed
    reason: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId)
