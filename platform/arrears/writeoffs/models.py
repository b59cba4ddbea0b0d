"""Write-off (核销): the owner's rules for which loans may be written off, proposals waiting for
maker-checker approval, and the write-off ledger (核销台账).

A **rule** (核销案件配置) describes candidates: days past due at least N, no payment for M days,
optionally some products and an amount range. The candidate query (核销案件查询) lists the owner's
open cases some active rule matches.

A **proposal** is one case proposed for write-off, with the balances it had when proposed; a batch of
proposals (one, or many at once) waits for one approval (``approvals`` kind ``writeoff.batch``),
decided by a checker other than the maker, and by a second checker when the batch's total is above
the owner's threshold. Only an approved batch posts.

A **write-off** is one registered line of the ledger: the amounts written off by component, the date,
who proposed and who approved, the reason. The debtor still owes the money: the case keeps its
balances, its status becomes ``written_off``, and payments after it are **recoveries** (回收), which
together can never exceed the amount written off (a check constraint). A write-off can be reversed
with approval: the case returns to the status it had, the ledger line is marked reversed (never
deleted).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import TenantScoped

ZERO = Decimal("0")


class WriteOffRule(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """One rule of the owner's write-off configuration (核销案件配置)."""

    __tablename__ = "write_off_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    dpd_min: Mapped[int] = mapped_column(Integer, default=180, nullable=False)
    # no confirmed payment for this many days (None: not a condition)
    quiet_days: Mapped[int | None] = mapped_column(Integer)
    products: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)  # empty: any
    amount_min: Mapped[Decimal | None] = mapped_column(Money)
    amount_max: Mapped[Decimal | None] = mapped_column(Money)
    # what happens to an agency's placement when the case is written off: released, or kept for
    # post-write-off recovery (the agency keeps working it; payments are recoveries)
    keep_placement: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ProposalStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the batch's approval
    REGISTERED = "registered"  # approved and written in the ledger
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # the maker withdrew the batch
    LAPSED = "lapsed"  # approved, but the case was paid off or written off meanwhile


class WriteOffProposal(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "write_off_proposals"
    __table_args__ = (
        Index("ix_write_off_proposals_approval", "approval_id"),
        # one proposal waiting per case
        Index(
            "uq_write_off_proposals_pending",
            "case_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    approval_id: Mapped[int] = mapped_column(BigId, ForeignKey("approvals.id"), nullable=False)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    rule_id: Mapped[int | None] = mapped_column(BigId)
    status: Mapped[ProposalStatus] = mapped_column(
        enum_type(ProposalStatus, "write_off_proposal_status"), default=ProposalStatus.PENDING, nullable=False
    )
    # the balances when proposed (registration writes off the balances at approval)
    principal: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    interest: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    penalty: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    total: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    keep_placement: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    proposed_by_id: Mapped[int] = mapped_column(BigId, nullable=False)
    write_off_id: Mapped[int | None] = mapped_column(BigId)


class WriteOffStatus(enum.StrEnum):
    REGISTERED = "registered"
    REVERSED = "reversed"


class WriteOff(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """One line of the write-off ledger (核销台账)."""

    __tablename__ = "write_offs"
    __table_args__ = (
        Index("ix_write_offs_org_date", "org_id", "written_off_on"),
        Index("ix_write_offs_case", "case_id"),
        # one registered write-off per case at a time
        Index(
            "uq_write_offs_registered",
            "case_id",
            unique=True,
            postgresql_where=text("status = 'registered'"),
            sqlite_where=text("status = 'registered'"),
        ),
        CheckConstraint("recovered >= 0 AND recovered <= total", name="recovered_within_total"),
    )
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    proposal_id: Mapped[int | None] = mapped_column(BigId)
    approval_id: Mapped[int | None] = mapped_column(BigId)
    rule_id: Mapped[int | None] = mapped_column(BigId)
    written_off_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    principal: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    interest: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    penalty: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    total: Mapped[Decimal] = mapped_column(Money, nullable=False)
    recovered: Mapped[Decimal] = mapped_column(Money, default=ZERO, nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    proposed_by_id: Mapped[int | None] = mapped_column(BigId)
    # who approved, in order: [{"by": id, "name": ..., "stage": ..., "at": ...}]
    approvers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    previous_status: Mapped[str] = mapped_column(String(32), nullable=False)  # restored on reversal
    agency_org_id: Mapped[int | None] = mapped_column(BigId)  # the agency holding it, when written off
    keep_placement: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[WriteOffStatus] = mapped_column(
        enum_type(WriteOffStatus, "write_off_status"), default=WriteOffStatus.REGISTERED, nullable=False
    )
    reversed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reversal_approval_id: Mapped[int | None] = mapped_column(BigId)
    reversal_reason: Mapped[str] = mapped_column(String(1000), default="", nullable=False)


class WriteOffRecovery(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A payment after write-off, counted against the write-off (up to what is left of it); a
    reversed payment adds a negative line. Append-only."""

    __tablename__ = "write_off_recoveries"
    __table_args__ = (
        Index("ix_write_off_recoveries_write_off", "write_off_id", "id"),
        Index("uq_write_off_recoveries_repayment", "repayment_id", "amount_sign", unique=True),
    )
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    write_off_id: Mapped[int] = mapped_column(BigId, ForeignKey("write_offs.id"), nullable=False)
    repayment_id: Mapped[int] = mapped_column(BigId, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # signed
    amount_sign: Mapped[int] = mapped_column(Integer, nullable=False)  # 1 recovery, -1 its reversal
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
