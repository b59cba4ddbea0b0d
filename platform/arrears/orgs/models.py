"""Partnerships between asset owners and agencies, agency teams, and maker-checker approvals
(reused by every flow that needs a second pair of eyes: partnership grants, placements, reductions,
write-offs...). The organisations themselves are the tenants: ``tenancy.models``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.columns import BigId, CreatedAtMixin, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import Organisation, SharedTenantScoped, TenantScoped

if TYPE_CHECKING:
    from arrears.auth.models import User


class PartnershipStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Partnership(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """An asset owner works with an agency. Visible to both parties. ``grants`` are the rights the
    owner gives the agency over the cases it places there (see ``auth.permissions.GRANTABLE``)."""

    __tablename__ = "partnerships"
    __table_args__ = (UniqueConstraint("org_id", "agency_org_id"),)
    __party_column__ = "agency_org_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # org_id (from TenantScoped) is the asset owner.
    agency_org_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organisations.id"), nullable=False, index=True
    )
    status: Mapped[PartnershipStatus] = mapped_column(
        enum_type(PartnershipStatus, "partnership_status"), default=PartnershipStatus.ACTIVE, nullable=False
    )
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    grants: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    note: Mapped[str] = mapped_column(String(500), default="", nullable=False)

    owner: Mapped[Organisation] = relationship(foreign_keys="Partnership.org_id", lazy="joined")
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_org_id], lazy="joined")

    @property
    def owner_org_id(self) -> int:
        return self.org_id

    def is_in_force(self, on: dt.date) -> bool:
        return (
            self.status == PartnershipStatus.ACTIVE
            and self.starts_on <= on
            and (self.ends_on is None or on <= self.ends_on)
        )


class Team(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A group of collectors inside an agency (or an owner's in-house team), with a lead."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    lead_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", use_alter=True))
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"))

    lead: Mapped[User | None] = relationship(foreign_keys=[lead_user_id], post_update=True)
    members: Mapped[list[User]] = relationship(
        back_populates="team", foreign_keys="User.team_id", order_by="User.name"
    )


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
        enum_type(ApprovalStatus, "approval_status"),
        default=ApprovalStatus.PENDING,
        nullable=False,
        index=True,
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
