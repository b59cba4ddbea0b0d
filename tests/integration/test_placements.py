"""Placements after they start, against PostgreSQL: recall by hand and in bulk, the end date, extension
and early recall through approvals, transfers and caps, the case scope inside an organisation, and
strategies' versions. After a recall or the end, the agency and its collectors lose the case at once,
in all three walls."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from arrears.allocation import assignments, placements, strategies
from arrears.allocation.loaders import get_placement_for, get_strategy_for
from arrears.cases.imports.batches import import_cases
from arrears.cases.loaders import get_case_for
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    AllocationLevel,
    ApprovalStatus,
    AssignmentKind,
    AuditEvent,
    Case,
    CaseAssignment,
    Organisation,
    Placement,
    PlacementCase,
    PlacementCaseStatus,
    PlacementStatus,
    User,
)
from arrears.orgs import approvals
from arrears.tenancy import tenant
from tests.builders.placements import END, dispatch_to, placed_with_east
from tests.builders.tenants import World
from tests.conftest import SHARED, Database

DATA = SHARED / "data" / "imports"
ROOT = Path(__file__).resolve().parents[2]


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _rls_case_ids(org_id: int) -> set[int]:
    """Wall 3 alone: the application role with only the tenant set."""
    with db.engine.connect() as conn:
        conn.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(org_id)})
        rows = {r[0] for r in conn.execute(text("SELECT id FROM cases"))}
        conn.execute(text("SELECT set_config('app.tenant_id', '', false)"))
    return rows


def _east_sees(world: World) -> set[int]:
    with tenant(world.east.org_id):
        db.session.expire_all()
        return set(db.session.scalars(select(Case.id)))


def test_a_recalled_case_leaves_the_agency_and_its_collector_at_once(app: Flask, world: World) -> None:
    placement = placed_with_east(world)
    with tenant(world.bank.org_id):
        first, second = db.session.scalars(select(Case.id).order_by(Case.id).limit(2)).all()
    dispatch_to(world, [first, second], "collector")
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        assert get_case_for(collector, first).assignee_user_id == collector.id

    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        with pytest.raises(ValidationFailed):
            placements.recall_cases(admin, [first], "  ")  # a recall says why
        assert placements.recall_cases(admin, [first], "debtor disputes the debt") == 1
        case = db.session.get(Case, first)
        assert (case.agency_org_id, case.assignee_user_id) == (None, None)
        assert case.previous_agency_org_id == world.east.org_id
        assert case.previous_assignee_user_id == world.east.users["collector"]
        row = db.session.scalar(select(PlacementCase).where(PlacementCase.case_id == first))
        assert (row.status, row.close_reason) == (PlacementCaseStatus.RECALLED, "debtor disputes the debt")
        assert db.session.get(Placement, placement.id).status == PlacementStatus.ACTIVE  # 299 still out
        with pytest.raises(Conflict):
            placements.recall_cases(admin, [first], "again")  # nothing placed any more

    seen = _east_sees(world)
    assert first not in seen and second in seen and len(seen) == 299
    assert first not in _rls_case_ids(world.east.org_id)
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        with pytest.raises(NotFound):
            get_case_for(collector, first)
        assert get_case_for(collector, second).id == second
        # the agency keeps its log of the case: the run's dispatch, then the owner's recall
        log = assignments.log_lines(first)
        assert [(e.kind, e.to_user_id) for e in reversed(log)] == [
            (AssignmentKind.DISPATCH, world.east.users["collector"]),
            (AssignmentKind.RECALL, None),
        ]
        assert log[1].run_id is not None and log[0].reason == "debtor disputes the debt"


def test_bulk_recall_ends_the_placement_and_the_agency_sees_nothing(app: Flask, world: World) -> None:
    placement = placed_with_east(world)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        assert placements.recall_placement(admin, placement, "contract ended early") == 300
        done = db.session.get(Placement, placement.id)
        assert done.status == PlacementStatus.RECALLED and done.closed_at is not None
        assert db.session.scalar(select(func.count()).where(Case.agency_org_id.is_not(None))) == 0
        with pytest.raises(Conflict):
            placements.recall_placement(admin, done, "twice")
    assert _east_sees(world) == set()
    assert _rls_case_ids(world.east.org_id) == set()
    with tenant(world.east.org_id):  # the placement rows too: an agency sees only active ones
        assert db.session.scalars(select(PlacementCase.id)).all() == []


def test_placements_end_after_their_end_date(app: Flask, world: World) -> None:
    placement = placed_with_east(world)
    with tenant(world.bank.org_id):
        assert placements.end_due(END) == {"placements": 0, "cases": 0}  # the last day is still in
        assert placements.end_due(END + dt.timedelta(days=1)) == {"placements": 1, "cases": 300}
        assert db.session.get(Placement, placement.id).status == PlacementStatus.ENDED
        statuses = set(db.session.scalars(select(PlacementCase.status)))
        assert statuses == {PlacementCaseStatus.ENDED}
    assert _east_sees(world) == set()
    with tenant(world.east.org_id):  # an agency's job does nothing
        assert placements.end_due(END + dt.timedelta(days=9)) == {"placements": 0, "cases": 0}


def test_the_periodic_job_ends_placements_per_tenant(app: Flask, world: World, database: Database) -> None:
    """The schedule fans the job out to every tenant; an rq worker process runs each in its tenant."""
    import subprocess
    import sys

    from arrears.kernel.jobs.schedule import run_periodic
    from arrears.models import JobRecord, JobStatus
    from tests.conftest import worker_env

    placement = placed_with_east(world)
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        org.settings = {**(org.settings or {}), "business_date": "2027-04-02"}
        db.session.commit()
    assert run_periodic("end-placements") == 5  # one job per active tenant
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst", "--no-scheduler"],
        cwd=ROOT,
        env=worker_env(app, database),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with tenant(world.bank.org_id):
        db.session.expire_all()
        assert db.session.get(Placement, placement.id).status == PlacementStatus.ENDED
        job = db.session.scalar(select(JobRecord).where(JobRecord.name == "end-placements"))
        assert (job.status, job.result) == (JobStatus.FINISHED, {"placements": 1, "cases": 300})
    assert _east_sees(world) == set()


def test_an_agency_asks_for_an_extension_and_the_owner_decides(app: Flask, world: World) -> None:
    placement = placed_with_east(world)
    later = END + dt.timedelta(days=30)
    with tenant(world.east.org_id):
        manager = _user(world.east.admin_id)
        mine = get_placement_for(manager, placement.id)
        with pytest.raises(ValidationFailed):
            placements.request_extension(manager, mine, END - dt.timedelta(days=1), "more time")
        approval = placements.request_extension(manager, mine, later, "debtors promised to pay in April")
    with tenant(world.west.org_id), pytest.raises(NotFound):  # another agency cannot even open it
        get_placement_for(_user(world.west.admin_id), placement.id)
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        inbox = approvals.listing(world.bank.org_id, status=ApprovalStatus.PENDING)
        assert approval.id in {a.id for a in db.session.scalars(inbox)}
        approvals.decide(admin, db.session.get(type(approval), approval.id), approve=True)
        assert db.session.get(Placement, placement.id).ends_on == later
        assert set(db.session.scalars(select(PlacementCase.ends_on))) == {later}
        assert placements.end_due(END + dt.timedelta(days=1))["placements"] == 0  # not yet


def test_an_early_recall_of_some_cases_is_applied_when_approved(app: Flask, world: World) -> None:
    placement = placed_with_east(world)
    with tenant(world.bank.org_id):
        ids = db.session.scalars(select(Case.id).order_by(Case.id).limit(3)).all()
    with tenant(world.east.org_id):
        manager = _user(world.east.admin_id)
        mine = get_placement_for(manager, placement.id)
        with pytest.raises(ValidationFailed):
            placements.request_early_recall(manager, mine, "wrong ids", case_ids=[ids[0], 10**12])
        approval = placements.request_early_recall(manager, mine, "debtors abroad", case_ids=ids)
    with tenant(world.bank.org_id):
        approvals.decide(_user(world.bank.admin_id), approval, approve=True)
        back = db.session.scalars(select(Case.id).where(Case.id.in_(ids), Case.agency_org_id.is_(None))).all()
        assert sorted(back) == sorted(ids)
        assert db.session.get(Placement, placement.id).status == PlacementStatus.ACTIVE
    assert len(_east_sees(world)) == 297


def test_transfers_keep_caps_scopes_and_the_log(app: Flask, world: World) -> None:
    placed_with_east(world)
    with tenant(world.bank.org_id):
        ids = db.session.scalars(select(Case.id).order_by(Case.id).limit(4)).all()
    dispatch_to(world, ids, "collector")
    with tenant(world.east.org_id):
        manager = _user(world.east.admin_id)
        lead_id, collector_id = world.east.users["team_lead"], world.east.users["collector"]
        with pytest.raises(ValidationFailed):
            assignments.transfer(manager, ids[:1], lead_id, "")  # the reason is required
        assignments.set_cap(manager, _user(lead_id), 1)
        with pytest.raises(Conflict) as refused:
            assignments.transfer(manager, ids[:2], lead_id, "rebalancing")
        assert "1" in str(refused.value.message)
        assert (
            db.session.scalar(select(func.count()).select_from(Case).where(Case.assignee_user_id == lead_id))
            == 0
        )
        assert assignments.transfer(manager, ids[:1], lead_id, "rebalancing") == 1
        moved = db.session.get(Case, ids[0])
        assert (moved.assignee_user_id, moved.previous_assignee_user_id) == (lead_id, collector_id)
        entry = db.session.scalar(
            select(CaseAssignment).where(CaseAssignment.case_id == ids[0]).order_by(CaseAssignment.id.desc())
        )
        assert (entry.kind, entry.from_user_id, entry.to_user_id, entry.reason) == (
            AssignmentKind.TRANSFER,
            collector_id,
            lead_id,
            "rebalancing",
        )
        collector = _user(collector_id)
        with pytest.raises(NotFound):
            get_case_for(collector, ids[0])  # gone from the first collector
        seen = set(db.session.scalars(select(Case.id).where(_scope(collector))))
        assert seen == set(ids[1:])
        with pytest.raises(ValidationFailed):  # a collector cannot move cases they cannot see
            assignments.unassign(_user(lead_id), ids[1:2], "mine now")
        assert assignments.unassign(manager, ids[1:2], "collector on leave") == 1
        assert assignments.pool_count(manager) == 300 - 3
    with tenant(world.west.org_id), pytest.raises(ValidationFailed):  # not its cases, whatever the id
        assignments.transfer(_user(world.west.admin_id), ids[:1], world.west.users["collector"], "x")


def _scope(actor: User):
    from arrears.cases.scopes import case_scope

    return case_scope(actor)


def test_strategies_are_versioned_with_a_readable_change_log(app: Flask, world: World) -> None:
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        rules = [
            {"name": "M1", "filter": {"dpd_max": 30}, "method": "round_robin"},
            {"name": "Rest", "method": "balanced_amount"},
        ]
        strategy = strategies.save(
            admin, strategy=None, name="Standard", level=AllocationLevel.PLACEMENT, rules=rules
        )
        assert strategy.version == 1
        with pytest.raises(ValidationFailed) as bad:
            strategies.save(
                admin,
                strategy=strategy,
                name="Standard",
                rules=[{"name": "M1", "filter": {"dpd_min": 40, "dpd_max": 30}}],
            )
        assert "rules[0].filter.dpd_max" in str(bad.value.message)
        assert db.session.get(type(strategy), strategy.id).version == 1  # nothing written
        with pytest.raises(ValidationFailed):
            strategies.save(admin, strategy=strategy, name="Standard", rules=[{"name": "A"}, {"name": "a"}])
        rules[0]["filter"] = {"dpd_max": 60}
        strategy = strategies.save(admin, strategy=strategy, name="Standard", rules=rules, note="wider M1")
        assert strategy.version == 2
        assert strategies.save(admin, strategy=strategy, name="Standard", rules=rules).version == 2  # no-op
        latest = strategies.versions(strategy)[0]
        assert (latest.version, latest.changes, latest.note) == (
            2,
            ["“M1”: filter dpd_max 30 → 60"],
            "wider M1",
        )
        assert latest.created_by_id == admin.id
        assert (
            db.session.scalar(
                select(func.count()).where(
                    AuditEvent.action == "strategy.saved", AuditEvent.org_id == admin.org_id
                )
            )
            == 2
        )
    with tenant(world.east.org_id):  # an agency cannot place, nor open the bank's strategy
        manager = _user(world.east.admin_id)
        with pytest.raises(ValidationFailed):
            strategies.save(manager, strategy=None, name="X", level=AllocationLevel.PLACEMENT, rules=rules)
        with pytest.raises(NotFound):
            get_strategy_for(manager, strategy.id)


def test_owner_staff_without_the_whole_view_see_only_their_own_cases(
    app: Flask, world: World, database: Database
) -> None:
    """Scope inside the owner: a custom role without cases.view.all sees only its assigned cases."""
    from arrears.orgs import roles

    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        _, report, _ = import_cases(org, DATA / "cases_utf8_bom.csv", "cases.csv", dry_run=False)
        admin = _user(world.bank.admin_id)
        role = roles.save_role(
            admin,
            role=None,
            name="in-house collector",
            description="",
            permissions=["cases.view", "workbench.use"],
        )
        staff = _user(world.bank.users["owner_staff"])
        staff.set_roles([role])  # the role links: `roles` itself is read-only
        db.session.commit()
        assert not _user(staff.id).can("cases.view.all")
        assert db.session.scalar(select(func.count()).where(_scope(_user(staff.id)))) == 0
        assert db.session.scalar(select(func.count()).where(_scope(admin))) == report.imported
