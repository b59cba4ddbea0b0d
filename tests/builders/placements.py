"""Cases placed with agencies and dispatched to their people (``arrears.allocation``): bank's 300
imported cases placed with east, east's people and team, dispatches by the service or by a run, and
the victim case's placement and dispatch objects of the cross-tenant matrix."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from arrears.allocation import assignments, strategies
from arrears.allocation import runs as allocation
from arrears.auth import sessions as auth
from arrears.cases.imports.batches import import_cases
from arrears.extensions import db
from arrears.models import AllocationLevel, Case, Organisation, Placement, RunStatus
from arrears.orgs import approvals, roles, teams, users
from arrears.tenancy import tenant
from tests.builders.cases import IMPORTS
from tests.builders.tenants import PASSWORD, World, get_user, new_user, partner

# The last day of the placements placed_with_east makes.
END = dt.date(2027, 3, 31)
# The second bank admin who approves what bank's admin asks (maker-checker).
CHECKER = "checker@bank.test.example"


def placed_with_east(world: World) -> Placement:
    """Bank imports 300 cases and places them all with east (approved by a second admin, applied)."""
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        _, report, _ = import_cases(org, IMPORTS / "cases_utf8_bom.csv", "cases.csv", dry_run=False)
        assert report.imported == 300
    checker = new_user(world.bank.org_id, "owner_admin", CHECKER, "Checker")
    with tenant(world.bank.org_id):
        admin = get_user(world.bank.admin_id)
        run = allocation.preview(
            admin, level=AllocationLevel.PLACEMENT, ends_on=END, targets=[{"id": world.east.org_id}]
        )
        approvals.decide(get_user(checker), allocation.submit(admin, run), approve=True)
        allocation.start_apply(admin, run)
        allocation.apply_run(run.id)  # applied inline already: a second delivery changes nothing
        return db.session.scalar(select(Placement).where(Placement.run_id == run.id))


def bank_with_cases(world: World) -> None:
    """Bank imports 300 cases and works with both agencies; a second bank admin (:data:`CHECKER`)
    checks requests. The bank's business date is fixed in the file's time (its newest loan fell due
    on 2026-10-29), so the days past due and the buckets the tests rely on do not move with the
    calendar."""
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        org.settings = {**(org.settings or {}), "business_date": "2026-11-15"}
        db.session.commit()
        _, report, refused = import_cases(org, IMPORTS / "cases_utf8_bom.csv", "cases.csv", dry_run=False)
        assert refused is None and report.imported == 300
        role = roles.builtin_role(org, "owner_admin")
        users.create_user(None, org=org, email=CHECKER, name="Checker", password=PASSWORD, role_ids=[role.id])
    partner(world.bank, world.west)


def east_people(world: World) -> dict[str, int]:
    """East's people: the world's, a second collector (Bob, in no team), and team North led by the
    team lead with the first collector in it."""
    bob = new_user(world.east.org_id, "collector", "bob@east.test.example", "Bob Second")
    with tenant(world.east.org_id):
        manager = get_user(world.east.admin_id)
        north = teams.save_team(
            manager,
            team=None,
            name="North",
            lead_user_id=world.east.users["team_lead"],
            member_ids=[world.east.users["collector"]],
        )
        return {**world.east.users, "bob": bob, "north": north.id}


def dispatch(world: World, ids: list[int], to_user_id: int) -> None:
    """East's manager dispatches cases by selection (the service the pages call)."""
    with tenant(world.east.org_id):
        done = assignments.dispatch(get_user(world.east.admin_id), ids, to_user_id)
        assert done.job_id and done.count == len(ids)


def dispatch_run(world: World, case_ids: list[int], user_id: int) -> None:
    """East's manager dispatches the cases to the user by a dispatch run of a selection, applied."""
    with tenant(world.east.org_id):
        manager = get_user(world.east.admin_id)
        run = allocation.preview(
            manager,
            level=AllocationLevel.DISPATCH,
            case_ids=case_ids,
            rules=[{"name": "selection", "targets": [f"user:{user_id}"]}],
            targets=[{"id": user_id}],
        )
        allocation.start_apply(manager, run)
        allocation.apply_run(run.id)
        assert db.session.get(type(run), run.id).status == RunStatus.APPLIED


def dispatch_to(world: World, case_ids: list[int], to: str) -> None:
    """East's manager dispatches the cases to one of its people (a role key of ``world.east.users``)
    by a dispatch run (:func:`dispatch_run`)."""
    dispatch_run(world, case_ids, world.east.users[to])


def two_cases_with_collector(world: World) -> list[int]:
    """Bank's cases placed with east (:func:`placed_with_east`) and the first two of them dispatched
    to east's collector; those two ids."""
    placed_with_east(world)
    with tenant(world.bank.org_id):
        ids = list(db.session.scalars(select(Case.id).order_by(Case.id).limit(2)))
    dispatch_to(world, ids, "collector")
    return ids


def placement_objects(world: World, case_id: int) -> dict[str, list[Any]]:
    """Bank's strategy, and its victim case placed with east by an approved, applied run (checked by
    a second bank admin, :data:`CHECKER`); the objects' ids by the route parameter naming them."""
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        admin = auth.get_user_by_email(world.bank.admin_email)
        checker = users.create_user(
            None,
            org=org,
            email=CHECKER,
            name="Checker",
            password=PASSWORD,
            role_ids=[roles.builtin_role(org, "owner_admin").id],
        )
        strategy = strategies.save(
            admin,
            strategy=None,
            name="bank strategy",
            level=AllocationLevel.PLACEMENT,
            rules=[{"name": "all", "method": "round_robin"}],
        )
        run = allocation.preview(
            admin,
            level=AllocationLevel.PLACEMENT,
            strategy=strategy,
            case_ids=[case_id],
            targets=[{"id": world.east.org_id}],
            ends_on=dt.date(2030, 1, 1),
        )
        approvals.decide(checker, allocation.submit(admin, run), approve=True)
        allocation.start_apply(admin, run)
        allocation.apply_run(run.id)
        placement = db.session.scalar(select(Placement).where(Placement.run_id == run.id))
        return {"strategy_id": [strategy.id], "run_id": [run.id], "placement_id": [placement.id]}


def dispatch_objects(world: World, case_id: int) -> dict[str, list[Any]]:
    """East's own strategy and a dispatch run of the placed victim case to its collector; the objects'
    ids by the route parameter naming them."""
    with tenant(world.east.org_id):
        manager = auth.get_user_by_email(world.east.admin_email)
        strategy = strategies.save(
            manager,
            strategy=None,
            name="east strategy",
            level=AllocationLevel.DISPATCH,
            rules=[{"name": "all", "method": "round_robin"}],
        )
        collector = world.east.users["collector"]
        run = allocation.preview(
            manager,
            level=AllocationLevel.DISPATCH,
            case_ids=[case_id],
            rules=[{"name": "selection", "targets": [f"user:{collector}"]}],
            targets=[{"id": collector}],
        )
        allocation.start_apply(manager, run)
        allocation.apply_run(run.id)
        placement = db.session.scalar(
            select(Placement.id).where(Placement.agency_org_id == world.east.org_id)
        )
        return {
            "strategy_id": [strategy.id],
            "run_id": [run.id],
            "case_id": [case_id],
            "placement_id": [placement],
            "user_id": [world.east.admin_id, collector],
        }
