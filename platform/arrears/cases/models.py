"""Debtors, their contacts, cases (the loan or card account in collection), case history, import
batches and saved column mappings. All owned by the asset owner (``org_id``).

Personal data (ID number, mobile, e-mail, addresses, contacts' phones, face image key) is encrypted
at rest (``EncryptedText``); ID number and mobile also have a blind index (keyed HMAC) for exact
search. Names stay in clear so that they can be searched with LIKE.

A case holds its loan: M-D2's loan/account fields and M-D3's collection fields share one row,
because each imported loan is exactly one case (one debtor may have several).
Days past due is not stored: it is ``business date - due_date``, computed where it is needed, so it
is never stale; the lender's own figure from the file is kept in ``lender_dpd``.
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
    false,
    or_,
    select,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type, utcnow
from arrears.extensions import db
from arrears.security.pii import EncryptedText
from arrears.tenancy.models import SharedTenantScoped, TenantScoped


class Debtor(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "debtors"
    __table_args__ = (
        UniqueConstraint("org_id", "id_number_bidx"),
        UniqueConstraint("org_id", "id"),  # the target of the tenant-pinned keys of cases and contacts
        Index("ix_debtors_org_name", "org_id", "name"),
    )
    __org_id_index__ = False
    # An agency sees the debtor of a case placed with it (and only while it is).
    __rls_using__ = (
        "org_id = arrears_tenant() OR EXISTS (SELECT 1 FROM cases c WHERE c.debtor_id = debtors.id "
        "AND c.agency_org_id = arrears_tenant())"
    )

    @classmethod
    def __tenant_filter__(cls, org_id: int | None) -> Any:
        if org_id is None:
            return false()
        return or_(
            cls.org_id == org_id, cls.id.in_(select(Case.debtor_id).where(Case.agency_org_id == org_id))
        )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    id_number: Mapped[str] = mapped_column(
        EncryptedText(), nullable=False, deferred=True, deferred_group="pii"
    )
    id_number_bidx: Mapped[str] = mapped_column(String(64), nullable=False)
    mobile: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    mobile_bidx: Mapped[str | None] = mapped_column(String(64), index=True)
    email: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    home_address: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    work_address: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    employer: Mapped[str | None] = mapped_column(String(200))
    face_image_key: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    # Masked projections (张*明, 110***********1234...), written with the clear values, so that lists
    # and exports for users without pii.unmask never decrypt anything.
    id_number_masked: Mapped[str | None] = mapped_column(String(32))
    mobile_masked: Mapped[str | None] = mapped_column(String(32))
    email_masked: Mapped[str | None] = mapped_column(String(254))
    home_address_masked: Mapped[str | None] = mapped_column(String(64))
    work_address_masked: Mapped[str | None] = mapped_column(String(64))
    data_hash: Mapped[str] = mapped_column(String(64), default="", nullable=False)  # of the imported fields
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    contacts: Mapped[list[DebtorContact]] = relationship(
        back_populates="debtor",
        primaryjoin="Debtor.id == DebtorContact.debtor_id",
        foreign_keys="DebtorContact.debtor_id",
        cascade="all, delete-orphan",
        order_by="DebtorContact.id",
    )
    cases: Mapped[list[Case]] = relationship(
        back_populates="debtor",
        primaryjoin="Debtor.id == Case.debtor_id",
        foreign_keys="Case.debtor_id",
        order_by="Case.id",
    )


class DebtorContact(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """An emergency contact (spouse, relative, colleague...). Unique per debtor by phone."""

    __tablename__ = "debtor_contacts"
    __table_args__ = (
        UniqueConstraint("debtor_id", "phone_bidx"),
        ForeignKeyConstraint(["org_id", "debtor_id"], ["debtors.org_id", "debtors.id"], ondelete="CASCADE"),
    )
    __org_id_index__ = False
    __org_id_fk__ = False
    __rls_using__ = (
        "org_id = arrears_tenant() OR EXISTS (SELECT 1 FROM cases c "
        "WHERE c.debtor_id = debtor_contacts.debtor_id AND c.agency_org_id = arrears_tenant())"
    )

    @classmethod
    def __tenant_filter__(cls, org_id: int | None) -> Any:
        if org_id is None:
            return false()
        return or_(
            cls.org_id == org_id,
            cls.debtor_id.in_(select(Case.debtor_id).where(Case.agency_org_id == org_id)),
        )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    debtor_id: Mapped[int] = mapped_column(BigId, nullable=False)
    name: Mapped[str] = mapped_column(String(120), default="", nullable=False)
    relation: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    phone: Mapped[str] = mapped_column(EncryptedText(), nullable=False, deferred=True, deferred_group="pii")
    phone_bidx: Mapped[str] = mapped_column(String(64), nullable=False)
    phone_masked: Mapped[str | None] = mapped_column(String(32))

    debtor: Mapped[Debtor] = relationship(
        back_populates="contacts",
        primaryjoin="Debtor.id == DebtorContact.debtor_id",
        foreign_keys=[debtor_id],
    )


class CaseStatus(enum.StrEnum):
    NEW = "new"  # imported, not yet worked or placed
    ACTIVE = "active"  # in collection
    PAUSED = "paused"
    CLOSED = "closed"  # paid off or settled
    WRITTEN_OFF = "written_off"


class Case(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """A loan in collection, owned by the asset owner (``org_id``). While it is placed with an agency,
    ``agency_org_id`` names the agency, which then sees it (and only then: the placement service sets
    and clears it in the transaction that starts or ends the placement). ``assignee_user_id`` is the
    collector holding it inside the holding organisation (the agency, or the owner for in-house cases)."""

    __tablename__ = "cases"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        UniqueConstraint("org_id", "loan_no"),
        UniqueConstraint("org_id", "id"),  # the target of the tenant-pinned key of case events
        ForeignKeyConstraint(["org_id", "debtor_id"], ["debtors.org_id", "debtors.id"]),
        Index("ix_cases_org_due_id", "org_id", "due_date", "id"),
        Index("ix_cases_org_outstanding_id", "org_id", "outstanding", "id"),
        # Only the closed, paused and written-off cases: a filter on the open statuses (most of the
        # cases) is not selective, and allocation and transfers, which rewrite open cases by the
        # hundred thousand, then have one index fewer to update per case (decision 0007).
        Index(
            "ix_cases_org_status",
            "org_id",
            "status",
            postgresql_where=text("status NOT IN ('new', 'active')"),
            sqlite_where=text("status NOT IN ('new', 'active')"),
        ),
        Index(
            "ix_cases_agency_id", "agency_org_id", "id", postgresql_where=text("agency_org_id IS NOT NULL")
        ),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    debtor_id: Mapped[int] = mapped_column(BigId, nullable=False, index=True)
    # no index: nothing looks cases up by their import (batches are never deleted), and each index is a
    # cost on every allocation of the cases (decision 0007)
    import_batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("import_batches.id"))
    # who holds it (see the class docstring); the collector holding it is ``holder`` (case_holders)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    # who held it last (the recycling rules keep a case with them or send it elsewhere)
    previous_agency_org_id: Mapped[int | None] = mapped_column(BigId)
    previous_assignee_user_id: Mapped[int | None] = mapped_column(BigId)
    # loan / account (M-D2)
    loan_no: Mapped[str] = mapped_column(String(64), nullable=False)
    product: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    loan_date: Mapped[dt.date | None] = mapped_column(Date)
    loan_amount: Mapped[Decimal | None] = mapped_column(Money)
    term: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    principal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    interest: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    penalty: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    outstanding: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    # paid beyond what is owed (an overpayment), kept for the debtor: never lost (cases.ledger)
    credit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), server_default="0", nullable=False)
    lender_total: Mapped[Decimal | None] = mapped_column(Money)  # the file's own total, if any
    lender_dpd: Mapped[int | None] = mapped_column(Integer)  # the file's own days past due, if any
    currency: Mapped[str] = mapped_column(String(3), default="CNY", nullable=False)
    account_no: Mapped[str | None] = mapped_column(String(64))
    card_no_masked: Mapped[str | None] = mapped_column(String(32))
    card_type: Mapped[str | None] = mapped_column(String(32))
    statement_date: Mapped[dt.date | None] = mapped_column(Date)
    min_payment: Mapped[Decimal | None] = mapped_column(Money)
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # collection (M-D3)
    status: Mapped[CaseStatus] = mapped_column(
        enum_type(CaseStatus, "case_status"), default=CaseStatus.NEW, nullable=False
    )
    province: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    city: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    region: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    # the workbench's sort keys, kept by the collection work on the case (work.notes, promises):
    # the next follow-up date, the due date of the pending promise, the last time someone was reached
    next_action_on: Mapped[dt.date | None] = mapped_column(Date)
    promise_due_on: Mapped[dt.date | None] = mapped_column(Date)
    last_contact_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # unmapped columns
    row_hash: Mapped[str] = mapped_column(String(64), default="", nullable=False)  # of the last imported row
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )

    debtor: Mapped[Debtor] = relationship(
        back_populates="cases",
        lazy="joined",
        primaryjoin="Debtor.id == Case.debtor_id",
        foreign_keys=[debtor_id],
    )
    # the collector working it, while one does (read-only here: allocation.assignments and the
    # allocation write case_holders with set-based statements)
    holder: Mapped[CaseHolder | None] = relationship(
        lazy="joined",
        primaryjoin="CaseHolder.case_id == Case.id",
        foreign_keys="CaseHolder.case_id",
        uselist=False,
        viewonly=True,
    )

    def days_past_due(self, business_date: dt.date) -> int:
        return max(0, (business_date - self.due_date).days)

    # Who works the case, read through its holder row. In SQL these are subqueries correlated to the
    # enclosing statement's cases (however deep), right for any expression; the hot paths (the case
    # scope, the lists, allocation) semi-join case_holders instead (``cases.scopes``).
    @hybrid_property
    def assignee_user_id(self) -> int | None:
        return self.holder.assignee_user_id if self.holder is not None else None

    @assignee_user_id.inplace.expression
    @classmethod
    def _assignee_user_id_expression(cls) -> Any:
        return (
            select(CaseHolder.assignee_user_id)
            .where(CaseHolder.case_id == cls.id)
            .correlate_except(CaseHolder)
            .scalar_subquery()
        )

    @hybrid_property
    def team_id(self) -> int | None:
        return self.holder.team_id if self.holder is not None else None

    @team_id.inplace.expression
    @classmethod
    def _team_id_expression(cls) -> Any:
        return (
            select(CaseHolder.team_id)
            .where(CaseHolder.case_id == cls.id)
            .correlate_except(CaseHolder)
            .scalar_subquery()
        )

    @hybrid_property
    def assigned_at(self) -> dt.datetime | None:
        return self.holder.assigned_at if self.holder is not None else None

    @assigned_at.inplace.expression
    @classmethod
    def _assigned_at_expression(cls) -> Any:
        return (
            select(CaseHolder.assigned_at)
            .where(CaseHolder.case_id == cls.id)
            .correlate_except(CaseHolder)
            .scalar_subquery()
        )


class CaseHolder(SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """The collector working a case inside the organisation holding it. No row: the case waits in the
    holding organisation's pool (or is not placed, or was recalled). A row without a collector: it
    waits in a team's pool (a team lead sent it back there), still the team's.

    Kept apart from the wide ``cases`` row so that a dispatch of 100,000 cases writes 100,000 narrow
    rows into two indexes instead of new versions of the cases into seven (decision 0007). The row
    names the holding organisation (``agency_org_id``, NULL in-house) for the walls; a case changes
    agency only through a recall, which deletes its holder row first.

    No foreign keys: rows are written only by the allocation and assignment services, from the case
    rows (and their ``org_id``) the same statement reads and from collectors they have just checked;
    users, teams and cases are never deleted. Each key cost a look-up per row on every dispatch."""

    __tablename__ = "case_holders"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        Index("ix_case_holders_assignee", "assignee_user_id", "case_id"),
        # a team lead's view of the teams they lead (10,000 cases a team)
        Index("ix_case_holders_team", "team_id", "case_id", postgresql_where=text("team_id IS NOT NULL")),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    case_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)
    assignee_user_id: Mapped[int | None] = mapped_column(BigId)
    team_id: Mapped[int | None] = mapped_column(BigId)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CaseEvent(TenantScoped, db.Model):  # type: ignore[name-defined]
    """The history of a case: created by an import, changed by a later import or an edit."""

    __tablename__ = "case_events"
    __table_args__ = (
        Index("ix_case_events_case", "case_id", "id"),
        ForeignKeyConstraint(["org_id", "case_id"], ["cases.org_id", "cases.id"], ondelete="CASCADE"),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # imported / updated / edited
    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    import_batch_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("import_batches.id"))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportBatch(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    storage_key: Mapped[str | None] = mapped_column(String(300))
    dry_run: Mapped[bool] = mapped_column(default=False, nullable=False)
    status: Mapped[ImportStatus] = mapped_column(
        enum_type(ImportStatus, "import_status"), default=ImportStatus.QUEUED, nullable=False
    )
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    # Counts and errors with personal data masked; the errors in clear, the rejected rows and the
    # headers are in ``details``, encrypted (JSON text).
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    details: Mapped[str | None] = mapped_column(EncryptedText(), deferred=True, deferred_group="pii")
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    job_id: Mapped[str | None] = mapped_column(String(36))


class ImportMapping(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A named column mapping (template) an owner saved for its files: ``{field: header}``."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))


class PostingKind(enum.StrEnum):
    OPENING = "opening"  # the balances when money first moved on the case
    PAYMENT = "payment"
    REVERSAL = "reversal"  # undoes a payment's posting
    WAIVER = "waiver"  # an approved reduction (减免)
    ADJUSTMENT = "adjustment"  # the lender's file changed the balances (a later import)


class Posting(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """One journal line: signed changes to the components and the credit. Append-only (a trigger).
    No foreign key to the case: a posting is written only under its case's row lock, by the service
    that has just read the case (decision 0008)."""

    __tablename__ = "ledger_postings"
    __party_column__ = "agency_org_id"
    __table_args__ = (
        Index("ix_ledger_postings_case", "case_id", "id"),
        Index(
            "ix_ledger_postings_repayment",
            "repayment_id",
            postgresql_where=text("repayment_id IS NOT NULL"),
        ),
        # one opening per case (the apply job writes it under the case's row lock)
        Index(
            "uq_ledger_postings_opening",
            "case_id",
            unique=True,
            postgresql_where=text("kind = 'opening'"),
            sqlite_where=text("kind = 'opening'"),
        ),
    )
    __org_id_index__ = False
    __org_id_fk__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId)  # the agency credited with a payment
    kind: Mapped[PostingKind] = mapped_column(enum_type(PostingKind, "posting_kind"), nullable=False)
    repayment_id: Mapped[int | None] = mapped_column(BigId)
    application_id: Mapped[int | None] = mapped_column(BigId)
    actor_user_id: Mapped[int | None] = mapped_column(BigId)
    principal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    interest: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    penalty: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    credit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
