"""Wall 3: PostgreSQL row-level security, seen from the application role with raw SQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from arrears.models import TENANT_MODELS
from tests.builders.tenants import World
from tests.conftest import Database


@pytest.fixture
def app_engine(database: Database):  # type: ignore[no-untyped-def]
    engine = create_engine(database.app_url)
    yield engine
    engine.dispose()


def test_every_tenant_table_has_rls_enabled_and_forced(database: Database) -> None:
    rows = {
        r[0]: (r[1], r[2])
        for r in database.rows(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace"
        )
    }
    for model in TENANT_MODELS:
        assert rows[model.__tablename__] == (True, True), model.__tablename__
        policies = database.scalar(
            "SELECT count(*) FROM pg_policies WHERE tablename = :t", t=model.__tablename__
        )
        assert policies >= 1, model.__tablename__


def test_unfiltered_select_returns_only_the_current_tenant(world: World, app_engine) -> None:  # type: ignore[no-untyped-def]
    with app_engine.connect() as conn:
        # no tenant set: nothing at all
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 0
        conn.rollback()
        with conn.begin():
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.bank.org_id)})
            orgs = {r[0] for r in conn.execute(text("SELECT org_id FROM users"))}
            assert orgs == {world.bank.org_id}
            # partnerships are seen by both parties, and only by them
            seen = {r[0] for r in conn.execute(text("SELECT id FROM partnerships"))}
            assert seen == {world.bank_east}
        with conn.begin():
            conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.east.org_id)})
            assert {r[0] for r in conn.execute(text("SELECT id FROM partnerships"))} == {world.bank_east}
            assert {r[0] for r in conn.execute(text("SELECT org_id FROM users"))} == {world.east.org_id}
        # the setting was transaction-local: gone again
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_writes_into_another_tenant_are_refused(world: World, app_engine) -> None:  # type: ignore[no-untyped-def]
    with app_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.bank.org_id)})
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(
                text("INSERT INTO teams (name, org_id, created_at) VALUES ('intruders', :o, now())"),
                {"o": world.lender.org_id},
            )
    with app_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.bank.org_id)})
        changed = conn.execute(
            text("UPDATE users SET name = 'x' WHERE org_id = :o"), {"o": world.lender.org_id}
        )
        assert changed.rowcount == 0


def test_app_role_cannot_update_or_delete_the_audit_log(world: World, app_engine) -> None:  # type: ignore[no-untyped-def]
    with app_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.bank.org_id)})
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() > 0
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("UPDATE audit_events SET action = 'forged'"))
    with app_engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.bank.org_id)})
        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("DELETE FROM audit_events"))


def test_even_the_owner_cannot_rewrite_the_audit_log(world: World, database: Database) -> None:
    with pytest.raises(Exception, match="append-only"), database.owner_engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET action = 'forged'"))


def test_orm_session_sets_the_tenant_per_transaction(world: World) -> None:
    from arrears.extensions import db
    from arrears.tenancy import cross_tenant, tenant

    with tenant(world.lender.org_id):
        assert db.session.execute(text("SELECT arrears_tenant()")).scalar() == world.lender.org_id
        raw = {r[0] for r in db.session.execute(text("SELECT org_id FROM users"))}
        assert raw == {world.lender.org_id}
        db.session.commit()
        # a new transaction gets the setting again
        raw = {r[0] for r in db.session.execute(text("SELECT org_id FROM users"))}
        assert raw == {world.lender.org_id}
        # switching the context inside an open transaction re-sets it at once
        with tenant(world.bank.org_id):
            assert {r[0] for r in db.session.execute(text("SELECT org_id FROM users"))} == {world.bank.org_id}
        assert {r[0] for r in db.session.execute(text("SELECT org_id FROM users"))} == {world.lender.org_id}
        with cross_tenant("test: the escape hatch opens RLS too"):
            assert len({r[0] for r in db.session.execute(text("SELECT org_id FROM users"))}) == 5
        db.session.rollback()


def test_policies_in_the_database_follow_the_models_rules(database: Database) -> None:
    """The migrations freeze each table's rule; a model whose rule changed needs a new migration."""
    from arrears.tenancy.models import SharedTenantScoped

    for model in TENANT_MODELS:
        qual = database.scalar("SELECT qual FROM pg_policies WHERE tablename = :t", t=model.__tablename__)
        assert "arrears_tenant()" in qual and "org_id" in qual, model.__tablename__
        if issubclass(model, SharedTenantScoped):
            assert model.__party_column__ in qual, model.__tablename__
