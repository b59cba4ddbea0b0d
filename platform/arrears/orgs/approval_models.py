"""Maker-checker approvals, reused by every flow that needs a second pair of eyes (partnership
grants now; placements, reductions and write-offs later)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.auth.models import User
from arrears.columns import BigId, CreatedAtMixin, SharedTenantScoped, UTCDateTime
from arrears.extensions import db
from arrears.orgs.models import Organisation, _enum


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Approval(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """``org_id`` is the organisation that must decide; ``requester_org_id`` the one that asked
    (the same one for an internal approval, the agency when it asks its asset owner). Both see it."""

    __tablename__ = "approvals"
    __party_column__ = "requester_org_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    requester_org_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organisations.id"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    subject_type: Mapped[str] = mapped_column(String(64), nullable=False)
    subject_id: Mapped[str] = mapped_column(String(64), nullable=False)
    summary: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[ApprovalStatus] = mapped_column(
        _enum(ApprovalStatus, "approval_status"), default=ApprovalStatus.PENDING, nullable=False, index=True
    )
    requested_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    # A request decided level by level (an application: team lead, agency manager, asset owner):
    # ``stages`` the levels it must pass in order, ``stage`` the one deciding now, ``trail`` who
    # passed it on at each level. Empty for a single decision.
    stages: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    stage: Mapped[str | None] = mapped_column(String(32))
    trail: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)

    requester_org: Mapped[Organisation] = relationship(foreign_keys=[requester_org_id], lazy="joined")
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")
