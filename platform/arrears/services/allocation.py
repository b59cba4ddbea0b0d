"""Allocation runs (分案): preview (预分案), approval (预分案结果审核), apply, and their logs.

One pipeline for both levels and for both ways of choosing:

* ``placement``: an asset owner's unplaced cases to the agencies it has a partnership in force with;
  applying creates one active placement (委外) per agency for the run's period.
* ``dispatch``: an agency's placed cases (or an owner's in-house cases) to its collectors.
* by strategy (the strategy's rules as they are now, recorded on the run) or by selection (the chosen
  cases to one target: a one-rule run).

A preview computes the plan with ``allocation.engine`` and stores it per case
(``allocation_results``) with a snapshot of each case (status, holder). Nothing else changes. Applying
writes exactly the stored plan, set-based, in one transaction, and skips (with the reason) the cases
that changed since the preview. A run is applied once: the run row is locked and its status moves
``approved -> applying -> applied``, so two people applying at once, or a job delivered twice, apply it
once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, insert, literal, select, update

from arrears.allocation import engine
from arrears.allocation.rules import RulesInvalid, dump_rules, parse_rules
from arrears.auth.principal import require
from arrears.bulk import insert_pages
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    AllocationStrategy,
    Approval,
    AssignmentKind,
    Case,
    CaseAssignment,
    CaseStatus,
    Organisation,
    OrgKind,
    Partnership,
    PartnershipStatus,
    Placement,
    PlacementCase,
    PlacementCaseStatus,
    PlacementStatus,
    ResultStatus,
    RolePermission,
    RunStatus,
    User,
    UserRole,
    UserStatus,
)
from arrears.models.base import utcnow
from arrears.services import approvals, audit
from arrears.services.cases import CaseFilter, bucket, business_date, filtered
from arrears.services.unit import transaction

OPEN_STATUSES = (CaseStatus.NEW, CaseStatus.ACTIVE)
SAMPLE = 5


# --- who may be a target -------------------------------------------------------------------------------


def agency_targets(owner: Organisation, on: dt.date) -> dict[int, Partnership]:
    """The agencies an owner may place with on ``on``: a partnership in force (active, within dates)."""
    rows = db.session.scalars(
        select(Partnership).where(
            Partnership.org_id == owner.id, Partnership.status == PartnershipStatus.ACTIVE
        )
    )
    return {p.agency_org_id: p for p in rows if p.is_in_force(on)}


def collector_targets(org: Organisation) -> dict[int, User]:
    """The organisation's active users who work cases at the workbench."""
    workers = (
        select(UserRole.user_id)
        .join(RolePermission, RolePermission.role_id == UserRole.role_id)
        .where(RolePermission.permission == "workbench.use")
    )
    users = db.session.scalars(
        select(User).where(User.org_id == org.id, User.status == UserStatus.ACTIVE, User.id.in_(workers))
    )
    return {u.id: u for u in users}


def _key(level: AllocationLevel, target_id: int) -> str:
    return f"{'agency' if level == AllocationLevel.PLACEMENT else 'user'}:{target_id}"


def _target_id(key: str) -> int:
    return int(key.split(":", 1)[1])


# --- the cases a run may take ----------------------------------------------------------------------------


def _candidates(org: Organisation, level: AllocationLevel, scope: CaseFilter, ids: list[int] | None) -> Any:
    """The SELECT of the cases a run of ``org`` may allocate: for a placement, the owner's open cases
    not placed; for a dispatch, the cases the organisation holds (placed with the agency, or the
    owner's own unplaced ones) that nobody works yet."""
    stmt = filtered(org, scope).where(Case.status.in_(OPEN_STATUSES))
    if level == AllocationLevel.PLACEMENT:
        stmt = stmt.where(Case.org_id == org.id, Case.agency_org_id.is_(None))
    elif org.kind == OrgKind.AGENCY:
        stmt = stmt.where(Case.agency_org_id == org.id, Case.assignee_user_id.is_(None))
    else:
        stmt = stmt.where(
            Case.org_id == org.id, Case.agency_org_id.is_(None), Case.assignee_user_id.is_(None)
        )
    if ids is not None:
        stmt = stmt.where(Case.id.in_(ids))
    return stmt


def _items(org: Organisation, level: AllocationLevel, stmt: Any) -> list[engine.Item]:
    today = business_date(org)
    previous = (
        Case.previous_agency_org_id if level == AllocationLevel.PLACEMENT else Case.previous_assignee_user_id
    )
    columns = stmt.with_only_columns(
        Case.id, Case.due_date, Case.outstanding, Case.product, Case.province, Case.city, Case.tags, previous
    ).order_by(None)
    prefix = "agency:" if level == AllocationLevel.PLACEMENT else "user:"
    out = []
    for case_id, due, amount, product, province, city, tags, before in db.session.execute(columns):
        dpd = max(0, (today - due).days)
        out.append(
            engine.Item(
                case_id,
                dpd,
                bucket(dpd),
                amount,
                product or "",
                province or "",
                city or "",
                tuple(tags or ()),
                f"{prefix}{before}" if before else None,
            )
        )
    return out


# --- preview ---------------------------------------------------------------------------------------------


def _target_specs(
    org: Organisation, level: AllocationLevel, wanted: list[dict[str, Any]] | None, on: dt.date
) -> list[dict[str, Any]]:
    """The run's targets with their settings (cap, regions), checked: an agency needs a partnership in
    force, a collector must be an active workbench user of the organisation."""
    if level == AllocationLevel.PLACEMENT:
        allowed = {aid: p.agency.name for aid, p in agency_targets(org, on).items()}
    else:
        allowed = {uid: u.name for uid, u in collector_targets(org).items()}
    if wanted is None:
        wanted = [{"id": target_id} for target_id in sorted(allowed)]
    specs = []
    for entry in wanted:
        try:
            target_id = int(entry["id"])
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(_("Every target needs an id."), field="targets")
        if target_id not in allowed:
            raise ValidationFailed(
                _("Agency %(id)s has no partnership in force.", id=target_id)
                if level == AllocationLevel.PLACEMENT
                else _("User %(id)s is not an active collector here.", id=target_id),
                field="targets",
            )
        cap = entry.get("cap")
        if cap in ("", None):
            cap = None
        else:
            try:
                cap = int(cap)
            except (TypeError, ValueError):
                raise ValidationFailed(_("A cap is a whole number."), field="targets")
            if cap < 0:
                raise ValidationFailed(_("A cap is a whole number."), field="targets")
        regions = sorted({str(r).strip() for r in entry.get("regions") or [] if str(r).strip()})
        specs.append({"id": target_id, "name": allowed[target_id], "cap": cap, "regions": regions})
    if not specs:
        raise ValidationFailed(
            _("No agency has a partnership in force.")
            if level == AllocationLevel.PLACEMENT
            else _("No active collector to dispatch to."),
            field="targets",
        )
    return specs


def _loads(org: Organisation, level: AllocationLevel, ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """What each target holds already (open cases, outstanding): balancing counts it."""
    column = Case.agency_org_id if level == AllocationLevel.PLACEMENT else Case.assignee_user_id
    stmt = (
        select(column, func.count(), func.coalesce(func.sum(Case.outstanding), 0))
        .where(column.in_(ids), Case.status.in_(OPEN_STATUSES))
        .group_by(column)
    )
    if level == AllocationLevel.PLACEMENT:
        stmt = stmt.where(Case.org_id == org.id)
    return {
        int(row[0]): (int(row[1]), Decimal(row[2])) for row in db.session.execute(stmt) if row[0] is not None
    }


def preview(
    actor: User,
    *,
    level: AllocationLevel,
    strategy: AllocationStrategy | None = None,
    rules: list[dict[str, Any]] | None = None,
    scope: CaseFilter | None = None,
    case_ids: list[int] | None = None,
    targets: list[dict[str, Any]] | None = None,
    starts_on: dt.date | None = None,
    ends_on: dt.date | None = None,
) -> AllocationRun:
    """Compute and store a run's plan (nothing else changes). ``strategy`` or ``rules`` (a selection:
    one rule, usually one target) say how; ``scope`` and ``case_ids`` which cases."""
    org = actor.org
    _require_level(actor, level)
    today = business_date(org)
    if level == AllocationLevel.PLACEMENT:
        starts_on = starts_on or today
        if ends_on is None or ends_on < starts_on:
            raise ValidationFailed(_("A placement needs an end date after its start."), field="ends_on")
    specs = _target_specs(org, level, targets, starts_on or today)
    keys = {_key(level, s["id"]) for s in specs}
    if strategy is not None:
        if strategy.level != level or strategy.archived:
            raise ValidationFailed(_("This strategy cannot run here."), field="strategy")
        raw_rules = strategy.rules
    else:
        raw_rules = rules or [{"name": "selection"}]
    try:
        parsed = parse_rules(raw_rules, keys)
    except RulesInvalid as exc:
        raise ValidationFailed(
            _("The strategy does not fit this run: %(problems)s", problems=str(exc)), field="rules"
        )
    scope = scope or CaseFilter()
    loads = _loads(org, level, [s["id"] for s in specs])
    engine_targets = [
        engine.Target(
            _key(level, s["id"]),
            cap=s["cap"],
            regions=frozenset(s["regions"]),
            load_count=loads.get(s["id"], (0, Decimal(0)))[0],
            load_amount=loads.get(s["id"], (0, Decimal(0)))[1],
        )
        for s in specs
    ]
    items = _items(org, level, _candidates(org, level, scope, case_ids))
    plan = engine.allocate(items, parsed, engine_targets)
    with transaction():
        run = AllocationRun(
            org_id=org.id,
            level=level,
            strategy_id=strategy.id if strategy else None,
            strategy_version=strategy.version if strategy else None,
            rules=dump_rules(parsed),
            status=RunStatus.PREVIEWED,
            scope=_scope_json(scope, case_ids),
            targets=specs,
            starts_on=starts_on if level == AllocationLevel.PLACEMENT else None,
            ends_on=ends_on if level == AllocationLevel.PLACEMENT else None,
            case_count=len(items),
            allocated_count=len(plan.placed),
            created_by_id=actor.id,
        )
        db.session.add(run)
        db.session.flush()
        run.summary = _summary(plan, items, specs, level)
        holder = "agency" if level == AllocationLevel.PLACEMENT else "assignee"
        rows = []
        for item in items:
            placed = plan.placed.get(item.id)
            rows.append(
                {
                    "org_id": org.id,
                    "run_id": run.id,
                    "case_id": item.id,
                    "status": ResultStatus.PLANNED if placed else ResultStatus.UNALLOCATED,
                    "target_id": _target_id(placed[0]) if placed else None,
                    "rule": placed[1] if placed else None,
                    "reason": "" if placed else plan.unallocated[item.id],
                    "amount": item.amount,
                    "dpd": item.dpd,
                    "snapshot_status": "open",
                    "snapshot_holder": f"{holder}:",  # no holder at this level: what apply checks
                }
            )
        insert_pages(AllocationResult.__table__, rows)
        audit.record(
            "allocation.previewed",
            actor=actor,
            target=run,
            details={"level": level.value, "cases": len(items), "allocated": len(plan.placed)},
        )
    return run


def _scope_json(scope: CaseFilter, ids: list[int] | None) -> dict[str, Any]:
    out = {
        k: (str(v) if isinstance(v, Decimal) else v)
        for k, v in vars(scope).items()
        if v not in (None, [], "")
    }
    out.pop("sort", None)
    if ids is not None:
        out["case_ids"] = len(ids)
    return out


def _summary(
    plan: engine.Plan, items: list[engine.Item], specs: list[dict[str, Any]], level: AllocationLevel
) -> dict[str, Any]:
    by_id = {i.id: i for i in items}
    per: dict[str, dict[str, Any]] = {
        _key(level, s["id"]): {
            "id": s["id"],
            "name": s["name"],
            "count": 0,
            "amount": Decimal(0),
            "sample": [],
        }
        for s in specs
    }
    for case_id, (key, _rule) in sorted(plan.placed.items()):
        entry = per[key]
        entry["count"] += 1
        entry["amount"] += by_id[case_id].amount
        if len(entry["sample"]) < SAMPLE:
            entry["sample"].append(case_id)
    reasons: dict[str, int] = {}
    for reason in plan.unallocated.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "targets": [{**v, "amount": str(v["amount"])} for v in per.values()],
        "unallocated": reasons,
        "amount": str(sum((i.amount for i in items), Decimal(0))),
    }


def _require_level(actor: User, level: AllocationLevel) -> None:
    if level == AllocationLevel.PLACEMENT:
        if actor.org.kind != OrgKind.ASSET_OWNER:
            raise NotFound(_("Not found."))
        require(actor, "placements.manage")
    else:
        require(actor, "cases.dispatch")


# --- approval --------------------------------------------------------------------------------------------


def needs_approval(run: AllocationRun) -> bool:
    """Placements always go through 委案审批; a dispatch when the organisation asks for it."""
    if run.level == AllocationLevel.PLACEMENT:
        return True
    org = db.session.get(Organisation, run.org_id)
    return bool(((org.settings if org else None) or {}).get("dispatch_needs_approval"))


def submit(actor: User, run: AllocationRun, reason: str = "") -> Approval:
    _require_level(actor, run.level)
    if run.status != RunStatus.PREVIEWED:
        raise Conflict(_("Only a previewed run can be sent for approval."))
    approval = approvals.submit(
        actor,
        kind="allocation.run",
        subject_type="allocation_run",
        subject_id=run.id,
        approver_org_id=run.org_id,
        summary=f"run {run.id}: {run.allocated_count} cases",
        reason=reason,
    )
    with transaction():
        run.status, run.approval_id = RunStatus.PENDING_APPROVAL, approval.id
    return approval


def _locked(run_id: int) -> AllocationRun:
    run = db.session.scalar(
        select(AllocationRun)
        .where(AllocationRun.id == run_id)
        .with_for_update(of=AllocationRun)
        .execution_options(populate_existing=True)
    )
    if run is None:
        raise NotFound(_("Not found."))
    return run


def _run_approved(approval: Approval, decider: User) -> None:
    run = _locked(int(approval.subject_id))
    if run.status != RunStatus.PENDING_APPROVAL:
        raise Conflict(_("This run is not waiting for approval."))
    run.status = RunStatus.APPROVED


def _run_rejected(approval: Approval, decider: User) -> None:
    run = _locked(int(approval.subject_id))
    if run.status == RunStatus.PENDING_APPROVAL:
        run.status = RunStatus.REJECTED


approvals.register(
    approvals.ApprovalKind(
        "allocation.run", _l("Allocation result review"), on_approved=_run_approved, on_rejected=_run_rejected
    )
)


def discard(actor: User, run: AllocationRun) -> None:
    _require_level(actor, run.level)
    with transaction():
        locked = _locked(run.id)
        if locked.status not in (RunStatus.PREVIEWED, RunStatus.APPROVED):
            raise Conflict(_("This run cannot be discarded now."))
        locked.status = RunStatus.DISCARDED
        audit.record("allocation.discarded", actor=actor, target=locked)


# --- apply -----------------------------------------------------------------------------------------------


def start_apply(actor: User, run: AllocationRun) -> str:
    """Claim the run for applying and queue the job; a second claim is refused."""
    from arrears.tasks.queue import enqueue

    _require_level(actor, run.level)
    with transaction():
        locked = _locked(run.id)
        ready = {RunStatus.APPROVED} if needs_approval(locked) else {RunStatus.APPROVED, RunStatus.PREVIEWED}
        if locked.status in (RunStatus.APPLYING, RunStatus.APPLIED):
            raise Conflict(_("This run is applied already."))
        if locked.status not in ready:
            raise Conflict(_("This run needs approval before it is applied."))
        locked.status, locked.applied_by_id = RunStatus.APPLYING, actor.id
        record = enqueue(
            "arrears.tasks.allocation.apply_run_job",
            name=f"allocation run {locked.id}",
            kwargs={"run_id": locked.id},
            created_by=actor,
        )
        locked.job_id = record.id
        audit.record("allocation.apply_started", actor=actor, target=locked)
    return record.id


def apply_run(run_id: int) -> AllocationRun:
    """Write a claimed run's plan (the job; idempotent: an applied run is left as it is)."""
    with transaction():
        run = _locked(run_id)
        if run.status == RunStatus.APPLIED:
            return run
        if run.status != RunStatus.APPLYING:
            raise Conflict(_("This run is not claimed for applying."))
        org = db.session.get(Organisation, run.org_id)
        assert org is not None
        now = utcnow()
        _skip_changed(run, org)
        if run.level == AllocationLevel.PLACEMENT:
            _apply_placement(run, org, now)
        else:
            _apply_dispatch(run, org, now)
        counts = dict(
            db.session.execute(
                select(AllocationResult.status, func.count())
                .where(AllocationResult.run_id == run.id)
                .group_by(AllocationResult.status)
            ).all()
        )
        run.applied_count = counts.get(ResultStatus.APPLIED, 0)
        run.skipped_count = counts.get(ResultStatus.SKIPPED, 0)
        run.status, run.applied_at = RunStatus.APPLIED, now
        audit.record(
            "allocation.applied",
            org_id=run.org_id,
            target=run,
            details={"applied": run.applied_count, "skipped": run.skipped_count},
        )
    return run


def _planned(run: AllocationRun) -> Any:
    return and_(AllocationResult.run_id == run.id, AllocationResult.status == ResultStatus.PLANNED)


def _skip_changed(run: AllocationRun, org: Organisation) -> None:
    """Cases that are no longer as the preview saw them are skipped, with the reason."""
    holder = Case.agency_org_id if run.level == AllocationLevel.PLACEMENT else Case.assignee_user_id
    whens: list[tuple[Any, Any]] = [
        (Case.status == CaseStatus.CLOSED, literal("closed since the preview")),
        (Case.status == CaseStatus.WRITTEN_OFF, literal("written off since the preview")),
        (~Case.status.in_(OPEN_STATUSES), literal("status changed since the preview")),
    ]
    if run.level == AllocationLevel.DISPATCH and org.kind == OrgKind.AGENCY:
        whens.append((Case.agency_org_id.is_distinct_from(org.id), literal("recalled since the preview")))
    elif run.level == AllocationLevel.DISPATCH:
        whens.append((Case.agency_org_id.is_not(None), literal("placed with an agency since the preview")))
    whens.append((holder.is_not(None), literal("placed or assigned since the preview")))
    reason = case(*whens, else_=literal(""))
    stale = (
        select(AllocationResult.id, reason.label("why"))
        .join(Case, Case.id == AllocationResult.case_id)
        .where(_planned(run))
        .subquery()
    )
    db.session.execute(
        update(AllocationResult)
        .where(AllocationResult.id == stale.c.id, stale.c.why != "")
        .values(status=ResultStatus.SKIPPED, reason=stale.c.why)
        .execution_options(synchronize_session=False)
    )
    if run.level == AllocationLevel.PLACEMENT:
        in_force = set(agency_targets(org, run.starts_on or business_date(org)))
        db.session.execute(
            update(AllocationResult)
            .where(_planned(run), AllocationResult.target_id.not_in(in_force) if in_force else literal(True))
            .values(status=ResultStatus.SKIPPED, reason="the agency's partnership is no longer in force")
            .execution_options(synchronize_session=False)
        )


def _apply_placement(run: AllocationRun, org: Organisation, now: dt.datetime) -> None:
    agencies = db.session.execute(
        select(AllocationResult.target_id, func.count(), func.sum(AllocationResult.amount))
        .where(_planned(run))
        .group_by(AllocationResult.target_id)
    ).all()
    partnerships = agency_targets(org, run.starts_on or business_date(org))
    assert run.starts_on is not None
    assert run.ends_on is not None
    for agency_id, count, amount in agencies:
        assert agency_id is not None  # planned results always have a target
        placement = Placement(
            org_id=org.id,
            agency_org_id=agency_id,
            partnership_id=partnerships[agency_id].id,
            run_id=run.id,
            name=f"run {run.id}",
            starts_on=run.starts_on,
            ends_on=run.ends_on,
            status=PlacementStatus.ACTIVE,
            case_count=count,
            amount=amount,
            approval_id=run.approval_id,
            created_by_id=run.created_by_id,
            activated_at=now,
        )
        db.session.add(placement)
        db.session.flush()
        db.session.execute(
            insert(PlacementCase).from_select(
                [
                    "org_id",
                    "placement_id",
                    "case_id",
                    "agency_org_id",
                    "status",
                    "bucket",
                    "dpd",
                    "amount",
                    "starts_on",
                    "ends_on",
                    "close_reason",
                ],
                select(
                    AllocationResult.org_id,
                    literal(placement.id),
                    AllocationResult.case_id,
                    AllocationResult.target_id,
                    literal(PlacementCaseStatus.ACTIVE.value),
                    _bucket_sql(AllocationResult.dpd),
                    AllocationResult.dpd,
                    AllocationResult.amount,
                    literal(run.starts_on),
                    literal(run.ends_on),
                    literal(""),
                ).where(_planned(run), AllocationResult.target_id == agency_id),
            )
        )
    _set_holders(
        run, now, {"agency_org_id": AllocationResult.target_id, "assignee_user_id": None, "team_id": None}
    )


def _apply_dispatch(run: AllocationRun, org: Organisation, now: dt.datetime) -> None:
    db.session.execute(
        insert(CaseAssignment).from_select(
            ["org_id", "case_id", "kind", "to_user_id", "run_id", "actor_user_id", "reason", "created_at"],
            select(
                literal(org.id),
                AllocationResult.case_id,
                literal(AssignmentKind.DISPATCH.value),
                AllocationResult.target_id,
                literal(run.id),
                literal(run.applied_by_id),
                literal(""),
                literal(now),
            ).where(_planned(run)),
        )
    )
    # the collector's team comes along in the same UPDATE (joined from users)
    _set_holders(
        run,
        now,
        {"assignee_user_id": AllocationResult.target_id, "team_id": User.team_id},
        User.id == AllocationResult.target_id,
    )


def _set_holders(run: AllocationRun, now: dt.datetime, values: dict[str, Any], *joins: Any) -> None:
    """The planned results onto the cases (one UPDATE ... FROM), then the results marked applied."""
    db.session.execute(
        update(Case)
        .where(Case.id == AllocationResult.case_id, _planned(run), *joins)
        .values(**values, assigned_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(AllocationResult)
        .where(_planned(run))
        .values(status=ResultStatus.APPLIED)
        .execution_options(synchronize_session=False)
    )


def _bucket_sql(dpd: Any) -> Any:
    return case(
        (dpd <= 0, literal("M0")),
        (dpd <= 30, literal("M1")),
        (dpd <= 60, literal("M2")),
        (dpd <= 90, literal("M3")),
        else_=literal("M4+"),
    )
