"""Collection work on cases placed with east (``arrears.work``): bank's four cases placed and
dispatched to east's people with the rights granted, reduction applications, and the balance
components they change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from arrears.allocation import runs as allocation
from arrears.cases.imports.batches import upsert_records
from arrears.extensions import db
from arrears.models import AllocationLevel, Application, Case, Partnership
from arrears.orgs import approvals, teams
from arrears.tenancy import tenant
from arrears.work import applications
from tests.builders.placements import CHECKER, dispatch_run
from tests.builders.tenants import World, get_user, new_user
from tests.conftest import Database

# The rights bank grants east unless work_cases is told otherwise.
RIGHTS = ["reductions.request", "repayments.report"]


@dataclass
class Cases:
    """The cases :func:`work_cases` makes, by what became of them."""

    team: int  # placed with east, held by east's collector (in team North, led by east's team lead)
    loose: int  # placed with east, held by bob (in no team)
    inhouse: int  # bank's own, never placed
    other: int  # placed with east, held by the collector too


def grant(world: World, rights: list[str]) -> None:
    """Bank adds ``rights`` to the grants of its partnership with east."""
    with tenant(world.bank.org_id):
        partnership = db.session.get(Partnership, world.bank_east)
        partnership.grants = sorted({*partnership.grants, *rights})
        db.session.commit()


def work_cases(world: World, grants: list[str] | None = None) -> Cases:
    """Bank has four cases APP-0 ... APP-3 (principal 10,000, interest 300, penalty 800, fee 100),
    places three with east (approved by a second admin, ``checker`` in ``world.bank.users``), and
    east dispatches two to its collector (team North) and one to Bob (no team, ``bob`` in
    ``world.east.users``). Bank grants east ``grants`` (by default :data:`RIGHTS`)."""
    grant(world, RIGHTS if grants is None else grants)
    with tenant(world.bank.org_id):
        bank_admin = get_user(world.bank.admin_id)
        items = [
            {
                "loan_no": f"APP-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": "2026-01-01",
                "principal": "10000",
                "interest": "300",
                "penalty": "800",
                "fee": "100",
            }
            for i in range(4)
        ]
        result = upsert_records(bank_admin, items)
        assert result["imported"] == 4, result
        ids = list(db.session.scalars(select(Case.id).order_by(Case.loan_no)))
    checker = new_user(world.bank.org_id, "owner_admin", CHECKER)
    with tenant(world.bank.org_id):
        bank_admin = get_user(world.bank.admin_id)
        run = allocation.preview(
            bank_admin,
            level=AllocationLevel.PLACEMENT,
            case_ids=[ids[0], ids[1], ids[3]],
            targets=[{"id": world.east.org_id}],
            ends_on=dt.date(2030, 1, 1),
        )
        approvals.decide(get_user(checker), allocation.submit(bank_admin, run), approve=True)
        allocation.start_apply(bank_admin, run)
        allocation.apply_run(run.id)
    bob = new_user(world.east.org_id, "collector", "bob@east.test.example")
    with tenant(world.east.org_id):
        manager = get_user(world.east.admin_id)
        teams.save_team(
            manager,
            team=None,
            name="North",
            lead_user_id=world.east.users["team_lead"],
            member_ids=[world.east.users["collector"]],
        )
    dispatch_run(world, [ids[0], ids[3]], world.east.users["collector"])
    dispatch_run(world, [ids[1]], bob)
    world.east.users["bob"] = bob
    world.bank.users["checker"] = checker
    with tenant(world.east.org_id):
        team_case = db.session.get(Case, ids[0])
        assert team_case.team_id is not None and team_case.assignee_user_id == world.east.users["collector"]
        assert db.session.get(Case, ids[1]).team_id is None
    return Cases(team=ids[0], loose=ids[1], inhouse=ids[2], other=ids[3])


def detached(application: Application) -> Application:
    """The application as it was made, out of the session: later commits and rollbacks (a refused
    decision) expire what the session holds, and reloading it outside a tenant finds nothing."""
    db.session.refresh(application)
    db.session.expunge(application)
    return application


def reduce(
    world: World, who: str, case_id: int, penalty: str = "0", interest: str = "0", fee: str = "0"
) -> Application:
    """East's ``who`` (a role key of ``world.east.users``) asks to waive these amounts off the case
    for hardship; the application, :func:`detached`."""
    with tenant(world.east.org_id):
        return detached(
            applications.request_reduction(
                get_user(world.east.users[who]),
                case_id,
                waive_penalty=penalty,
                waive_interest=interest,
                waive_fee=fee,
                reason="hardship",
            )
        )


def components(database: Database, case_id: int) -> tuple[Decimal, ...]:
    """The case's penalty, interest, fee and outstanding, read as the database owner."""
    row = database.rows("SELECT penalty, interest, fee, outstanding FROM cases WHERE id = :i", i=case_id)[0]
    return tuple(row)
