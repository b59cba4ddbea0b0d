"""Reading allocation runs (分案) and their per-case results (分案结果日志) for the consoles, and the
targets an organisation's strategies and runs may name.

Everything here reads; the use cases that change runs are in ``allocation.runs``. Each query is
narrowed to the reader's organisation (wall 2 does it too): runs and results belong to the
organisation that ran them, so an agency reads its own dispatch runs and never an owner's placements.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, select

from arrears.allocation.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    Placement,
    ResultStatus,
    RunStatus,
)
from arrears.allocation.runs import agency_targets, collector_targets
from arrears.auth.models import User
from arrears.cases.models import Case
from arrears.extensions import db
from arrears.kernel.clock import business_date

PAGE = 100


@dataclass(frozen=True)
class TargetChoice:
    key: str  # "agency:<id>" or "user:<id>", as the rules name them
    id: int
    name: str


def targets_for(actor: User, level: AllocationLevel, on: dt.date | None = None) -> list[TargetChoice]:
    """Who a run of ``level`` may allocate to now: for a placement, the agencies with a partnership in
    force on ``on`` (default: the business date); for a dispatch, the active collectors."""

    org = actor.org
    if level == AllocationLevel.PLACEMENT:
        partnerships = agency_targets(org, on or business_date(org))
        found = [TargetChoice(f"agency:{aid}", aid, p.agency.name) for aid, p in partnerships.items()]
    else:
        found = [TargetChoice(f"user:{uid}", uid, u.name) for uid, u in collector_targets(org).items()]
    return sorted(found, key=lambda t: (t.name, t.id))


def runs(
    actor: User, *, levels: list[AllocationLevel], status: RunStatus | None = None
) -> Select[tuple[AllocationRun]]:
    """The organisation's runs at ``levels``, newest first."""
    stmt = (
        select(AllocationRun)
        .where(AllocationRun.org_id == actor.org_id, AllocationRun.level.in_(levels))
        .order_by(AllocationRun.id.desc())
    )
    if status is not None:
        stmt = stmt.where(AllocationRun.status == status)
    return stmt


def shown_status(run: AllocationRun, status: ResultStatus) -> ResultStatus:
    """A result's status as the log shows it. Apply may leave the applied rows ``planned`` and rewrite
    only the skipped ones: in an applied run, planned means applied."""
    if status == ResultStatus.PLANNED and run.status == RunStatus.APPLIED:
        return ResultStatus.APPLIED
    return status


def _status_condition(run: AllocationRun, status: ResultStatus) -> Any:
    if run.status == RunStatus.APPLIED and status == ResultStatus.APPLIED:
        return AllocationResult.status.in_((ResultStatus.PLANNED, ResultStatus.APPLIED))
    if run.status == RunStatus.APPLIED and status == ResultStatus.PLANNED:
        return false()
    return AllocationResult.status == status


def status_counts(run: AllocationRun) -> dict[str, int]:
    """How many of the run's cases are planned, unallocated, applied, skipped."""
    rows = db.session.execute(
        select(AllocationResult.status, func.count())
        .where(AllocationResult.run_id == run.id, AllocationResult.org_id == run.org_id)
        .group_by(AllocationResult.status)
    )
    out: dict[str, int] = {}
    for status, count in rows:
        key = shown_status(run, status).value
        out[key] = out.get(key, 0) + int(count)
    return out


def results(
    run: AllocationRun,
    *,
    status: ResultStatus | None = None,
    target_id: int | None = None,
    after: int | None = None,
    limit: int = PAGE,
) -> tuple[list[tuple[AllocationResult, str | None]], int | None]:
    """One page of the run's per-case results in id order (keyset on the result id), with the case's
    loan number where the reader still sees the case, and the id to continue after."""
    stmt = (
        select(AllocationResult, Case.loan_no)
        .outerjoin(Case, Case.id == AllocationResult.case_id)
        .where(AllocationResult.run_id == run.id, AllocationResult.org_id == run.org_id)
        .order_by(AllocationResult.id)
    )
    if status is not None:
        stmt = stmt.where(_status_condition(run, status))
    if target_id is not None:
        stmt = stmt.where(AllocationResult.target_id == target_id)
    if after is not None:
        stmt = stmt.where(AllocationResult.id > after)
    rows: list[tuple[AllocationResult, str | None]] = [
        (r, loan_no) for r, loan_no in db.session.execute(stmt.limit(limit + 1))
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


def case_results(actor: User, case: Case) -> list[tuple[AllocationResult, AllocationRun]]:
    """A case's allocation history in the reader's organisation: every run that considered it."""
    return [
        (r, run)
        for r, run in db.session.execute(
            select(AllocationResult, AllocationRun)
            .join(AllocationRun, AllocationRun.id == AllocationResult.run_id)
            .where(AllocationResult.case_id == case.id, AllocationResult.org_id == actor.org_id)
            .order_by(AllocationResult.id.desc())
            .limit(200)
        )
    ]


def target_names(run: AllocationRun) -> dict[int, str]:
    return {int(t["id"]): str(t.get("name", t["id"])) for t in run.targets or []}


def rule_names(run: AllocationRun) -> list[str]:
    return [str(r.get("name", "")) for r in run.rules or []]


def placements_of(run: AllocationRun) -> list[Placement]:
    """The placements an applied placement run made (one per agency)."""
    if run.level != AllocationLevel.PLACEMENT:
        return []
    return list(
        db.session.scalars(
            select(Placement)
            .where(Placement.run_id == run.id, Placement.org_id == run.org_id)
            .order_by(Placement.id)
        )
    )
