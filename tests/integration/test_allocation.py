"""Allocation runs against PostgreSQL: preview, approval, apply (once), skipped changes, visibility."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from arrears.allocation import runs as allocation
from arrears.cases.imports.batches import import_cases
from arrears.errors import Conflict, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    AllocationLevel,
    AllocationResult,
    Case,
    CaseStatus,
    Organisation,
    Placement,
    PlacementCase,
    ResultStatus,
    RunStatus,
    User,
)
from arrears.orgs import approvals
from arrears.tenancy import tenant
from tests.builders.tenants import PASSWORD, World, partner
from tests.conftest import SHARED, Database

DATA = SHARED / "data" / "imports"
END = dt.date(2027, 3, 31)


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _checker(world: World) -> User:
    from arrears.orgs import roles, users

    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        role = roles.builtin_role(org, "owner_admin")
        checker = users.create_user(
            None,
            org=org,
            email="checker@bank.test.example",
            name="Checker",
            password=PASSWORD,
            role_ids=[role.id],
        )
        return checker


def _bank_with_cases(world: World) -> User:
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        _, report, refused = import_cases(org, DATA / "cases_utf8_bom.csv", "cases.csv", dry_run=False)
        assert refused is None and report.imported == 300
    partner(world.bank, world.west)  # bank now works with both agencies
    return _user(world.bank.admin_id)


def _approved_placement(world: World, **kw: Any) -> tuple[Any, User]:
    admin = _bank_with_cases(world)
    checker = _checker(world)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        run = allocation.preview(admin, level=AllocationLevel.PLACEMENT, ends_on=END, **kw)
        approval = allocation.submit(admin, run)
        approvals.decide(_user(checker.id), approval, approve=True)
        db.session.refresh(run)
        assert run.status == RunStatus.APPROVED
    return run, admin


def test_preview_writes_nothing_but_the_plan_and_apply_writes_exactly_it(app: Flask, world: World) -> None:
    run, admin = _approved_placement(world)
    with tenant(world.bank.org_id):
        planned = dict(
            db.session.execute(
                select(AllocationResult.case_id, AllocationResult.target_id).where(
                    AllocationResult.run_id == run.id, AllocationResult.status == ResultStatus.PLANNED
                )
            ).all()
        )
        assert len(planned) == 300 == run.allocated_count
        counts = Counter(planned.values())
        assert set(counts) == {world.east.org_id, world.west.org_id}
        assert abs(counts[world.east.org_id] - counts[world.west.org_id]) <= 1  # equal count
        assert db.session.scalar(select(Case.id).where(Case.agency_org_id.is_not(None)).limit(1)) is None
        summary = {t["id"]: t for t in run.summary["targets"]}
        assert summary[world.east.org_id]["count"] == counts[world.east.org_id]
        assert len(summary[world.east.org_id]["sample"]) == 5

        allocation.start_apply(admin, run)
        with pytest.raises(Conflict):
            allocation.start_apply(admin, run)  # claimed once
        allocation.apply_run(run.id)
        allocation.apply_run(run.id)  # a job delivered twice: nothing more happens
        held = dict(
            db.session.execute(
                select(Case.id, Case.agency_org_id).where(Case.agency_org_id.is_not(None))
            ).all()
        )
        assert held == planned
        placements = db.session.scalars(select(Placement).order_by(Placement.agency_org_id)).all()
        assert {p.agency_org_id: p.case_count for p in placements} == counts
        assert db.session.scalar(select(text("count(*)")).select_from(PlacementCase)) == 300


def test_two_people_applying_at_once_apply_it_once(app: Flask, world: World) -> None:
    run, _admin = _approved_placement(world)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim() -> None:
        with app.app_context(), tenant(world.bank.org_id):
            user = _user(world.bank.admin_id)
            barrier.wait()
            try:
                allocation.start_apply(user, db.session.get(type(run), run.id))
                outcomes.append("claimed")
            except Conflict:
                outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["claimed", "refused"]


def test_cases_changed_after_the_preview_are_skipped_with_the_reason(
    app: Flask, world: World, database: Database
) -> None:
    run, admin = _approved_placement(world)
    with tenant(world.bank.org_id):
        first, second = db.session.scalars(select(Case.id).order_by(Case.id).limit(2)).all()
        db.session.get(Case, first).status = CaseStatus.CLOSED  # repaid in between
        db.session.commit()
        allocation.start_apply(admin, run)
        done = allocation.apply_run(run.id)
        assert (done.applied_count, done.skipped_count) == (299, 1)
        skipped = db.session.scalar(
            select(AllocationResult).where(
                AllocationResult.run_id == run.id, AllocationResult.case_id == first
            )
        )
        assert (skipped.status, skipped.reason) == (ResultStatus.SKIPPED, "closed since the preview")
        assert db.session.get(Case, first).agency_org_id is None
        assert db.session.get(Case, second).agency_org_id is not None


def test_a_run_needs_approval_and_targets_need_a_partnership_in_force(app: Flask, world: World) -> None:
    admin = _bank_with_cases(world)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        run = allocation.preview(admin, level=AllocationLevel.PLACEMENT, ends_on=END)
        with pytest.raises(Conflict):
            allocation.start_apply(admin, run)  # not approved
        with pytest.raises(ValidationFailed):  # lender's agency: no partnership with bank
            allocation.preview(
                admin, level=AllocationLevel.PLACEMENT, ends_on=END, targets=[{"id": world.lender.org_id}]
            )


def test_an_agency_sees_only_what_is_placed_with_it(app: Flask, world: World, database: Database) -> None:
    run, admin = _approved_placement(world)
    with tenant(world.bank.org_id):
        allocation.start_apply(admin, run)
        allocation.apply_run(run.id)
        east_cases = set(db.session.scalars(select(Case.id).where(Case.agency_org_id == world.east.org_id)))
        east_debtors = set(
            db.session.scalars(select(Case.debtor_id).where(Case.agency_org_id == world.east.org_id))
        )
    for agency, expected in ((world.east, east_cases),):
        with tenant(agency.org_id):  # wall 2
            db.session.expire_all()
            seen = set(db.session.scalars(select(Case.id)))
            assert seen == expected
            debtors = db.session.scalar(select(text("count(*)")).select_from(Case).join(Case.debtor))
            assert debtors == len(expected)
        # wall 3: the app role with the agency's tenant set, no ORM criteria
        with db.engine.connect() as conn:
            conn.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(agency.org_id)})
            rows = {r[0] for r in conn.execute(text("SELECT id FROM cases"))}
            debtor_rows = {r[0] for r in conn.execute(text("SELECT id FROM debtors"))}
            conn.execute(text("SELECT set_config('app.tenant_id', '', false)"))
        assert rows == expected
        assert debtor_rows == east_debtors  # the debtors of its placed cases, no others
    with tenant(world.west.org_id):
        assert not set(db.session.scalars(select(Case.id))) & east_cases  # never the other agency's
    with tenant(world.lender.org_id):
        assert db.session.scalars(select(Case.id)).all() == []


def test_a_dispatch_leaves_a_case_taken_meanwhile_and_takes_one_from_a_teams_pool(
    app: Flask, world: World, database: Database
) -> None:
    """The dispatch writes holder rows: a case a collector took between the preview and the apply keeps
    its collector and is skipped with the reason; a case sent back to a team's pool meanwhile (a holder
    row without a collector) is dispatched all the same."""
    from arrears.models import Team

    _bank_with_cases(world)
    checker = _checker(world)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        ids = db.session.scalars(select(Case.id).order_by(Case.id).limit(3)).all()
        run = allocation.preview(
            admin,
            level=AllocationLevel.DISPATCH,
            case_ids=ids,
            rules=[{"name": "to the admin", "targets": [f"user:{admin.id}"]}],
            targets=[{"id": admin.id}],
        )
        assert run.allocated_count == 3
        team = Team(name="Recovery")
        db.session.add(team)
        db.session.commit()
        team_id = team.id
    with database.owner_engine.begin() as conn:  # other transactions, meanwhile
        conn.execute(
            text(
                "INSERT INTO case_holders (case_id, org_id, assignee_user_id, team_id, assigned_at) VALUES "
                "(:taken, :org, :checker, NULL, now()), (:pooled, :org, NULL, :team, NULL)"
            ),
            {
                "taken": ids[0],
                "pooled": ids[1],
                "org": world.bank.org_id,
                "checker": checker.id,
                "team": team_id,
            },
        )
    with tenant(world.bank.org_id):
        allocation.start_apply(admin, run)
        done = allocation.apply_run(run.id)
        assert (done.applied_count, done.skipped_count) == (2, 1)
        reason = db.session.scalar(
            select(AllocationResult.reason).where(
                AllocationResult.run_id == run.id, AllocationResult.case_id == ids[0]
            )
        )
        assert reason == "placed or assigned since the preview"
        db.session.expire_all()
        assert [db.session.get(Case, i).assignee_user_id for i in ids] == [checker.id, admin.id, admin.id]
    holders = database.rows("SELECT case_id, assignee_user_id, team_id FROM case_holders ORDER BY case_id")
    assert [tuple(r) for r in holders] == [
        (ids[0], checker.id, None),
        (ids[1], admin.id, None),  # the dispatch gives the collector's own team (none)
        (ids[2], admin.id, None),
    ]
    with tenant(world.east.org_id):  # not placed with east: none of its holders
        assert db.session.scalars(select(Case.id).where(Case.id.in_(ids))).all() == []
