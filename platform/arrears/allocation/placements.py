"""Placements (委外) after they start: listings, recall (退案) by hand or in bulk, the end at the end
date (a scheduled job), extension (延期) and early recall asked for through approvals.

Ending a case's placement, whatever the cause, is one set-based step (``release``): the case's
holder columns are cleared (the agency and its collectors lose it in the same transaction, walls 2
and 3 follow ``cases.agency_org_id``), the previous holders are remembered for the next allocation
(keep or exclude them), the placement rows are closed with the reason, the agency's assignment log
gets a recall line for each case a collector held, and a placement with no active case left ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, delete, func, insert, literal, select, update

from arrears.allocation.models import (
    AssignmentKind,
    CaseAssignment,
    Placement,
    PlacementCase,
    PlacementCaseStatus,
    PlacementStatus,
)
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case, CaseHolder
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.clock import business_date
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval
from arrears.tenancy import cross_tenant, current_org_id
from arrears.tenancy.models import Organisation, OrgKind

# --- reading ---------------------------------------------------------------------------------------------

TABS = ("active", "ended", "all")


def listing(actor: User, *, tab: str = "active", agency_id: int | None = None) -> Select[tuple[Placement]]:
    """The placements the actor's organisation made (owner) or received (agency)."""
    side = Placement.org_id if actor.org.kind == OrgKind.ASSET_OWNER else Placement.agency_org_id
    stmt = select(Placement).where(side == actor.org_id).order_by(Placement.id.desc())
    if tab == "active":
        stmt = stmt.where(Placement.status.in_((PlacementStatus.ACTIVE, PlacementStatus.PENDING)))
    elif tab == "ended":
        stmt = stmt.where(Placement.status.in_((PlacementStatus.ENDED, PlacementStatus.RECALLED)))
    if agency_id:
        stmt = stmt.where(Placement.agency_org_id == agency_id)
    return stmt


def history(
    actor: User, *, case_id: int | None = None, agency_id: int | None = None, loan_no: str | None = None
) -> Any:
    """委外历史: every period a case spent with an agency (newest first), per case or per agency. The
    owner sees all of its own; an agency sees only its active rows (wall 2 and 3)."""
    stmt = (
        select(PlacementCase, Case.loan_no, Organisation.name)
        .join(Case, Case.id == PlacementCase.case_id)
        .join(Organisation, Organisation.id == PlacementCase.agency_org_id)
        .order_by(PlacementCase.id.desc())
    )
    if case_id:
        stmt = stmt.where(PlacementCase.case_id == case_id)
    if agency_id:
        stmt = stmt.where(PlacementCase.agency_org_id == agency_id)
    if loan_no:
        stmt = stmt.where(Case.loan_no == loan_no.strip())
    return stmt


def cases_of(placement: Placement) -> Any:
    return (
        select(PlacementCase, Case)
        .join(Case, Case.id == PlacementCase.case_id)
        .where(PlacementCase.placement_id == placement.id)
        .order_by(PlacementCase.id)
    )


def agency_figures(actor: User) -> list[dict[str, Any]]:
    """Per agency: active placements, cases and outstanding placed now (the owner's monitoring)."""
    rows = db.session.execute(
        select(
            Organisation.id,
            Organisation.name,
            func.count(PlacementCase.id),
            func.coalesce(func.sum(Case.outstanding), 0),
        )
        .join(PlacementCase, PlacementCase.agency_org_id == Organisation.id)
        .join(Case, Case.id == PlacementCase.case_id)
        .where(PlacementCase.org_id == actor.org_id, PlacementCase.status == PlacementCaseStatus.ACTIVE)
        .group_by(Organisation.id, Organisation.name)
        .order_by(Organisation.name)
    )
    return [{"id": r[0], "name": r[1], "cases": r[2], "outstanding": r[3]} for r in rows]


def holders(cases: list[Case]) -> dict[int, dict[str, Any]]:
    """Who holds each case, for the owner's lists: the agency (by name) and, for in-house cases, the
    owner's own collector (by name). An agency's collectors are the agency's business: the owner
    sees only that one works the case."""
    agency_ids = {c.agency_org_id for c in cases if c.agency_org_id}
    user_ids = {c.assignee_user_id for c in cases if c.assignee_user_id and not c.agency_org_id}
    agencies = (
        dict(
            db.session.execute(
                select(Organisation.id, Organisation.name).where(Organisation.id.in_(agency_ids))
            ).all()
        )
        if agency_ids
        else {}
    )
    users = (
        dict(db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
        if user_ids
        else {}
    )
    return {
        c.id: {
            "agency_id": c.agency_org_id,
            "agency": agencies.get(c.agency_org_id) if c.agency_org_id else None,
            "assignee": users.get(c.assignee_user_id) if c.assignee_user_id and not c.agency_org_id else None,
            "assigned": c.assignee_user_id is not None,
        }
        for c in cases
    }


# --- ending a placement, for one case or many --------------------------------------------------------------


def release(
    owner_id: int,
    rows: Any,
    *,
    status: PlacementCaseStatus,
    reason: str,
    actor: User | None,
    now: dt.datetime,
) -> int:
    """End the placement of the active ``placement_cases`` rows selected by ``rows`` (a condition on
    PlacementCase): recall, the end date, and the domains above (a loan paid off, written off).
    Set-based (four statements whatever the number of cases); returns how many
    cases were released."""
    active = and_(PlacementCase.org_id == owner_id, PlacementCase.status == PlacementCaseStatus.ACTIVE, rows)
    released = select(PlacementCase.case_id).where(active)
    # the agency's assignment log: one recall line for each case a collector was holding. The log is
    # the agency's (its tenant), so the owner writes it through the named escape hatch.
    db.session.flush()
    with cross_tenant("a recall is written into the agency's assignment log"):
        db.session.execute(
            insert(CaseAssignment).from_select(
                ["org_id", "case_id", "kind", "from_user_id", "actor_user_id", "reason", "created_at"],
                select(
                    Case.agency_org_id,
                    Case.id,
                    literal(AssignmentKind.RECALL.value),
                    CaseHolder.assignee_user_id,
                    literal(actor.id if actor else None),
                    literal(reason[:300]),
                    literal(now),
                )
                .join(CaseHolder, CaseHolder.case_id == Case.id)
                .where(Case.id.in_(released), Case.org_id == owner_id),
            )
        )
    db.session.execute(
        update(Case)
        .where(Case.id.in_(released), Case.agency_org_id.is_not(None))
        .values(
            previous_agency_org_id=Case.agency_org_id,
            previous_assignee_user_id=func.coalesce(Case.assignee_user_id, Case.previous_assignee_user_id),
            agency_org_id=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    # the agency's collector lets go of it (the holder rows are the owner's too: its cases)
    db.session.execute(
        delete(CaseHolder)
        .where(CaseHolder.case_id.in_(released))
        .execution_options(synchronize_session=False)
    )
    result = db.session.execute(
        update(PlacementCase)
        .where(active)
        .values(status=status, closed_at=now, close_reason=reason[:300])
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        _close_empty_placements(owner_id, status, reason, now)
    db.session.expire_all()  # cases and placements in memory are stale now
    return count


def _close_empty_placements(
    owner_id: int, status: PlacementCaseStatus, reason: str, now: dt.datetime
) -> None:
    """A placement with no active case left is over: ended (its date came) or recalled."""
    still = select(PlacementCase.id).where(
        PlacementCase.placement_id == Placement.id, PlacementCase.status == PlacementCaseStatus.ACTIVE
    )
    db.session.execute(
        update(Placement)
        .where(Placement.org_id == owner_id, Placement.status == PlacementStatus.ACTIVE, ~still.exists())
        .values(
            status=PlacementStatus.ENDED if status == PlacementCaseStatus.ENDED else PlacementStatus.RECALLED,
            closed_at=now,
            close_reason=reason[:300],
        )
        .execution_options(synchronize_session="fetch")
    )


def _owner_only(actor: User) -> None:
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    require(actor, "placements.manage")


def _need_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why."), field="reason")
    return reason


def _check_in_placement(placement: Placement, ids: list[int], *, active_only: bool) -> None:
    """Refuse, naming them, the case ids that are not (active) in the placement."""
    rows = select(PlacementCase.case_id).where(
        PlacementCase.placement_id == placement.id, PlacementCase.case_id.in_(ids)
    )
    if active_only:
        rows = rows.where(PlacementCase.status == PlacementCaseStatus.ACTIVE)
    found = set(db.session.scalars(rows))
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(
            _("Not in this placement: %(ids)s", ids=", ".join(map(str, missing[:20]))), field="case_ids"
        )


def recall_cases(actor: User, case_ids: list[int], reason: str, *, placement: Placement | None = None) -> int:
    """退案 by hand (one case or a selection): the owner takes placed cases back at once; with
    ``placement``, only cases of that placement (others are refused, named)."""
    _owner_only(actor)
    reason = _need_reason(reason)
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        raise ValidationFailed(_("Choose the cases to recall."), field="case_ids")
    rows: Any = PlacementCase.case_id.in_(ids)
    if placement is not None:
        if placement.org_id != actor.org_id:
            raise NotFound(_("Not found."))
        _check_in_placement(placement, ids, active_only=False)
        rows = and_(rows, PlacementCase.placement_id == placement.id)
    with transaction():
        now = utcnow()
        count = release(
            actor.org_id,
            rows,
            status=PlacementCaseStatus.RECALLED,
            reason=reason,
            actor=actor,
            now=now,
        )
        if count == 0:
            raise Conflict(_("None of these cases is placed with an agency."))
        audit.record(
            "placement.recalled",
            actor=actor,
            target_type="case",
            target_id=ids[0] if len(ids) == 1 else "",
            details={"cases": ids[:200], "count": count, "reason": reason},
        )
    return count


def recall_placement(actor: User, placement: Placement, reason: str) -> int:
    """Recall every case still active in a placement batch (bulk 退案)."""
    _owner_only(actor)
    reason = _need_reason(reason)
    if placement.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    with transaction():
        if placement.status != PlacementStatus.ACTIVE:
            raise Conflict(_("This placement is not active."))
        count = release(
            actor.org_id,
            PlacementCase.placement_id == placement.id,
            status=PlacementCaseStatus.RECALLED,
            reason=reason,
            actor=actor,
            now=utcnow(),
        )
        audit.record(
            "placement.recalled", actor=actor, target=placement, details={"count": count, "reason": reason}
        )
    return count


def end_due(on: dt.date | None = None) -> dict[str, int]:
    """The scheduled job (per tenant): placements of the current owner whose end date has passed end,
    and their cases come back. Run hourly; a placement ends after its last day."""

    org = db.session.get(Organisation, current_org_id() or 0)
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        return {"placements": 0, "cases": 0}
    today = on or business_date(org)
    with transaction():
        due = list(
            db.session.scalars(
                select(Placement.id).where(
                    Placement.org_id == org.id,
                    Placement.status == PlacementStatus.ACTIVE,
                    Placement.ends_on < today,
                )
            )
        )
        if not due:
            return {"placements": 0, "cases": 0}
        count = release(
            org.id,
            and_(PlacementCase.placement_id.in_(due), PlacementCase.ends_on < today),
            status=PlacementCaseStatus.ENDED,
            reason="the placement reached its end date",
            actor=None,
            now=utcnow(),
        )
        audit.record("placement.ended", org_id=org.id, details={"placements": due[:200], "cases": count})
    return {"placements": len(due), "cases": count}


# --- extension and early recall, through approvals -------------------------------------------------


def request_extension(actor: User, placement: Placement, ends_on: dt.date, reason: str) -> Approval:
    """延期: the owner (maker-checker inside the owner) or the agency (the owner decides) asks to move
    a placement's end date later."""
    _party(actor, placement)
    reason = _need_reason(reason)
    if placement.status != PlacementStatus.ACTIVE:
        raise Conflict(_("This placement is not active."))
    if ends_on <= placement.ends_on:
        raise ValidationFailed(_("The new end date must be after the current one."), field="ends_on")
    return approvals.submit(
        actor,
        kind="placement.extend",
        subject_type="placement",
        subject_id=placement.id,
        approver_org_id=placement.org_id,
        summary=f"{placement.agency.name}: {placement.ends_on.isoformat()} → {ends_on.isoformat()}",
        payload={"ends_on": ends_on.isoformat(), "was": placement.ends_on.isoformat()},
        reason=reason,
    )


def request_early_recall(
    actor: User, placement: Placement, reason: str, case_ids: list[int] | None = None
) -> Approval:
    """提前退案: the agency asks the owner to take back a placement (or some of its cases) early."""
    _party(actor, placement)
    reason = _need_reason(reason)
    if placement.status != PlacementStatus.ACTIVE:
        raise Conflict(_("This placement is not active."))
    ids = sorted({int(i) for i in case_ids}) if case_ids else []
    if ids:
        _check_in_placement(placement, ids, active_only=True)
    return approvals.submit(
        actor,
        kind="placement.recall",
        subject_type="placement",
        subject_id=placement.id,
        approver_org_id=placement.org_id,
        summary=f"{placement.agency.name}: {len(ids) or placement.case_count}",
        payload={"case_ids": ids},
        reason=reason,
    )


def _party(actor: User, placement: Placement) -> None:
    if actor.org_id not in (placement.org_id, placement.agency_org_id):
        raise NotFound(_("Not found."))
    if actor.org.kind == OrgKind.ASSET_OWNER:
        require(actor, "placements.manage")
    else:
        require(actor, "approvals.request")


def _locked_placement(approval: Approval, decider: User) -> Placement:
    placement = db.session.scalar(
        select(Placement)
        .where(Placement.id == int(approval.subject_id), Placement.org_id == decider.org_id)
        .with_for_update(of=Placement)
        .execution_options(populate_existing=True)
    )
    if placement is None:
        raise NotFound(_("Not found."))
    if placement.status != PlacementStatus.ACTIVE:
        raise Conflict(_("This placement is not active."))
    return placement


def _extend(approval: Approval, decider: User) -> None:
    placement = _locked_placement(approval, decider)
    ends_on = dt.date.fromisoformat(approval.payload["ends_on"])
    if ends_on <= placement.ends_on:
        raise Conflict(_("The new end date must be after the current one."))
    placement.ends_on = ends_on
    db.session.execute(
        update(PlacementCase)
        .where(PlacementCase.placement_id == placement.id, PlacementCase.status == PlacementCaseStatus.ACTIVE)
        .values(ends_on=ends_on)
        .execution_options(synchronize_session="fetch")
    )
    audit.record(
        "placement.extended",
        actor=decider,
        target=placement,
        details={"ends_on": ends_on.isoformat(), "was": approval.payload.get("was")},
    )


def _early_recall(approval: Approval, decider: User) -> None:
    placement = _locked_placement(approval, decider)
    ids = approval.payload.get("case_ids") or []
    rows = PlacementCase.placement_id == placement.id
    if ids:
        rows = and_(rows, PlacementCase.case_id.in_(ids))
    reason = approval.reason or "early recall"
    count = release(
        decider.org_id, rows, status=PlacementCaseStatus.RECALLED, reason=reason, actor=decider, now=utcnow()
    )
    audit.record(
        "placement.recalled",
        actor=decider,
        target=placement,
        details={"count": count, "reason": reason, "requested_by_org": approval.requester_org_id},
    )


def _describe_extend(approval: Approval) -> str:
    return _(
        "Extend to %(date)s (was %(was)s)",
        date=approval.payload.get("ends_on"),
        was=approval.payload.get("was"),
    )


def _describe_recall(approval: Approval) -> str:
    ids = approval.payload.get("case_ids") or []
    return _("Recall %(count)s cases early", count=len(ids)) if ids else _("Recall the whole placement early")


approvals.register(
    approvals.ApprovalKind("placement.extend", _l("Placement extension"), _extend, describe=_describe_extend)
)
approvals.register(
    approvals.ApprovalKind("placement.recall", _l("Early recall"), _early_recall, describe=_describe_recall)
)
