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
import gc
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from operator import attrgetter
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    Text,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)

from arrears.allocation import engine
from arrears.allocation.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    AllocationStrategy,
    Placement,
    PlacementCase,
    PlacementCaseStatus,
    PlacementStatus,
    ResultStatus,
    RunStatus,
)
from arrears.allocation.rules import RulesInvalid, dump_rules, parse_rules
from arrears.auth.models import RolePermission, User, UserRole, UserStatus
from arrears.auth.principal import require
from arrears.cases.cases import CaseFilter, bucket, filtered
from arrears.cases.holders import hold
from arrears.cases.models import Case, CaseHolder, CaseStatus
from arrears.cases.scopes import assigned, unassigned
from arrears.columns import Money, UTCDateTime, utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.clock import business_date
from arrears.kernel.db import among, insert_rows
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval, Partnership, PartnershipStatus
from arrears.tenancy.models import Organisation, OrgKind

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
        stmt = stmt.where(Case.agency_org_id == org.id, unassigned())
    else:
        stmt = stmt.where(Case.org_id == org.id, Case.agency_org_id.is_(None), unassigned())
    if ids is not None:
        stmt = stmt.where(among(Case.id, ids))  # one parameter: a run may name 200,000 cases
    return stmt


def candidate_ids(org: Organisation, level: AllocationLevel, scope: CaseFilter) -> list[int]:
    """The ids of the cases a run of ``org`` at ``level`` may take now, in id order."""
    stmt = _candidates(org, level, scope, None).with_only_columns(Case.id).order_by(Case.id)
    return list(db.session.scalars(stmt))


def _items(org: Organisation, level: AllocationLevel, stmt: Any) -> list[engine.Item]:
    """The cases as the engine sees them, in id order. Tags come as JSON text, parsed only where there
    are some: decoding 100,000 empty lists was most of the load."""
    today = business_date(org)
    previous = (
        Case.previous_agency_org_id if level == AllocationLevel.PLACEMENT else Case.previous_assignee_user_id
    )
    columns = (
        stmt.with_only_columns(
            Case.id,
            Case.due_date,
            Case.outstanding,
            Case.product,
            Case.province,
            Case.city,
            cast(Case.tags, Text),
            previous,
        )
        .order_by(None)
        .order_by(Case.id)
    )
    prefix = "agency:" if level == AllocationLevel.PLACEMENT else "user:"
    overdue: dict[dt.date, tuple[int, str]] = {}  # due date -> days past due, bucket
    make = engine.Item
    out: list[engine.Item] = []
    append = out.append
    for case_id, due, amount, product, province, city, tags, before in db.session.execute(columns):
        days = overdue.get(due)
        if days is None:
            dpd = max(0, (today - due).days)
            days = overdue[due] = (dpd, bucket(dpd))
        append(
            make(
                case_id,
                days[0],
                days[1],
                amount,
                product or "",
                province or "",
                city or "",
                () if not tags or tags == "[]" else tuple(json.loads(tags) or ()),
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
    column = Case.agency_org_id if level == AllocationLevel.PLACEMENT else CaseHolder.assignee_user_id
    stmt = (
        select(column, func.count(), func.coalesce(func.sum(Case.outstanding), 0))
        .where(column.in_(ids), Case.status.in_(OPEN_STATUSES))
        .group_by(column)
    )
    if level == AllocationLevel.PLACEMENT:
        stmt = stmt.where(Case.org_id == org.id)
    else:
        stmt = stmt.join(CaseHolder, CaseHolder.case_id == Case.id)
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
    with _no_cycle_collection():  # see there: a fifth of the load's time
        items = _items(org, level, _candidates(org, level, scope, case_ids))
        plan = engine.allocate(items, parsed, engine_targets)
        summary = _summary(plan, items, specs, level)
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
                summary=summary,
                case_count=len(items),
                allocated_count=len(plan.placed),
                created_by_id=actor.id,
            )
            db.session.add(run)
            db.session.flush()
            holder = "agency" if level == AllocationLevel.PLACEMENT else "assignee"
            insert_rows(
                AllocationResult.__table__,
                RESULT_COLUMNS,
                _result_rows(plan, items),
                {
                    "org_id": org.id,
                    "run_id": run.id,
                    "snapshot_status": "open",
                    "snapshot_holder": f"{holder}:",  # no holder at this level: what apply checks
                },
            )
            audit.record(
                "allocation.previewed",
                actor=actor,
                target=run,
                details={"level": level.value, "cases": len(items), "allocated": len(plan.placed)},
            )
    return run


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Without the cyclic garbage collector, for a preview's few hundred thousand objects (a row, an
    item, a placement per case), which live until it returns and hold no cycles: the collector, run
    every 700 new objects, would walk them again and again for nothing (measured: 0.2 s of a 0.7 s
    load of 100,000 cases). Reference counting frees everything as usual; the collector is enabled
    again afterwards, as it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


RESULT_COLUMNS = ("case_id", "status", "target_id", "rule", "reason", "amount", "dpd")


def _result_rows(plan: engine.Plan, items: list[engine.Item]) -> Iterator[tuple[Any, ...]]:
    """One row per case (``RESULT_COLUMNS``), in the items' order, as the database stores it."""
    placed, unallocated = plan.placed, plan.unallocated
    planned, left = ResultStatus.PLANNED.value, ResultStatus.UNALLOCATED.value
    ids: dict[str, int] = {}
    for item in items:
        hit = placed.get(item.id)
        if hit is None:
            yield (item.id, left, None, None, unallocated[item.id], item.amount, item.dpd)
            continue
        key, rule = hit
        target = ids.get(key)
        if target is None:
            target = ids[key] = _target_id(key)
        yield (item.id, planned, target, rule, "", item.amount, item.dpd)


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
    """Per target: count, amount and the first case ids (a sample); the unallocated reasons; the total."""
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
    placed, unallocated = plan.placed, plan.unallocated
    reasons: dict[str, int] = {}
    total = Decimal(0)
    for item in sorted(items, key=attrgetter("id")):
        total += item.amount
        hit = placed.get(item.id)
        if hit is None:
            reason = unallocated[item.id]
            reasons[reason] = reasons.get(reason, 0) + 1
            continue
        entry = per[hit[0]]
        entry["count"] += 1
        entry["amount"] += item.amount
        if len(entry["sample"]) < SAMPLE:
            entry["sample"].append(item.id)
    return {
        "targets": [{**v, "amount": str(v["amount"])} for v in per.values()],
        "unallocated": reasons,
        "amount": str(total),
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
            apply_run_job,
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
        if run.level == AllocationLevel.PLACEMENT:
            applied, skipped = _apply_placement(run, org, now)
        else:
            applied, skipped = _apply_dispatch(run, org, now)
        run.applied_count, run.skipped_count = applied, skipped
        run.status, run.applied_at = RunStatus.APPLIED, now
        audit.record(
            "allocation.applied",
            org_id=run.org_id,
            target=run,
            details={"applied": run.applied_count, "skipped": run.skipped_count},
        )
    return run


# --- apply: the writes -------------------------------------------------------------------------------------
#
# PostgreSQL: one statement per run. Its first part moves the cases (an UPDATE ... FROM the planned
# results, only where the case is still as the preview saw it, RETURNING what moved); the next parts
# write from what moved (the assignment log, or the placement rows) and mark the planned results that
# did not move as skipped, with the reason read from the case as it was when the statement began. Every
# part runs once, whatever reads it. Elsewhere (SQLite cannot modify data in a WITH clause): the same
# parts in order, the skipped ones first, then the rest from the results still planned.

Applied = dict[int, tuple[int, Decimal]]  # target -> (cases applied, their outstanding)


def _planned(run: AllocationRun) -> Any:
    return and_(
        AllocationResult.run_id == run.id,
        AllocationResult.org_id == run.org_id,
        AllocationResult.status == ResultStatus.PLANNED,
    )


CHANGED = "changed since the preview"  # by another transaction while apply waited for the case
RECALLED = "recalled since the preview"
ASSIGNED = "placed or assigned since the preview"


def _still(changes: list[tuple[Any, str]]) -> Any:
    """The case is as the preview saw it: none of the changes."""
    return ~or_(*(cond for cond, _ in changes))


def _changes(
    run: AllocationRun, org: Organisation, in_force: set[int] | None = None
) -> list[tuple[Any, str]]:
    """What makes a planned case no longer as the preview saw it, each with its reason, in order."""
    out: list[tuple[Any, str]] = [
        (Case.status == CaseStatus.CLOSED, "closed since the preview"),
        (Case.status == CaseStatus.WRITTEN_OFF, "written off since the preview"),
        (~Case.status.in_(OPEN_STATUSES), "status changed since the preview"),
    ]
    if run.level == AllocationLevel.DISPATCH and org.kind == OrgKind.AGENCY:
        out.append((Case.agency_org_id.is_distinct_from(org.id), RECALLED))
    elif run.level == AllocationLevel.DISPATCH:
        out.append((Case.agency_org_id.is_not(None), "placed with an agency since the preview"))
    if run.level == AllocationLevel.PLACEMENT:
        out.append((Case.agency_org_id.is_not(None), ASSIGNED))
    else:
        out.append((assigned(), ASSIGNED))
    if in_force is not None:
        gone = AllocationResult.target_id.not_in(in_force) if in_force else true()
        out.append((gone, "the agency's partnership is no longer in force"))
    return out


def _skip_changed(
    run: AllocationRun, org: Organisation, changes: list[tuple[Any, str]], moved: Any = None
) -> Any:
    """The UPDATE that marks skipped, with the reason, the planned results whose case changed: the ones
    that did not move (``moved``: the cases the same statement moved), else the ones whose case is no
    longer as the preview saw it. The reason is read from the case; a case the organisation no longer
    sees at all is, for an agency, one recalled by its owner."""
    why = (
        select(case(*[(cond, literal(text)) for cond, text in changes], else_=literal(CHANGED)))
        .where(Case.id == AllocationResult.case_id)
        .scalar_subquery()
    )
    unseen = RECALLED if run.level == AllocationLevel.DISPATCH and org.kind == OrgKind.AGENCY else CHANGED
    which: Any
    if moved is not None:
        which = AllocationResult.case_id.not_in(select(moved.c.case_id))
    else:
        which = ~exists().where(Case.id == AllocationResult.case_id, _still(changes))
    return (
        update(AllocationResult)
        .where(_planned(run), which)
        .values(status=ResultStatus.SKIPPED, reason=func.coalesce(why, literal(unseen)))
    )


def _place(run: AllocationRun, changes: list[tuple[Any, str]], now: dt.datetime) -> Any:
    """The UPDATE ... FROM the planned results that places the cases still as the preview saw them
    with their agencies."""
    return (
        update(Case)
        .where(Case.id == AllocationResult.case_id, _planned(run), _still(changes))
        .values(agency_org_id=AllocationResult.target_id, updated_at=now)
    )


def _hold(run: AllocationRun, changes: list[tuple[Any, str]], now: dt.datetime) -> Any:
    """The INSERT of a holder row (the collector, their team) for each planned case still as the
    preview saw it (a team's pool row is replaced). A case someone took meanwhile keeps its holder
    (the conflict's condition) and is skipped: the statement must not look its own table up,
    PostgreSQL would scan the rows it is adding, once per case."""
    free = [(cond, why) for cond, why in changes if why != ASSIGNED]
    source = (
        select(
            Case.id,
            Case.org_id,
            Case.agency_org_id,
            AllocationResult.target_id,
            User.team_id,
            literal(now, UTCDateTime()),
        )
        .join(Case, Case.id == AllocationResult.case_id)
        .join(User, User.id == AllocationResult.target_id)
        .where(_planned(run), _still(free))
    )
    return hold(source, only_free=True)


def _write(
    run: AllocationRun,
    org: Organisation,
    changes: list[tuple[Any, str]],
    moving: Any,
    follow: Callable[[Any], Any] | None,
    *,
    returns: tuple[Any, ...],
    by_target: bool = False,
) -> tuple[int, Applied, int]:
    """Move the cases (``moving``: ``_place`` or ``_hold``, whose RETURNING on PostgreSQL is
    ``returns``: case_id, target_id, amount, dpd), write what follows from the moved ones
    (``follow(source)``, if any: an INSERT from a selectable of those columns) and skip the changed
    ones. Returns how many cases were applied, with ``by_target`` how many and how
    much per target, and how many were skipped."""
    if db.session.get_bind().dialect.name == "postgresql":
        moved = moving.returning(*returns).cte("moved")
        # the planned results are the run's allocated cases (apply alone changes them, once): when every
        # one of them moved, the one-time filter spares the skip its scan of the results
        moved_count = select(func.count()).select_from(moved).scalar_subquery()
        skipped = (
            _skip_changed(run, org, changes, moved)
            .where(moved_count < run.allocated_count)
            .returning(AllocationResult.id)
            .cte("skipped")
        )
        if by_target:
            totals = select(moved.c.target_id, func.count(), func.sum(moved.c.amount)).group_by(
                moved.c.target_id
            )
        else:
            totals = select(literal(0, BigInteger), func.count(), cast(null(), Money)).select_from(moved)
        skips = select(cast(null(), BigInteger), func.count(), cast(null(), Money)).select_from(skipped)
        statement = union_all(totals, skips)
        if follow is not None:
            statement = statement.add_cte(follow(moved).cte("followed"))
        rows = db.session.execute(statement).all()
        applied = {int(t): (int(n), Decimal(a or 0)) for t, n, a in rows if t is not None}
        count = sum(n for n, _a in applied.values())
        return count, (applied if by_target else {}), sum(int(n) for t, n, _a in rows if t is None)
    skipped_count = db.session.execute(
        _skip_changed(run, org, changes).execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    db.session.execute(moving.execution_options(synchronize_session=False))
    if follow is not None:
        source = (
            select(
                AllocationResult.case_id,
                AllocationResult.target_id,
                AllocationResult.amount,
                AllocationResult.dpd,
            )
            .where(_planned(run))
            .subquery()
        )
        db.session.execute(follow(source))
    applied_rows = db.session.execute(
        select(AllocationResult.target_id, func.count(), func.sum(AllocationResult.amount))
        .where(_planned(run))
        .group_by(AllocationResult.target_id)
    ).all()
    applied = {int(t): (int(n), Decimal(a)) for t, n, a in applied_rows if t is not None}
    count = sum(n for n, _a in applied.values())
    return count, (applied if by_target else {}), int(skipped_count or 0)


def _apply_placement(run: AllocationRun, org: Organisation, now: dt.datetime) -> tuple[int, int]:
    """One active placement per agency (created first, for its id; its count and amount once known;
    dropped if every case of it was skipped), its placement rows, the agency on the cases."""
    in_force = agency_targets(org, run.starts_on or business_date(org))
    assert run.starts_on is not None
    assert run.ends_on is not None
    agencies = db.session.scalars(
        select(AllocationResult.target_id).where(_planned(run)).group_by(AllocationResult.target_id)
    ).all()
    placements: dict[int, Placement] = {}
    for agency_id in sorted(a for a in agencies if a in in_force):
        placements[agency_id] = Placement(
            org_id=org.id,
            agency_org_id=agency_id,
            partnership_id=in_force[agency_id].id,
            run_id=run.id,
            name=f"run {run.id}",
            starts_on=run.starts_on,
            ends_on=run.ends_on,
            status=PlacementStatus.ACTIVE,
            case_count=0,
            amount=Decimal(0),
            approval_id=run.approval_id,
            created_by_id=run.created_by_id,
            activated_at=now,
        )
        db.session.add(placements[agency_id])
    db.session.flush()
    changes = _changes(run, org, set(in_force))

    def follow(source: Any) -> Any:
        placement_id = case(
            {agency_id: p.id for agency_id, p in placements.items()}, value=source.c.target_id, else_=None
        )
        return insert(PlacementCase).from_select(
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
                literal(org.id, BigInteger),
                placement_id,
                source.c.case_id,
                source.c.target_id,
                literal(PlacementCaseStatus.ACTIVE.value),
                _bucket_sql(source.c.dpd),
                source.c.dpd,
                source.c.amount,
                literal(run.starts_on, Date),
                literal(run.ends_on, Date),
                literal(""),
            ),
        )

    moving = _place(run, changes, now)
    if not placements:  # nothing planned, or no agency in force: everything planned is skipped
        skipped = db.session.execute(
            _skip_changed(run, org, changes).execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        return 0, int(skipped or 0)
    returns = (
        AllocationResult.case_id,
        AllocationResult.target_id,
        AllocationResult.amount,
        AllocationResult.dpd,
    )
    count, applied, skipped = _write(run, org, changes, moving, follow, returns=returns, by_target=True)
    if count:  # a case the owner's own collector held leaves them for the agency
        db.session.execute(
            delete(CaseHolder)
            .where(CaseHolder.case_id.in_(select(AllocationResult.case_id).where(_planned(run))))
            .execution_options(synchronize_session=False)
        )
    for agency_id, placement in placements.items():
        placed, amount = applied.get(agency_id, (0, Decimal(0)))
        if placed:
            placement.case_count, placement.amount = placed, amount
        else:
            db.session.delete(placement)
    return count, skipped


def _apply_dispatch(run: AllocationRun, org: Organisation, now: dt.datetime) -> tuple[int, int]:
    """The collectors on the cases (their team joined from users). Nothing else is written: the run's
    planned results are its lines in the cases' assignment logs (``assignments.assignment_log``), so a
    dispatch of 100,000 cases does not copy them into ``case_assignments`` (decision 0007)."""
    changes = _changes(run, org)
    returns = (
        CaseHolder.case_id,
        CaseHolder.assignee_user_id.label("target_id"),
        cast(null(), Money).label("amount"),
        cast(null(), Integer).label("dpd"),
    )
    count, _per_target, skipped = _write(run, org, changes, _hold(run, changes, now), None, returns=returns)
    return count, skipped


def _bucket_sql(dpd: Any) -> Any:
    return case(
        (dpd <= 0, literal("M0")),
        (dpd <= 30, literal("M1")),
        (dpd <= 60, literal("M2")),
        (dpd <= 90, literal("M3")),
        else_=literal("M4+"),
    )


@job("allocation.apply-run")
def apply_run_job(job: JobContext, run_id: int) -> dict[str, Any]:
    """Apply the approved allocation run ``run_id``."""
    job.progress(10, "applying")
    run = apply_run(run_id)
    return {"run_id": run.id, "applied": run.applied_count, "skipped": run.skipped_count}
