"""The tenant census: a harmless job anyone with the jobs page can start (and the isolation tests
run), counting what the tenant can see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction


@job("orgs.census")
def tenant_census(job: JobContext) -> dict[str, Any]:
    """Count what the tenant can see: users through the ORM (wall 2) and, on PostgreSQL, through a
    raw SELECT with no WHERE clause, which only row-level security can filter (wall 3)."""
    job.progress(10, "counting")
    users = db.session.scalars(select(User).order_by(User.id)).all()
    raw: list[int] | None = None
    if db.session.get_bind().dialect.name == "postgresql":
        raw = [row[0] for row in db.session.execute(text("SELECT org_id FROM users"))]
    job.progress(90, "done")
    return {
        "tenant_id": job.tenant_id,
        "user_emails": [u.email for u in users],
        "user_org_ids": sorted({u.org_id for u in users}),
        "raw_sql_org_ids": sorted(set(raw)) if raw is not None else None,
        "raw_sql_rows": len(raw) if raw is not None else None,
    }


def start_census(actor: User) -> JobRecord:
    require(actor, "org.jobs.view")
    with transaction():
        record = enqueue(tenant_census, name="tenant census", created_by=actor)
        audit.record(
            "job.started", actor=actor, target_type="job", target_id=record.id, details={"name": record.name}
        )
    return record
