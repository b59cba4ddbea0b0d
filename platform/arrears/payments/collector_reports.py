"""Collectors' reports of a repayment and the owner's audit (还款审核): a report is matched to the core
system's record, confirmed (applied) or rejected; manual entries by the owner."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.orm import aliased

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, clock
from arrears.kernel.transaction import transaction
from arrears.payments.checks import check_event
from arrears.payments.models import ORIGINS, Repayment, RepaymentSource, RepaymentStatus
from arrears.payments.repayments import MATCH_WINDOW, Claimed, _apply, _insert_events, _locked
from arrears.work.events import RepaymentReported

# --- collectors' reports, and the owner's audit (还款审核) -------------------------------------------------


def record_report(application: RepaymentReported) -> Repayment:
    """Handles ``work.events.RepaymentReported`` (``arrears.hooks``): an approved repayment
    application becomes a repayment waiting for the owner's audit, unless a
    core record of it was applied already (then it is matched to that one at once)."""
    zone = clock.zone()
    paid_on = application.paid_on or utcnow().astimezone(zone).date()
    report = Repayment(
        org_id=application.org_id,
        case_id=application.case_id,
        source=RepaymentSource.COLLECTOR,
        origin=ORIGINS[RepaymentSource.COLLECTOR],
        external_id=f"application-{application.application_id}",
        amount=application.amount,
        paid_at=dt.datetime.combine(paid_on, dt.time(12), tzinfo=zone).astimezone(dt.UTC),
        channel=application.channel,
        status=RepaymentStatus.PENDING_AUDIT,
        agency_org_id=application.agency_org_id,
        collector_user_id=application.requested_by_id,
        application_id=application.application_id,
        created_by_id=application.decider_id,
    )
    db.session.add(report)
    db.session.flush()
    # a core record applied already (the core system was faster than the approvals)
    candidates = db.session.scalars(
        select(Repayment.id)
        .where(
            Repayment.case_id == application.case_id,
            Repayment.origin == "core",
            Repayment.status == RepaymentStatus.CONFIRMED,
            Repayment.amount == application.amount,
            Repayment.paid_at.between(
                report.paid_at - MATCH_WINDOW - dt.timedelta(hours=12),
                report.paid_at + MATCH_WINDOW + dt.timedelta(hours=12),
            ),
            ~_claimed_by_a_report(),
        )
        .order_by(Repayment.id)
        # locked: a reversal of a candidate, or another report taking it, waits for this one (and
        # this one for them, and then reads what they did: ``taken`` below is a new statement)
        .with_for_update()
    ).all()
    taken = (
        set(db.session.scalars(select(Repayment.matched_id).where(Repayment.matched_id.in_(candidates))))
        if candidates
        else set()
    )
    for core_id in candidates:
        if core_id not in taken:
            report.status, report.matched_id, report.note = (
                RepaymentStatus.MATCHED,
                core_id,
                "matched automatically",
            )
            break
    return report


def _claimed_by_a_report() -> Any:
    """EXISTS: a report matched to the core record of the outer query. The report is an alias: the
    same table unaliased correlates to the outer row itself (``matched_id = id`` of one row, never
    true), and a core record already carrying a report's money was offered again."""
    report = aliased(Repayment)
    return select(report.id).where(report.matched_id == Repayment.id).exists()


def _audit_row(actor: User, repayment: Repayment) -> Repayment:
    require(actor, "repayments.audit")
    if actor.org_id != repayment.org_id:
        raise NotFound(_("Not found."))
    row = _locked(repayment.id)
    if row.status != RepaymentStatus.PENDING_AUDIT:
        raise Conflict(_("This repayment was audited already."))
    return row


def confirm_report(actor: User, repayment: Repayment, note: str = "") -> Repayment:
    """The owner confirms a collector's report with no core record (cash at a branch, say): it is
    applied now, as its own payment."""
    with transaction():
        row = _audit_row(actor, repayment)
        row.status = RepaymentStatus.RECEIVED
        row.note = (note or "")[:300]
        db.session.flush()
        _apply(
            actor.org,
            [Claimed(row.id, row.case_id, Decimal(row.amount), row.paid_at, origin=row.origin)],
            actor_id=actor.id,
        )
        db.session.execute(
            update(Repayment)
            .where(Repayment.id == row.id)
            .values(decided_by_id=actor.id, decided_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        audit.record("repayment.confirmed", actor=actor, target=row, details={"amount": str(row.amount)})
    return _reload(row.id)


def match_report(actor: User, repayment: Repayment, core_id: Any, note: str = "") -> Repayment:
    """The owner matches a collector's report to the core record that carries its money."""
    with transaction():
        row = _audit_row(actor, repayment)
        if not str(core_id).isdigit():
            raise ValidationFailed(_("Choose the core system's record."), field="core_id")
        # locked: a reversal of the core record committed meanwhile makes it no candidate (the
        # report would be matched to money that is gone), and two reports matched to it at once
        # are decided one after the other (the second sees the first below)
        core = db.session.scalar(
            select(Repayment)
            .where(
                Repayment.id == int(str(core_id)),
                Repayment.org_id == actor.org_id,
                Repayment.case_id == row.case_id,
                Repayment.origin == "core",
                Repayment.status == RepaymentStatus.CONFIRMED,
            )
            .with_for_update()
        )
        if core is None:
            raise ValidationFailed(_("No applied core record of this case with that id."), field="core_id")
        if db.session.scalar(select(Repayment.id).where(Repayment.matched_id == core.id)) is not None:
            raise Conflict(_("That record confirms another report already."), field="core_id")
        row.status, row.matched_id = RepaymentStatus.MATCHED, core.id
        row.decided_by_id, row.decided_at, row.note = actor.id, utcnow(), (note or "")[:300]
        audit.record("repayment.matched", actor=actor, target=row, details={"core_id": core.id})
    return row


def reject_report(actor: User, repayment: Repayment, note: str) -> Repayment:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say why."), field="note")
    with transaction():
        row = _audit_row(actor, repayment)
        row.status = RepaymentStatus.REJECTED
        row.decided_by_id, row.decided_at, row.note = actor.id, utcnow(), note[:300]
        audit.record("repayment.rejected", actor=actor, target=row, details={"note": note[:300]})
    return row


def match_candidates(repayment: Repayment) -> list[Repayment]:
    """Applied core records of the report's case that no report claims yet, nearest in time first."""
    rows = db.session.scalars(
        select(Repayment)
        .where(
            Repayment.case_id == repayment.case_id,
            Repayment.origin == "core",
            Repayment.status == RepaymentStatus.CONFIRMED,
            ~_claimed_by_a_report(),
        )
        .order_by(Repayment.paid_at.desc())
        .limit(50)
    ).all()
    return sorted(rows, key=lambda r: abs(r.paid_at - repayment.paid_at))


def record_manual(
    actor: User,
    case: Case,
    *,
    amount: Any,
    paid_at: Any,
    channel: str = "",
    reference: str = "",
    note: str = "",
) -> Repayment:
    """The owner's staff enter a payment (a receipt from a branch, say): recorded and applied now."""
    require(actor, "repayments.post")
    if case.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    now = utcnow()
    event = check_event(
        0,
        {
            "transaction_id": (reference or "").strip() or f"manual-{uuid.uuid4().hex[:16]}",
            "loan_no": case.loan_no,
            "amount": amount,
            "paid_at": paid_at,
            "channel": channel,
        },
        now,
    )
    if event.errors:
        first = event.errors[0]
        raise ValidationFailed(
            first["reason"], field={"transaction_id": "reference"}.get(first["field"], first["field"])
        )
    with transaction():
        event.case_id = case.id
        inserted = _insert_events(
            actor.org_id,
            [event],
            source=RepaymentSource.MANUAL,
            origin=ORIGINS[RepaymentSource.MANUAL],
            actor_id=actor.id,
            now=now,
        )
        if event.transaction_id not in inserted:
            raise Conflict(_("A manual entry with this reference exists already."), field="reference")
        rid = inserted[event.transaction_id]
        db.session.execute(
            update(Repayment)
            .where(Repayment.id == rid)
            .values(note=(note or "")[:300])
            .execution_options(synchronize_session=False)
        )
        assert event.amount is not None
        assert event.paid_at is not None
        _apply(
            actor.org,
            [Claimed(rid, case.id, event.amount, event.paid_at, origin="manual")],
            actor_id=actor.id,
        )
        audit.record(
            "repayment.entered",
            actor=actor,
            target_type="repayment",
            target_id=rid,
            details={"amount": str(event.amount)},
        )
    return _reload(rid)


def _reload(repayment_id: int) -> Repayment:
    row = db.session.get(Repayment, repayment_id, populate_existing=True)
    assert row is not None
    return row
