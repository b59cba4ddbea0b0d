"""Wall 3: PostgreSQL row-level security.

Migrations call ``enable_rls`` for every tenant table: ``ENABLE`` and ``FORCE ROW LEVEL SECURITY``
and one policy for all commands whose USING and WITH CHECK clauses are the model's
``__rls_using__``, written against two SQL functions:

* ``arrears_tenant()``: ``current_setting('app.tenant_id', true)`` as bigint, NULL when unset, so a
  connection with no tenant sees no row;
* ``arrears_cross_tenant()``: true only inside ``tenancy.cross_tenant(reason)``.

The settings are transaction-local (``set_config(..., true)``): they are set at the start of every
ORM transaction and again whenever the tenant context changes while a transaction is open, so a
pooled connection never carries one tenant's setting into another's request.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from arrears.tenancy.context import TenantContext, current, on_change

FUNCTIONS_SQL = [
    """
    CREATE OR REPLACE FUNCTION arrears_tenant() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE AS
    $$ SELECT nullif(current_setting('app.tenant_id', true), '')::bigint $$
    """,
    """
    CREATE OR REPLACE FUNCTION arrears_cross_tenant() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE AS
    $$ SELECT coalesce(current_setting('app.cross_tenant', true), '') = 'on' $$
    """,
]

_SET_SQL = text(
    "SELECT set_config('app.tenant_id', :tenant, true), set_config('app.cross_tenant', :cross, true)"
)


def enable_rls_sql(table: str, using: str) -> list[str]:
    clause = f"(arrears_cross_tenant() OR ({using}))"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"CREATE POLICY tenant_isolation ON {table} USING {clause} WITH CHECK {clause}",
    ]


_APPLIED = "arrears_rls_applied"  # session.info: (the transaction, its settings) last sent


def _settings(ctx: TenantContext | None) -> tuple[str, str]:
    tenant = "" if ctx is None or ctx.org_id is None else str(ctx.org_id)
    cross = "on" if ctx is not None and ctx.cross_tenant else ""
    return tenant, cross


def _apply(connection: Connection, ctx: TenantContext | None) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant, cross = _settings(ctx)
    connection.execute(_SET_SQL, {"tenant": tenant, "cross": cross})


def _after_begin(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    ctx = current()
    _apply(connection, ctx)
    session.info[_APPLIED] = (transaction, _settings(ctx))


_installed = False


def install(get_session: Any) -> None:
    """Set the RLS settings on every ORM transaction; re-set them when the context changes."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_begin", _after_begin)

    def _on_context_change(ctx: TenantContext | None) -> None:
        session = get_session()
        if session is None or not session.in_transaction():
            return
        transaction = session.get_transaction()
        applied = session.info.get(_APPLIED)
        if applied is not None and applied[0] is transaction and applied[1] == _settings(ctx):
            return  # the open transaction has these settings already (the user id changed only)
        session.info[_APPLIED] = (transaction, _settings(ctx))
        for connection in list(getattr(transaction, "_connections", {}).values()):
            conn = connection[0] if isinstance(connection, tuple) else connection
            if isinstance(conn, Connection) and not conn.closed:
                _apply(conn, ctx)

    on_change(_on_context_change)
    _installed = True


APPEND_ONLY_TABLES = ("audit_events",)


def grant_app_role(connection: Connection, role: str) -> None:
    """Create the application role if missing (when allowed) and grant it what it needs, no more.

    Idempotent; runs after every ``flask db upgrade`` so new tables are covered."""

    log = logging.getLogger("alembic.env")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"DATABASE_APP_ROLE {role!r} is not a plain lower-case identifier")
    current_user = connection.execute(text("SELECT current_user")).scalar()
    if role == current_user:
        log.warning(
            "the app role %s is the schema owner: row-level security is weaker (see README, Deployment)", role
        )
        return
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        can_create = connection.execute(
            text("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).scalar()
        if not can_create:
            log.warning("role %s does not exist and %s cannot create it: no grants given", role, current_user)
            return
        connection.execute(text(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"))
    connection.execute(text(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {role}"))
    for table in APPEND_ONLY_TABLES:
        if connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is None:
            continue
        connection.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}"))
