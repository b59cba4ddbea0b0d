"""Wall 2: ORM global criteria and tenant stamping, independent of RLS (also true on SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from arrears.extensions import db
from arrears.models import Partnership, Role, Team, User
from arrears.tenancy import TenancyError, cross_tenant, tenant
from tests.builders.tenants import World


def test_queries_see_only_the_current_tenant(world: World) -> None:
    with tenant(world.bank.org_id):
        assert {u.org_id for u in db.session.scalars(select(User))} == {world.bank.org_id}
        assert db.session.get(User, world.lender.admin_id) is None
        # even an explicit filter on a foreign id finds nothing
        assert db.session.scalar(select(User).where(User.id == world.lender.admin_id)) is None
        # joins and aggregates too
        n = db.session.scalar(select(func.count()).select_from(User).join(Role, User.roles))
        assert n == 2  # bank's admin and staff hold one role each


def test_no_context_means_no_rows(world: World) -> None:
    db.session.rollback()
    assert db.session.scalars(select(User)).all() == []


def test_partnerships_visible_to_both_parties_only(world: World) -> None:
    with tenant(world.east.org_id):
        assert [p.id for p in db.session.scalars(select(Partnership))] == [world.bank_east]
    with tenant(world.west.org_id):
        assert [p.id for p in db.session.scalars(select(Partnership))] == [world.lender_west]
    with tenant(world.lender.org_id):
        assert [p.id for p in db.session.scalars(select(Partnership))] == [world.lender_west]


def test_bulk_update_cannot_touch_another_tenant(world: World) -> None:
    with tenant(world.bank.org_id):
        result = db.session.execute(update(User).where(User.id == world.lender.admin_id).values(name="pwned"))
        assert result.rowcount == 0
        db.session.commit()
    with cross_tenant("test reads back"):
        assert db.session.get(User, world.lender.admin_id).name != "pwned"


def test_new_rows_are_stamped_and_foreign_ones_refused(world: World) -> None:
    with tenant(world.east.org_id):
        team = Team(name="stamped")
        db.session.add(team)
        db.session.flush()
        assert team.org_id == world.east.org_id
        db.session.add(Team(name="foreign", org_id=world.west.org_id))
        with pytest.raises(TenancyError):
            db.session.flush()
        db.session.rollback()
    team = Team(name="nowhere")
    db.session.add(team)
    with pytest.raises(TenancyError):
        db.session.flush()
    db.session.rollback()


def test_cross_tenant_needs_a_reason() -> None:
    with pytest.raises(TenancyError):
        cross_tenant("  ")
