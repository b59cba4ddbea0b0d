"""Repayments (还款) and the ledger of postings that moves a loan's balances.

A **repayment** is one payment event, owned by the case's owner (``org_id``): the lender's core
system reports it (over ``POST /api/v1/repayments`` or in a statement), a collector reports it (an
approved repayment application, waiting for the owner's audit), or the owner's staff enter it.
``(org_id, origin, external_id)`` is unique: the core system's transaction id is one namespace
whether the event came over the API or in a statement, so the same payment is recorded once however
it arrives (decision 0008). The agency and the collector holding the case when it was paid are
written on the repayment when it is applied (commission needs them); the agency then sees it.

A **posting** is one append-only journal line on a case: the change it made to each balance
component (signed: a payment takes off, a reversal puts back) and to the debtor's credit
(overpayment). Per case, the postings sum to the balances (an ``opening`` posting records the
balances the first time money moves), and a payment's postings sum to its amount. Nothing updates
or deletes a posting: a reversal is a new posting.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import SharedTenantScoped, TenantScoped

ZERO = Decimal("0")


class RepaymentSource(enum.StrEnum):
    API = "api"  # the core system, over /api/v1/repayments
    STATEMENT = "statement"  # a core-system statement, imported or reconciled
    COLLECTOR = "collector"  # an approved repayment application (还款申请)
    MANUAL = "manual"  # entered by the owner's staff


class RepaymentStatus(enum.StrEnum):
    RECEIVED = "received"  # recorded, waiting for the job that applies it
    PENDING_AUDIT = "pending_audit"  # a collector's report, waiting for the owner (还款审核)
    CONFIRMED = "confirmed"  # applied to the loan
    MATCHED = "matched"  # a collector's report the core system's record confirmed (that one is applied)
    REJECTED = "rejected"
    REVERSED = "reversed"  # applied, then undone (chargeback, bounced payment)


# the namespace of ``external_id`` per source: the core system's transaction ids are one
ORIGINS = {
    RepaymentSource.API: "core",
    RepaymentSource.STATEMENT: "core",
    RepaymentSource.COLLECTOR: "collector",
    RepaymentSource.MANUAL: "manual",
}


class Repayment(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "repayments"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        UniqueConstraint("org_id", "origin", "external_id", name="uq_repayments_txn"),
        Index("ix_repayments_case", "case_id", "id"),
        Index("ix_repayments_org_paid", "org_id", "paid_at"),
        # the apply job claims the received rows of a tenant, oldest first
        Index(
            "ix_repayments_received",
            "org_id",
            "id",
            postgresql_where=text("status = 'received'"),
            sqlite_where=text("status = 'received'"),
        ),
        # the collectors' reports waiting for the owner, by case (matched as core records arrive)
        Index(
            "ix_repayments_pending_audit",
            "case_id",
            postgresql_where=text("status = 'pending_audit'"),
            sqlite_where=text("status = 'pending_audit'"),
        ),
        Index(
            "ix_repayments_agency_paid",
            "agency_org_id",
            "paid_at",
            postgresql_where=text("agency_org_id IS NOT NULL"),
        ),
        Index(
            "ix_repayments_collector_paid",
            "collector_user_id",
            "paid_at",
            postgresql_where=text("collector_user_id IS NOT NULL"),
        ),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    # No foreign keys to cases or users (decision 0008): each was a look-up and a row lock (FOR KEY
    # SHARE, a write on the case's heap page) per recorded event. A repayment's case is the owner's
    # case the recording request has just looked up by loan number (``org_id`` pinned by row-level
    # security); cases and users are never deleted.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    source: Mapped[RepaymentSource] = mapped_column(
        enum_type(RepaymentSource, "repayment_source"), nullable=False
    )
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # ORIGINS[source]
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the transaction id
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    channel: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    status: Mapped[RepaymentStatus] = mapped_column(
        enum_type(RepaymentStatus, "repayment_status"), default=RepaymentStatus.RECEIVED, nullable=False
    )
    # attribution, when applied: who held the case when it was paid (payments.repayments)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    collector_user_id: Mapped[int | None] = mapped_column(BigId)
    placement_case_id: Mapped[int | None] = mapped_column(BigId)
    promise_id: Mapped[int | None] = mapped_column(BigId)  # the promise it counted towards
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # a collector's report: its application, and the core record that matched it
    application_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("applications.id"))
    matched_id: Mapped[int | None] = mapped_column(BigId)
    created_by_id: Mapped[int | None] = mapped_column(BigId)
    decided_by_id: Mapped[int | None] = mapped_column(BigId)  # audit / reversal
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(300), default="", nullable=False)


class IdempotencyKey(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """An ``Idempotency-Key`` a client sent with a write: the request's digest and the answer given,
    written in the request's transaction, so a retry gets the same answer and does nothing again."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("org_id", "scope", "key"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), nullable=False)  # the operation
    key: Mapped[str] = mapped_column(String(200), nullable=False)
    request_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(default=200, nullable=False)
    response: Mapped[str] = mapped_column(String, default="", nullable=False)  # JSON text
