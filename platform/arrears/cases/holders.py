"""Who holds a case: the one statement that gives cases their collectors (allocation and dispatch)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from arrears.cases.models import CaseHolder
from arrears.extensions import db

HOLDER_COLUMNS = ["case_id", "org_id", "agency_org_id", "assignee_user_id", "team_id", "assigned_at"]


def hold(source: Any, *, only_free: bool) -> Any:
    """The statement that gives cases their collectors: an INSERT into ``case_holders`` from
    ``source`` (a SELECT of ``HOLDER_COLUMNS``), replacing a case's holder row where it has one. With
    ``only_free``, only a row without a collector (a team's pool) is replaced: a case somebody holds
    keeps its holder and is left out (of the RETURNING too). One statement, on PostgreSQL and SQLite."""
    insert_ = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert_(CaseHolder).from_select(HOLDER_COLUMNS, source)
    return stmt.on_conflict_do_update(
        index_elements=["case_id"],
        set_={
            "agency_org_id": stmt.excluded.agency_org_id,
            "assignee_user_id": stmt.excluded.assignee_user_id,
            "team_id": stmt.excluded.team_id,
            "assigned_at": stmt.excluded.assigned_at,
        },
        where=CaseHolder.assignee_user_id.is_(None) if only_free else None,
    )
