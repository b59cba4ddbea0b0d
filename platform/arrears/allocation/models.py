"""Placements (委外) and allocation (分案): an asset owner places cases with agencies for a period; an
agency dispatches them to its collectors; both by strategies whose runs are previewed, approved,
applied and logged.

The agency holding a case is kept on the case itself (``cases.agency_org_id``) so that the visibility
rule is one indexed predicate; the collector working it inside the holding organisation is its
holder row (``case_holders``: collector, team, since when), kept apart from the wide case row so that
dispatching writes narrow rows (decision 0007). The placement rows are the record of the periods
(``placement_cases``), written in the same transaction as the case columns.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    false,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.auth.models import User
from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import Organisation, SharedTenantScoped, TenantScoped


class PlacementStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for approval (委案审批)
    ACTIVE = "active"  # in placement (委外中)
    ENDED = "ended"  # reached its end date (委外结束)
    RECALLED = "recalled"  # every case taken back before the end (退案)
    REJECTED = "rejected"  # the approval was refused


class Placement(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """A placement batch: cases placed with one agency for a period, under a partnership. Both the
    owner (``org_id``) and the agency see the batch; the agency sees its cases only while active."""

    __tablename__ = "placements"
    __party_column__ = "agency_org_id"
    __table_args__ = (Index("ix_placements_org_status", "org_id", "status"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agency_org_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organisations.id"), nullable=False, index=True
    )
    partnership_id: Mapped[int] = mapped_column(BigId, ForeignKey("partnerships.id"), nullable=False)
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("allocation_runs.id"))
    name: Mapped[str] = mapped_column(String(120), default="", nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[PlacementStatus] = mapped_column(
        enum_type(PlacementStatus, "placement_status"), default=PlacementStatus.PENDING, nullable=False
    )
    case_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)  # outstanding placed
    approval_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("approvals.id"))
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str] = mapped_column(String(300), default="", nullable=False)

    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_org_id], lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class PlacementCaseStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    ENDED = "ended"
    RECALLED = "recalled"
    CANCELLED = "cancelled"  # the placement was rejected before it started


class PlacementCase(SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """One case in one placement: the period an agency held it, and what it was when placed (the
    bucket and the outstanding amount, which commission uses). At most one pending or active row
    per case. The agency sees its rows only while they are active."""

    __tablename__ = "placement_cases"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "case_id"], ["cases.org_id", "cases.id"]),
        Index("ix_placement_cases_placement", "placement_id", "id"),
        Index("ix_placement_cases_case", "case_id", "id"),
        Index(
            "uq_placement_cases_open",
            "case_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'active')"),
            sqlite_where=text("status IN ('pending', 'active')"),
        ),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    placement_id: Mapped[int] = mapped_column(BigId, ForeignKey("placements.id"), nullable=False)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int] = mapped_column(BigId, ForeignKey("organisations.id"), nullable=False)
    status: Mapped[PlacementCaseStatus] = mapped_column(
        enum_type(PlacementCaseStatus, "placement_case_status"),
        default=PlacementCaseStatus.PENDING,
        nullable=False,
    )
    bucket: Mapped[str] = mapped_column(String(8), nullable=False)  # at placement (M1, M2, ...)
    dpd: Mapped[int] = mapped_column(Integer, nullable=False)  # days past due at placement
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # outstanding at placement
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str] = mapped_column(String(300), default="", nullable=False)

    @classmethod
    def __tenant_filter__(cls, org_id: int | None) -> Any:

        if org_id is None:
            return false()
        return or_(
            cls.org_id == org_id, and_(cls.agency_org_id == org_id, cls.status == PlacementCaseStatus.ACTIVE)
        )


PlacementCase.__rls_using__ = (
    "org_id = arrears_tenant() OR (agency_org_id = arrears_tenant() AND status = 'active')"
)


class AllocationLevel(enum.StrEnum):
    PLACEMENT = "placement"  # an asset owner's cases to agencies
    DISPATCH = "dispatch"  # an agency's placed cases (or an owner's in-house cases) to collectors


class AllocationStrategy(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A named, versioned strategy (分案策略): an ordered list of rules. Each change is a new version
    with who, when and a readable diff (策略调整日志)."""

    __tablename__ = "allocation_strategies"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    level: Mapped[AllocationLevel] = mapped_column(
        enum_type(AllocationLevel, "allocation_level"), nullable=False
    )
    version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    archived: Mapped[bool] = mapped_column(default=False, nullable=False)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    versions: Mapped[list[AllocationStrategyVersion]] = relationship(
        back_populates="strategy", order_by="AllocationStrategyVersion.version.desc()"
    )


class AllocationStrategyVersion(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "allocation_strategy_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    strategy_id: Mapped[int] = mapped_column(BigId, ForeignKey("allocation_strategies.id"), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    changes: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)  # readable diff lines
    note: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))

    strategy: Mapped[AllocationStrategy] = relationship(back_populates="versions")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")


class RunStatus(enum.StrEnum):
    PREVIEWED = "previewed"  # 预分案: computed, nothing written to the cases
    PENDING_APPROVAL = "pending_approval"  # 预分案结果审核
    APPROVED = "approved"
    APPLYING = "applying"
    APPLIED = "applied"
    REJECTED = "rejected"
    DISCARDED = "discarded"
    FAILED = "failed"


class AllocationRun(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """One run of a strategy over a set of cases: its preview (the results, per case), its approval
    and its application. ``summary`` holds per-target counts and amounts and the unallocated reasons."""

    __tablename__ = "allocation_runs"
    __table_args__ = (Index("ix_allocation_runs_org_created", "org_id", "id"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    level: Mapped[AllocationLevel] = mapped_column(
        enum_type(AllocationLevel, "allocation_level"), nullable=False
    )
    # the strategy and version it ran (none for a placement or dispatch of selected cases)
    strategy_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("allocation_strategies.id"))
    strategy_version: Mapped[int | None] = mapped_column(Integer)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)  # as run
    status: Mapped[RunStatus] = mapped_column(
        enum_type(RunStatus, "allocation_run_status"), default=RunStatus.PREVIEWED, nullable=False
    )
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # the case filter
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)  # placement runs: the period
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    case_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    allocated_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    applied_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    approval_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("approvals.id"))
    job_id: Mapped[str | None] = mapped_column(String(64))
    applied_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    strategy: Mapped[AllocationStrategy | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")


class ResultStatus(enum.StrEnum):
    PLANNED = "planned"  # previewed to a target
    UNALLOCATED = "unallocated"  # no rule or no target could take it (reason)
    APPLIED = "applied"
    SKIPPED = "skipped"  # changed between preview and apply (reason)


class AllocationResult(TenantScoped, db.Model):  # type: ignore[name-defined]
    """One case in one run (分案结果日志): where the preview sent it and why, and what apply did.
    ``snapshot`` is what the case was at preview (status, holder, outstanding): apply writes only the
    cases that still match it.

    Apply rewrites only the rows it skips (``skipped``, with the reason): a ``planned`` row of an
    applied run was applied, and the log reads it so (``allocation.log.shown_status``).
    Rewriting every row to ``applied`` was a second write of the whole plan (decision 0007).

    No foreign keys: the rows are written by the preview alone, in the transaction that inserts their
    run, under row-level security (``org_id`` is the tenant's); keys to the run and to organisations
    would only repeat that, at a look-up each per row of a 100,000-case plan (decision 0007)."""

    __tablename__ = "allocation_results"
    __table_args__ = (
        UniqueConstraint("run_id", "case_id"),
        Index("ix_allocation_results_case", "case_id", "id"),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigId, nullable=False)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    status: Mapped[ResultStatus] = mapped_column(
        enum_type(ResultStatus, "allocation_result_status"), nullable=False
    )
    target_id: Mapped[int | None] = mapped_column(BigId)  # the agency (placement) or the collector (dispatch)
    rule: Mapped[int | None] = mapped_column(Integer)  # index of the rule that placed it
    reason: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    dpd: Mapped[int] = mapped_column(Integer, nullable=False)
    snapshot_status: Mapped[str] = mapped_column(String(16), nullable=False)
    snapshot_holder: Mapped[str] = mapped_column(String(32), default="", nullable=False)


class AssignmentKind(enum.StrEnum):
    DISPATCH = "dispatch"  # 分派 (by strategy or by selection): a run's results, read as log lines
    TRANSFER = "transfer"  # 转派, with a reason
    UNASSIGN = "unassign"  # back to the pool
    RECALL = "recall"  # the placement ended or was recalled


class CaseAssignment(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The append-only log of who held a case inside the holding organisation (the agency, or the
    owner for in-house cases). ``org_id`` is that organisation; the owner's own log is the placements.
    The lines here are the moves by hand (transfer, back to the pool) and the recalls; a dispatch run's
    lines are its planned results (``allocation_results``), which ``allocation.assignments.log_lines``
    reads beside these, so that dispatching 100,000 cases does not write the plan twice (decision 0007).

    No foreign keys. Every line is written by the statement that moves the case, from the case row it
    moves (``case_id``, the holder it had: ``from_user_id``), the collector the service has just checked
    (``to_user_id``), the acting user and the run being applied; cases, users and runs are never deleted,
    and row-level security pins ``org_id`` to the tenant on insert. The six plain keys repeated those
    guarantees (none of them pinned a tenant) at a look-up each per line: 2.5 s of a 100,000-case
    dispatch (decision 0007)."""

    __tablename__ = "case_assignments"
    __table_args__ = (
        Index("ix_case_assignments_case", "case_id", "id"),
        Index("ix_case_assignments_org", "org_id", "id"),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    kind: Mapped[AssignmentKind] = mapped_column(enum_type(AssignmentKind, "assignment_kind"), nullable=False)
    from_user_id: Mapped[int | None] = mapped_column(BigId)
    to_user_id: Mapped[int | None] = mapped_column(BigId)
    run_id: Mapped[int | None] = mapped_column(BigId)
    actor_user_id: Mapped[int | None] = mapped_column(BigId)
    reason: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
