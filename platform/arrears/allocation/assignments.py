"""Inside the holding organisation (an agency, or an owner working cases in-house): who works a case.

Dispatching (分派) goes through allocation runs (``allocation.runs``), by strategy or by selection,
so it is previewed and logged the same way. This module holds the moves one person makes by hand:
transfer (转派) to another collector with a reason, and back to the unassigned pool; and the figures
the dispatch pages show (each collector's load against their cap, the pool).

Every move is one set-based UPDATE on the cases in the actor's scope (``cases.scopes``: a team lead
moves only their team's cases, to their team's members) plus one line per case in the assignment log
(a run's dispatches are logged by its results: ``assignment_log`` reads both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import BigInteger, delete, func, insert, literal, select, update

from arrears.allocation import runs as allocation
from arrears.allocation.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    AssignmentKind,
    CaseAssignment,
    ResultStatus,
    RunStatus,
)
from arrears.allocation.runs import collector_targets
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.holders import hold
from arrears.cases.models import Case, CaseHolder, CaseStatus
from arrears.cases.scopes import (
    assigned,
    assigned_to,
    case_scope,
    held_by,
    led_team_ids,
    sees_everything,
    unassigned,
)
from arrears.columns import UTCDateTime, utcnow
from arrears.errors import Conflict, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Team

OPEN = (CaseStatus.NEW, CaseStatus.ACTIVE)
MAX_BATCH = 10_000


def collectors(actor: User) -> list[User]:
    """The people ``actor`` may give cases to: every active collector of the organisation, or for a
    team lead the members of their teams."""

    people = list(collector_targets(actor.org).values())
    if not sees_everything(actor):
        teams = set(led_team_ids(actor))
        people = [u for u in people if u.team_id in teams or u.id == actor.id]
    return sorted(people, key=lambda u: (u.name, u.id))


def loads(actor: User) -> list[dict[str, Any]]:
    """Each collector's open cases and outstanding, their cap and the room left."""
    people = collectors(actor)
    held = held_by(actor.org_id, actor.org.kind)
    counts = {
        row[0]: (row[1], row[2])
        for row in db.session.execute(
            select(CaseHolder.assignee_user_id, func.count(), func.coalesce(func.sum(Case.outstanding), 0))
            .join(Case, Case.id == CaseHolder.case_id)
            .where(
                held, Case.status.in_(OPEN), CaseHolder.assignee_user_id.in_([u.id for u in people] or [-1])
            )
            .group_by(CaseHolder.assignee_user_id)
        )
    }
    teams = {t.id: t.name for t in db.session.scalars(select(Team))}
    out = []
    for u in people:
        count, amount = counts.get(u.id, (0, 0))
        out.append(
            {
                "user": u,
                "team": teams.get(u.team_id or 0, ""),
                "cases": int(count),
                "outstanding": amount,
                "cap": u.case_cap,
                "room": None if u.case_cap is None else max(0, u.case_cap - int(count)),
            }
        )
    return out


def pool_count(actor: User) -> int:
    """Open cases nobody works (the unassigned pool) among those the actor may see: the whole
    organisation's for a manager, their teams' for a team lead (the same rule as the pool list)."""
    return int(
        db.session.scalar(
            select(func.count()).where(
                case_scope(actor),  # a team lead's pool is their teams' unassigned cases
                Case.status.in_(OPEN),
                unassigned(),
                *([Case.agency_org_id.is_(None)] if actor.org.kind.value == "asset_owner" else []),
            )
        )
        or 0
    )


def set_cap(actor: User, collector: User, cap: int | None) -> User:
    """The most open cases a collector may hold (empty: no cap). Allocation and transfers respect it."""
    require(actor, "cases.dispatch")
    if collector.id not in {u.id for u in collectors(actor)}:
        raise ValidationFailed(_("This person is not one of your collectors."), field="user_id")
    if cap is not None and (cap < 0 or cap > 1_000_000):
        raise ValidationFailed(_("A cap is a whole number."), field="cap")
    with transaction():
        was = collector.case_cap
        collector.case_cap = cap
        audit.record("collector.cap_set", actor=actor, target=collector, details={"cap": cap, "was": was})
    return collector


def _cases(actor: User, case_ids: list[int]) -> list[int]:
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        raise ValidationFailed(_("Choose at least one case."), field="case_ids")
    if len(ids) > MAX_BATCH:
        raise ValidationFailed(_("At most %(n)s cases at once.", n=MAX_BATCH), field="case_ids")
    found = set(db.session.scalars(select(Case.id).where(Case.id.in_(ids), case_scope(actor))))
    missing = [i for i in ids if i not in found]
    if missing:  # foreign and missing alike
        raise ValidationFailed(
            _("Not among your cases: %(ids)s", ids=", ".join(map(str, missing[:20]))), field="case_ids"
        )
    return ids


def _room(actor: User, target: User, adding: int) -> int | None:
    """The room ``target`` has for ``adding`` more open cases (``None``: no cap); refuses, naming the
    cap, when they do not fit. The collector's row is locked until the move commits, so two moves
    to the same collector at once are counted one after the other, never both against the same room."""
    if target.case_cap is None:
        return None
    db.session.execute(select(User.id).where(User.id == target.id).with_for_update())
    held = int(
        db.session.scalar(
            select(func.count())
            .select_from(CaseHolder)
            .join(Case, Case.id == CaseHolder.case_id)
            .where(
                held_by(actor.org_id, actor.org.kind),
                CaseHolder.assignee_user_id == target.id,
                Case.status.in_(OPEN),
            )
        )
        or 0
    )
    if held + adding > target.case_cap:
        raise Conflict(
            _(
                "%(name)s may hold %(cap)s open cases and holds %(held)s: %(n)s more do not fit.",
                name=target.name,
                cap=target.case_cap,
                held=held,
                n=adding,
            ),
            field="to_user_id",
        )
    return target.case_cap - held


def _target(actor: User, to_user_id: Any) -> User:
    try:
        wanted = int(to_user_id)
    except (TypeError, ValueError):
        wanted = -1
    target = {u.id: u for u in collectors(actor)}.get(wanted)
    if target is None:
        raise ValidationFailed(_("This person is not one of your collectors."), field="to_user_id")
    return target


@dataclass(frozen=True)
class Dispatched:
    run_id: int
    count: int
    job_id: str | None = None  # the apply job (applied at once)
    approval_id: int | None = None  # or sent for approval (the organisation wants dispatches approved)
    # once applied (at once when jobs run inline): cases written, and cases skipped because they
    # changed between the preview and the apply (someone else dispatched them meanwhile, say)
    applied: int | None = None
    skipped: int = 0


def dispatch(actor: User, case_ids: list[int], to_user_id: int) -> Dispatched:
    """分派 by selection: cases from the pool to one collector, as an allocation run with one rule and
    one target (so it is previewed, logged and applied like a strategy's run), applied at once unless
    the organisation asks for dispatches to be approved. The cases must be in the actor's scope and in
    the pool (a case a collector holds is transferred instead); the collector's cap holds; a team lead
    dispatches to their teams' members only. One transaction: nothing is written if anything fails."""

    require(actor, "cases.dispatch")
    target = _target(actor, to_user_id)
    with transaction():
        ids = _cases(actor, case_ids)
        held = list(
            db.session.scalars(
                select(Case.loan_no)
                .where(Case.id.in_(ids), assigned() | ~Case.status.in_(OPEN))
                .order_by(Case.id)
                .limit(20)
            )
        )
        if held:
            raise Conflict(
                _(
                    "Only open cases in the pool can be dispatched; transfer the others: %(loans)s",
                    loans=", ".join(held),
                ),
                field="case_ids",
            )
        room = _room(actor, target, len(ids))
        run = allocation.preview(
            actor,
            level=AllocationLevel.DISPATCH,
            rules=[{"name": "selection", "method": "round_robin", "targets": [f"user:{target.id}"]}],
            case_ids=ids,
            targets=[{"id": target.id, "cap": room}],
        )
        if run.allocated_count != len(ids):  # the checks above make this a change in between
            raise Conflict(_("Some of these cases changed meanwhile; reload the list and try again."))
        if allocation.needs_approval(run):
            approval = allocation.submit(actor, run)
            return Dispatched(run.id, len(ids), approval_id=approval.id)
        job_id = allocation.start_apply(actor, run)
    # inline (eager) jobs ran at the commit: say what the apply did
    done = db.session.get(AllocationRun, run.id, populate_existing=True)
    if done is not None and done.status == RunStatus.APPLIED:
        return Dispatched(
            run.id, len(ids), job_id=job_id, applied=done.applied_count, skipped=done.skipped_count
        )
    return Dispatched(run.id, len(ids), job_id=job_id)


def user_names(user_ids: Any) -> dict[int, str]:
    """Names of the organisation's people, for the holder columns and the assignment log."""
    wanted = {int(i) for i in user_ids if i}
    if not wanted:
        return {}
    return {
        row[0]: row[1] for row in db.session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    }


def transfer(actor: User, case_ids: list[int], to_user_id: int, reason: str) -> int:
    """转派: move cases to another collector, with the reason. The collector's cap holds."""
    require(actor, "cases.dispatch")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the cases move."), field="reason")
    target = _target(actor, to_user_id)
    with transaction():
        ids = _cases(actor, case_ids)
        closed = db.session.scalar(select(func.count()).where(Case.id.in_(ids), ~Case.status.in_(OPEN)))
        if closed:
            raise Conflict(_("Closed cases cannot be transferred."), field="case_ids")
        moving = [
            i for i in db.session.scalars(select(Case.id).where(Case.id.in_(ids), ~assigned_to(target.id)))
        ]
        if not moving:
            raise Conflict(_("These cases are with %(name)s already.", name=target.name), field="to_user_id")
        _room(actor, target, len(moving))
        count = _move(actor, moving, target, AssignmentKind.TRANSFER, reason)
        audit.record(
            "cases.transferred",
            actor=actor,
            target=target,
            details={"cases": moving[:200], "count": count, "reason": reason},
        )
    return count


def unassign(actor: User, case_ids: list[int], reason: str) -> int:
    """Back to the unassigned pool (a collector leaves, a case needs another hand)."""
    require(actor, "cases.dispatch")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the cases move."), field="reason")
    with transaction():
        ids = _cases(actor, case_ids)
        moving = list(db.session.scalars(select(Case.id).where(Case.id.in_(ids), assigned())))
        if not moving:
            raise Conflict(_("These cases are in the pool already."), field="case_ids")
        count = _move(actor, moving, None, AssignmentKind.UNASSIGN, reason)
        audit.record(
            "cases.unassigned", actor=actor, details={"cases": moving[:200], "count": count, "reason": reason}
        )
    return count


def _move(actor: User, ids: list[int], target: User | None, kind: AssignmentKind, reason: str) -> int:
    """Give the cases (in the actor's scope) to ``target``, or back to the pool: the log lines, the
    previous collector remembered on the case, the holder rows replaced. One transaction (the
    caller's)."""
    now = utcnow()
    ids = list(db.session.scalars(select(Case.id).where(Case.id.in_(ids), case_scope(actor))))
    if not ids:
        return 0
    current = select(CaseHolder.assignee_user_id).where(CaseHolder.case_id == Case.id).scalar_subquery()
    db.session.execute(
        insert(CaseAssignment).from_select(
            [
                "org_id",
                "case_id",
                "kind",
                "from_user_id",
                "to_user_id",
                "actor_user_id",
                "reason",
                "created_at",
            ],
            select(
                literal(actor.org_id),
                Case.id,
                literal(kind.value),
                current,
                literal(target.id if target else None),
                literal(actor.id),
                literal(reason[:300]),
                literal(now),
            ).where(Case.id.in_(ids)),
        )
    )
    db.session.execute(
        update(Case)
        .where(Case.id.in_(ids), assigned())
        .values(previous_assignee_user_id=current, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if target is not None:
        db.session.execute(
            hold(
                select(
                    Case.id,
                    Case.org_id,
                    Case.agency_org_id,
                    literal(target.id, BigInteger),
                    literal(target.team_id, BigInteger),
                    literal(now, UTCDateTime()),
                ).where(Case.id.in_(ids)),
                only_free=False,
            )
        )
    else:  # back to the pool: the team's, if the case was in one, else the organisation's
        db.session.execute(
            update(CaseHolder)
            .where(CaseHolder.case_id.in_(ids))
            .values(assignee_user_id=None, assigned_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            delete(CaseHolder)
            .where(CaseHolder.case_id.in_(ids), CaseHolder.team_id.is_(None))
            .execution_options(synchronize_session=False)
        )
    db.session.expire_all()
    return len(ids)


def assignment_log(case: Case) -> list[CaseAssignment]:
    """Who held ``case`` (loaded in the caller's scope) inside the caller's organisation, newest first."""
    return log_lines(case.id)


def log_lines(case_id: int) -> list[CaseAssignment]:
    """The assignment log of a case inside the tenant's organisation, newest first: the moves by hand
    and the recalls (``case_assignments``), and the dispatches of applied runs. A run's dispatch lines
    are its planned results, not copies of them (decision 0007); they come back here as unsaved log
    lines (``id`` None) from the pool (a dispatch run takes only cases in the pool) to the collector,
    by whoever applied the run, when it was applied. Row-level security keeps both to the tenant's
    organisation, which keeps its lines after the case has left it."""
    lines = list(db.session.scalars(select(CaseAssignment).where(CaseAssignment.case_id == case_id)))
    runs = db.session.execute(
        select(
            AllocationResult.target_id,
            AllocationRun.id,
            AllocationRun.applied_by_id,
            AllocationRun.applied_at,
        )
        .join(AllocationRun, AllocationRun.id == AllocationResult.run_id)
        .where(
            AllocationResult.case_id == case_id,
            AllocationResult.status.in_((ResultStatus.PLANNED, ResultStatus.APPLIED)),
            AllocationRun.status == RunStatus.APPLIED,
            AllocationRun.level == AllocationLevel.DISPATCH,
        )
    )
    for target_id, run_id, actor_id, applied_at in runs:
        lines.append(
            CaseAssignment(
                case_id=case_id,
                kind=AssignmentKind.DISPATCH,
                to_user_id=target_id,
                run_id=run_id,
                actor_user_id=actor_id,
                reason="",
                created_at=applied_at,
            )
        )
    return sorted(lines, key=lambda e: (e.created_at, e.id or 0), reverse=True)
