"""A commission statement's life after its settlement: adjustments (with their reason), the owner's
approval, and the payment; a closed statement never changes."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    select,
)

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.columns import utcnow
from arrears.commission.commission import settle
from arrears.commission.models import (
    AdjustmentKind,
    CommissionAdjustment,
    CommissionStatement,
    StatementStatus,
)
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.money import parse_amount
from arrears.kernel.transaction import transaction

# --- a statement's life: adjustments, approval, payment ------------------------------------------------


def _own_statement(actor: User, statement: CommissionStatement, permission: str) -> None:
    require(actor, permission)
    if statement.org_id != actor.org_id:
        # the payee sees its statement but never acts on it
        raise PermissionDenied(_("Only the paying organisation acts on a statement."))


def _locked_statement(statement_id: int) -> CommissionStatement:
    row = db.session.scalar(
        select(CommissionStatement)
        .where(CommissionStatement.id == statement_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(_("Not found."))
    return row


def add_adjustment(
    actor: User, statement: CommissionStatement, amount: Any, reason: str
) -> CommissionAdjustment:
    """A manual adjustment of a draft (signed: a deduction is negative), kept across rebuilds."""
    _own_statement(actor, statement, "commission.manage")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the statement is adjusted."), field="reason")
    text = str(amount).strip()
    negative = text.startswith("-")
    value = parse_amount(text.lstrip("-").strip(), "amount")
    value = -value if negative else value
    with transaction():
        row = _locked_statement(statement.id)
        if row.status != StatementStatus.DRAFT:
            raise Conflict(_("This statement is closed: adjust the next period's."))
        adjustment = CommissionAdjustment(
            org_id=row.org_id,
            statement_id=row.id,
            agency_org_id=row.agency_org_id,
            kind=AdjustmentKind.MANUAL,
            amount=value,
            reason=reason[:500],
            created_by_id=actor.id,
        )
        db.session.add(adjustment)
        db.session.flush()
        audit.record(
            "commission.adjusted",
            actor=actor,
            target=row,
            details={"amount": str(value), "reason": reason[:500]},
        )
    settle(actor.org, row.period, actor_id=actor.id)  # the minimum and the cap apply to the new net
    return adjustment


def approve(actor: User, statement: CommissionStatement, note: str = "") -> CommissionStatement:
    """The payer approves a draft: the statement is closed from now on."""
    _own_statement(actor, statement, "commission.approve")
    with transaction():
        row = _locked_statement(statement.id)
        if row.status != StatementStatus.DRAFT:
            raise Conflict(_("This statement was approved already."))
        manual_by = set(
            db.session.scalars(
                select(CommissionAdjustment.created_by_id).where(
                    CommissionAdjustment.statement_id == row.id,
                    CommissionAdjustment.kind == AdjustmentKind.MANUAL,
                )
            )
        )
        if actor.id in manual_by:
            raise PermissionDenied(_("You adjusted this statement: another person approves it."))
        row.status = StatementStatus.APPROVED
        row.approved_by_id, row.approved_at = actor.id, utcnow()
        audit.record(
            "commission.approved",
            actor=actor,
            target=row,
            details={"period": row.period, "net": str(row.net), "note": note[:300]},
        )
    return row


def mark_paid(actor: User, statement: CommissionStatement, reference: str) -> CommissionStatement:
    _own_statement(actor, statement, "commission.approve")
    reference = (reference or "").strip()
    if not reference:
        raise ValidationFailed(_("Give the payment's reference."), field="reference")
    with transaction():
        row = _locked_statement(statement.id)
        if row.status == StatementStatus.PAID:
            raise Conflict(_("This statement is paid already."))
        if row.status != StatementStatus.APPROVED:
            raise Conflict(_("Approve the statement before paying it."))
        row.status = StatementStatus.PAID
        row.paid_by_id, row.paid_at, row.paid_reference = actor.id, utcnow(), reference[:120]
        audit.record(
            "commission.paid",
            actor=actor,
            target=row,
            details={"reference": reference[:120], "net": str(row.net)},
        )
    return row
