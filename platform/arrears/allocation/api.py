"""``/api/v1`` placements, allocation strategies, runs (preview, approve, apply, status, results) and
assignments. Thin: each view loads through the tenancy loaders and calls one service."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.allocation import assignments, placements, strategies
from arrears.allocation import log as allocation_log
from arrears.allocation import runs as allocation
from arrears.allocation.loaders import get_placement_for, get_run_for, get_strategy_for
from arrears.allocation.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    AllocationStrategy,
    Placement,
    PlacementCase,
    ResultStatus,
)
from arrears.allocation.schemas import (
    ApprovalRefSchema,
    AssignmentSchema,
    DecisionSchema,
    ExtensionSchema,
    JobRefSchema,
    MoveResultSchema,
    PlacementCaseSchema,
    PlacementSchema,
    ReasonSchema,
    RecallSchema,
    ResultPageSchema,
    RunInSchema,
    RunSchema,
    StrategyInSchema,
    StrategySchema,
    StrategyVersionSchema,
    TransferSchema,
)
from arrears.cases.cases import CaseFilter
from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.orgs import approvals
from arrears.orgs.loaders import get_approval_for
from arrears.web import params
from arrears.web.api import api

TAGS = ["placements"]


def _limit(default: int = 100, most: int = 1000) -> int:
    return params.limit(default=default, most=most)


# --- placements ----------------------------------------------------------------------------------


@api.route(
    "/placements",
    summary="Placements the caller's organisation made (owner) or received (agency); ?tab=active|ended|all",
    response_schema=PlacementSchema(),
    many=True,
    tags=TAGS,
    permission="cases.view",
)
def list_placements() -> Any:
    tab = request.args.get("tab", "all")
    if tab not in placements.TABS:
        raise ValidationFailed(_("tab is one of active, ended, all."), field="tab")
    return db.session.scalars(placements.listing(g.api_user, tab=tab).limit(_limit())).all()


@api.route(
    "/placements/<int:placement_id>",
    summary="One placement",
    response_schema=PlacementSchema(),
    tags=TAGS,
    lookup=("placement_id", get_placement_for),
    permission="cases.view",
)
def get_placement(placement: Placement) -> Any:
    return placement


@api.route(
    "/placements/<int:placement_id>/cases",
    summary="The cases of a placement and the period each spent there (an agency sees the active ones)",
    response_schema=PlacementCaseSchema(),
    many=True,
    tags=TAGS,
    lookup=("placement_id", get_placement_for),
    permission="cases.view",
)
def placement_cases(placement: Placement) -> Any:
    after = params.integer("after", default=0) or 0
    stmt = placements.cases_of(placement)
    rows = db.session.execute(stmt.where(PlacementCase.id > after).limit(_limit(500, 5000)))
    return [pc for pc, _case in rows]


@api.route(
    "/placements/<int:placement_id>/recall",
    methods=("POST",),
    summary="Recall (退案) the whole placement, or the listed cases of it, now; the reason is required",
    request_schema=RecallSchema(),
    response_schema=MoveResultSchema(),
    tags=TAGS,
    lookup=("placement_id", get_placement_for),
    permission="placements.manage",
)
def recall(placement: Placement, body: dict[str, Any]) -> Any:
    if placement.org_id != g.api_user.org_id:
        raise NotFound(_("Not found."))
    if body["case_ids"]:
        moved = placements.recall_cases(g.api_user, body["case_ids"], body["reason"], placement=placement)
        return {"moved": moved}
    return {"moved": placements.recall_placement(g.api_user, placement, body["reason"])}


@api.route(
    "/placements/<int:placement_id>/extension",
    methods=("POST",),
    summary="Ask for a later end date (延期): the owner's approvers decide",
    request_schema=ExtensionSchema(),
    response_schema=ApprovalRefSchema(),
    status=202,
    tags=TAGS,
    lookup=("placement_id", get_placement_for),
    permission="approvals.request",
)
def extend(placement: Placement, body: dict[str, Any]) -> Any:
    return placements.request_extension(g.api_user, placement, body["ends_on"], body["reason"])


@api.route(
    "/placements/<int:placement_id>/early-recall",
    methods=("POST",),
    summary="An agency asks the owner to take a placement (or some of its cases) back early",
    request_schema=RecallSchema(),
    response_schema=ApprovalRefSchema(),
    status=202,
    tags=TAGS,
    lookup=("placement_id", get_placement_for),
    permission="approvals.request",
)
def early_recall(placement: Placement, body: dict[str, Any]) -> Any:
    return placements.request_early_recall(g.api_user, placement, body["reason"], body["case_ids"])


# --- strategies ----------------------------------------------------------------------------------


@api.route(
    "/strategies",
    summary="Allocation strategies (分案策略) of the caller's organisation; ?archived=1 for archived ones",
    response_schema=StrategySchema(),
    many=True,
    tags=TAGS,
    permission="cases.dispatch",
)
def list_strategies() -> Any:
    return db.session.scalars(
        strategies.listing(g.api_user, archived=request.args.get("archived") == "1")
    ).all()


@api.route(
    "/strategies",
    methods=("POST",),
    summary="Create a strategy (version 1); invalid rules are reported per field path",
    request_schema=StrategyInSchema(),
    response_schema=StrategySchema(),
    status=201,
    tags=TAGS,
    permission="cases.dispatch",
)
def create_strategy(body: dict[str, Any]) -> Any:
    if body["level"] is None:
        raise ValidationFailed(_("Choose the level."), field="level")
    return strategies.save(
        g.api_user,
        strategy=None,
        name=body["name"],
        level=AllocationLevel(body["level"]),
        rules=body["rules"],
        note=body["note"],
    )


@api.route(
    "/strategies/<int:strategy_id>",
    summary="One strategy, its current rules and version",
    response_schema=StrategySchema(),
    tags=TAGS,
    lookup=("strategy_id", get_strategy_for),
    permission="cases.dispatch",
)
def get_strategy(strategy: AllocationStrategy) -> Any:
    return strategy


@api.route(
    "/strategies/<int:strategy_id>",
    methods=("PUT",),
    summary="Change a strategy: a new version with the readable difference (策略调整日志)",
    request_schema=StrategyInSchema(),
    response_schema=StrategySchema(),
    tags=TAGS,
    lookup=("strategy_id", get_strategy_for),
    permission="cases.dispatch",
)
def update_strategy(strategy: AllocationStrategy, body: dict[str, Any]) -> Any:
    return strategies.save(
        g.api_user, strategy=strategy, name=body["name"], rules=body["rules"], note=body["note"]
    )


@api.route(
    "/strategies/<int:strategy_id>/versions",
    summary="Every version of a strategy: rules, who, when and what changed",
    response_schema=StrategyVersionSchema(),
    many=True,
    tags=TAGS,
    lookup=("strategy_id", get_strategy_for),
    permission="cases.dispatch",
)
def strategy_versions(strategy: AllocationStrategy) -> Any:
    return strategies.versions(strategy)


# --- allocation runs ----------------------------------------------------------------------------------


@api.route(
    "/allocation-runs",
    summary="Allocation runs of the caller's organisation, newest first",
    response_schema=RunSchema(),
    many=True,
    tags=TAGS,
    permission="cases.dispatch",
)
def list_runs() -> Any:
    levels = strategies.levels_for(g.api_user)
    return db.session.scalars(allocation_log.runs(g.api_user, levels=levels).limit(_limit())).all()


@api.route(
    "/allocation-runs",
    methods=("POST",),
    summary="Preview (预分案): compute and store a run's plan by strategy or by rules; nothing else changes",
    request_schema=RunInSchema(),
    response_schema=RunSchema(),
    status=201,
    tags=TAGS,
    permission="cases.dispatch",
)
def create_run(body: dict[str, Any]) -> Any:
    actor = g.api_user
    strategy = get_strategy_for(actor, body["strategy_id"]) if body["strategy_id"] else None
    scope = body["scope"] or {}
    return allocation.preview(
        actor,
        level=AllocationLevel(body["level"]),
        strategy=strategy,
        rules=body["rules"],
        scope=CaseFilter(
            dpd_min=scope.get("dpd_min"),
            dpd_max=scope.get("dpd_max"),
            amount_min=scope.get("amount_min"),
            amount_max=scope.get("amount_max"),
            product=scope.get("product"),
            province=scope.get("province"),
            city=scope.get("city"),
            tags=scope.get("tags") or [],
        ),
        case_ids=body["case_ids"],
        targets=body["targets"],
        starts_on=body["starts_on"],
        ends_on=body["ends_on"],
    )


@api.route(
    "/allocation-runs/<int:run_id>",
    summary="One run: status, per-target summary (count, amount, sample), unallocated reasons, its job",
    response_schema=RunSchema(),
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="cases.dispatch",
)
def get_run(run: AllocationRun) -> Any:
    return run


@api.route(
    "/allocation-runs/<int:run_id>/results",
    summary="The result log (分案结果日志): per case, where it went and why; ?status=, ?after=<case id>",
    response_schema=ResultPageSchema(),
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="cases.dispatch",
)
def run_results(run: AllocationRun) -> Any:
    limit = _limit(500, 5000)
    stmt = select(AllocationResult).where(
        AllocationResult.run_id == run.id,
        AllocationResult.case_id > (params.integer("after", default=0) or 0),
    )
    status = request.args.get("status")
    if status:
        try:
            stmt = stmt.where(AllocationResult.status == ResultStatus(status))
        except ValueError:
            raise ValidationFailed(_("Unknown status: %(value)s", value=status), field="status")
    rows = list(db.session.scalars(stmt.order_by(AllocationResult.case_id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": rows[-1].case_id if more else None}


@api.route(
    "/allocation-runs/<int:run_id>/submit",
    methods=("POST",),
    summary="Send a previewed run for review (预分案结果审核)",
    request_schema=ReasonSchema(),
    response_schema=ApprovalRefSchema(),
    status=202,
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="cases.dispatch",
)
def submit_run(run: AllocationRun, body: dict[str, Any]) -> Any:
    return allocation.submit(g.api_user, run, body["reason"])


@api.route(
    "/allocation-runs/<int:run_id>/decision",
    methods=("POST",),
    summary="Approve or reject a run waiting for review (a different person from the one who sent it)",
    request_schema=DecisionSchema(),
    response_schema=RunSchema(),
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="approvals.decide",
)
def decide_run(run: AllocationRun, body: dict[str, Any]) -> Any:
    if run.approval_id is None:
        raise Conflict(_("This run is not waiting for approval."))
    approval = get_approval_for(g.api_user, run.approval_id)
    approvals.decide(g.api_user, approval, approve=body["approve"], note=body["note"])
    db.session.refresh(run)
    return run


@api.route(
    "/allocation-runs/<int:run_id>/apply",
    methods=("POST",),
    summary="Apply an approved run on the queue (once: a second call is refused); poll the run for status",
    response_schema=JobRefSchema(),
    status=202,
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="cases.dispatch",
)
def apply_run(run: AllocationRun) -> Any:
    job_id = allocation.start_apply(g.api_user, run)
    db.session.refresh(run)
    return {"run_id": run.id, "job_id": job_id, "status": run.status.value}


@api.route(
    "/allocation-runs/<int:run_id>/discard",
    methods=("POST",),
    summary="Discard a previewed or approved run that will not be applied",
    response_schema=RunSchema(),
    tags=TAGS,
    lookup=("run_id", get_run_for),
    permission="cases.dispatch",
)
def discard_run(run: AllocationRun) -> Any:
    allocation.discard(g.api_user, run)
    db.session.refresh(run)
    return run


# --- assignments ----------------------------------------------------------------------------------


@api.route(
    "/assignments/transfer",
    methods=("POST",),
    summary="Transfer (转派) cases to another collector with a reason; the collector's cap holds",
    request_schema=TransferSchema(),
    response_schema=MoveResultSchema(),
    tags=TAGS,
    permission="cases.dispatch",
)
def transfer(body: dict[str, Any]) -> Any:
    if body["to_user_id"] is None:
        raise ValidationFailed(_("Choose who takes the cases."), field="to_user_id")
    return {"moved": assignments.transfer(g.api_user, body["case_ids"], body["to_user_id"], body["reason"])}


@api.route(
    "/assignments/unassign",
    methods=("POST",),
    summary="Put cases back in the unassigned pool, with a reason",
    request_schema=TransferSchema(),
    response_schema=MoveResultSchema(),
    tags=TAGS,
    permission="cases.dispatch",
)
def unassign(body: dict[str, Any]) -> Any:
    return {"moved": assignments.unassign(g.api_user, body["case_ids"], body["reason"])}


@api.route(
    "/cases/<int:case_id>/assignments",
    summary="Who held a case inside the caller's organisation: dispatches, transfers, recalls",
    response_schema=AssignmentSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def case_assignments(case: Case) -> Any:
    return assignments.assignment_log(case)
