"""Collection work on a case (催收作业): notes with result codes, promises to pay, applications,
reminders, calls, letters and attachments.

Every row here belongs to the case's owner (``org_id``, pinned to the case by the composite key) and
names the organisation whose people did the work (``agency_org_id``: the agency that held the case,
or NULL for the owner's in-house collectors). The owner sees the work done on its cases; an agency
sees only its own work, never another agency's on the same case. Whether a person may open a case
at all is the case scope (``cases.scopes.case_scope``), checked by every service before it reads
or writes work on it: a collector works only the cases assigned to them.

Notes are append-only: a correction is a new note that names the one it corrects.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from arrears.columns import BigId, CreatedAtMixin, Money, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import SharedTenantScoped, TenantScoped


def _case_key() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["org_id", "case_id"], ["cases.org_id", "cases.id"])


class CaseWork(SharedTenantScoped):
    """Owned by the case's owner, shared with the agency that did the work."""

    __party_column__ = "agency_org_id"
    __org_id_index__ = False
    __org_id_fk__ = False


# --- result codes -------------------------------------------------------------------------------------


class NoteAction(enum.StrEnum):
    CALL = "call"
    SMS = "sms"
    LETTER = "letter"
    VISIT = "visit"
    OTHER = "other"


class ContactParty(enum.StrEnum):
    """Who was reached. Recorded because contacting third parties is regulated (M-Q1)."""

    DEBTOR = "debtor"
    SPOUSE = "spouse"
    RELATIVE = "relative"
    COLLEAGUE = "colleague"
    THIRD_PARTY = "third_party"
    NONE = "none"  # nobody was reached


class ResultCode(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """An organisation's own result code, or its change to a built-in one (same ``code``): the label,
    whether it is offered, whether it counts as a contact. The built-in set is
    ``work.notes.DEFAULT_CODES``; an organisation without rows uses it as it is."""

    __tablename__ = "result_codes"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False)
    label: Mapped[str] = mapped_column(String(80), nullable=False)
    contacted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # someone was reached
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    position: Mapped[int] = mapped_column(Integer, default=100, nullable=False)


# --- notes --------------------------------------------------------------------------------------------


class CollectionNote(CaseWork, db.Model):  # type: ignore[name-defined]
    """催记: one action on a case and its result. Append-only."""

    __tablename__ = "collection_notes"
    __table_args__ = (
        _case_key(),
        Index("ix_collection_notes_case", "case_id", "id"),
        Index("ix_collection_notes_author", "author_user_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    author_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    action: Mapped[NoteAction] = mapped_column(enum_type(NoteAction, "note_action"), nullable=False)
    party: Mapped[ContactParty] = mapped_column(enum_type(ContactParty, "contact_party"), nullable=False)
    result_code: Mapped[str] = mapped_column(String(32), nullable=False)
    contacted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)  # from the code
    text: Mapped[str] = mapped_column(Text, default="", nullable=False)
    follow_up_on: Mapped[dt.date | None] = mapped_column(Date)
    corrects_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("collection_notes.id"))
    call_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


# --- promises -----------------------------------------------------------------------------------------


class PromiseStatus(enum.StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    PARTLY_KEPT = "partly_kept"
    BROKEN = "broken"


class Promise(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """承诺还款: an amount by a date. The daily job (or a person, until repayments feed it) says
    whether it was kept."""

    __tablename__ = "promises"
    __table_args__ = (
        _case_key(),
        Index("ix_promises_case", "case_id", "id"),
        Index("ix_promises_collector_due", "collector_user_id", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    collector_user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    note_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("collection_notes.id"))
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    due_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[PromiseStatus] = mapped_column(
        enum_type(PromiseStatus, "promise_status"), default=PromiseStatus.PENDING, nullable=False
    )
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))  # by hand


# --- reminders ----------------------------------------------------------------------------------------


class ReminderKind(enum.StrEnum):
    FOLLOW_UP = "follow_up"  # the next follow-up date of a note
    PROMISE_DUE = "promise_due"
    PROMISE_BROKEN = "promise_broken"
    APPLICATION = "application"  # an application was decided
    OTHER = "other"


class Reminder(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """提醒: something a person must do on a case on a day."""

    __tablename__ = "reminders"
    __table_args__ = (
        _case_key(),
        Index("ix_reminders_user_due", "user_id", "done", "due_on"),
        Index("ix_reminders_case", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    kind: Mapped[ReminderKind] = mapped_column(enum_type(ReminderKind, "reminder_kind"), nullable=False)
    due_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    text: Mapped[str] = mapped_column(String(300), default="", nullable=False)
    done: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    snoozed: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # how many times
    promise_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("promises.id"))


# --- applications -------------------------------------------------------------------------------------


class ApplicationKind(enum.StrEnum):
    REPAYMENT = "repayment"  # 还款申请: a payment the collector reports, with evidence
    REDUCTION = "reduction"  # 减免申请: waive penalty, interest or fee


class ApplicationStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Application(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """申请: decided through the approvals (``approval_id``), level by level up to the one the amount
    needs (the owner's thresholds). A reduction names what it waives per balance component."""

    __tablename__ = "applications"
    __table_args__ = (
        _case_key(),
        Index("ix_applications_case", "case_id", "id"),
        Index("ix_applications_requester", "requested_by_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    kind: Mapped[ApplicationKind] = mapped_column(
        enum_type(ApplicationKind, "application_kind"), nullable=False
    )
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_type(ApplicationStatus, "application_status"), default=ApplicationStatus.PENDING, nullable=False
    )
    requested_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # paid, or waived in all
    # a reduction: what it waives of each component (penalty, interest, fee), summing to ``amount``
    waive_penalty: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    waive_interest: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    waive_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"), nullable=False)
    # a repayment: when and how it was paid
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), default="", nullable=False)
    required_level: Mapped[str] = mapped_column(String(32), nullable=False)  # see work.applications
    approval_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("approvals.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(String(1000), default="", nullable=False)


# --- calls --------------------------------------------------------------------------------------------


class CallResult(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    SWITCHED_OFF = "switched_off"
    WRONG_NUMBER = "wrong_number"
    FAILED = "failed"


class Call(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """A phone call on a case: placed through the call-centre adapter, or logged by hand."""

    __tablename__ = "calls"
    __table_args__ = (_case_key(), Index("ix_calls_case", "case_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)  # sandbox, manual, ...
    external_id: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    contact_id: Mapped[int | None] = mapped_column(BigId)  # debtor_contacts.id dialled, if any
    number_masked: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_s: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    result: Mapped[CallResult | None] = mapped_column(enum_type(CallResult, "call_result"))
    recording_ref: Mapped[str] = mapped_column(String(300), default="", nullable=False)


# --- letters and attachments --------------------------------------------------------------------------


class LetterTemplate(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """信函模板: an owner's letter with placeholders (``{{ debtor_name }}``, ``{{ outstanding }}``...)."""

    __tablename__ = "letter_templates"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    __org_id_index__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), default="", nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))


class Attachment(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """A file on a case: evidence of a payment, a generated letter, a document. The bytes are in
    storage under the owner's prefix (``tenants/<owner>/cases/<case>/...``)."""

    __tablename__ = "attachments"
    __table_args__ = (_case_key(), Index("ix_attachments_case", "case_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    uploaded_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # evidence, letter, document
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(300), nullable=False)
    application_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("applications.id"))


class Letter(CaseWork, CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """A letter generated for a case from a template: the PDF is an attachment."""

    __tablename__ = "letters"
    __table_args__ = (_case_key(), Index("ix_letters_case", "case_id", "id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, nullable=False)
    agency_org_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("organisations.id"))
    template_id: Mapped[int] = mapped_column(BigId, ForeignKey("letter_templates.id"), nullable=False)
    generated_by_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), nullable=False)
    attachment_id: Mapped[int] = mapped_column(BigId, ForeignKey("attachments.id"), nullable=False)
    note_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("collection_notes.id"))
    job_id: Mapped[str | None] = mapped_column(String(64))  # a bulk generation
