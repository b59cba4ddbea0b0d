"""Jobs of the foundation: a tenant census (used by the console and the isolation tests) and the
platform's housekeeping run from the schedule."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select, text, update

from arrears.auth.models import ApiToken, User, UserSession
from arrears.extensions import db
from arrears.kernel.jobs.models import JobRecord, JobStatus
from arrears.kernel.jobs.runner import JobContext
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation

log = logging.getLogger(__name__)


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


def sweep_jobs(max_age_hours: int = 6, resend_after_minutes: int = 10) -> dict[str, int]:
    """Housekeeping of the job records of every tenant:

    * a job recorded but never sent (Redis was down at the commit) is sent again once rq does not
      know it any more, so a committed job is never lost;
    * a job started long ago that never ended (its worker died for good, retries exhausted) fails.
    """
    from rq.job import Job

    from arrears.kernel.jobs.queue import redis_connection, send

    now = dt.datetime.now(dt.UTC)
    resent = 0
    conn = redis_connection()
    with cross_tenant("housekeeping: sweep the job records of every tenant"):
        if conn is not None:
            stale = db.session.scalars(
                select(JobRecord).where(
                    JobRecord.status == JobStatus.QUEUED,
                    JobRecord.created_at < now - dt.timedelta(minutes=resend_after_minutes),
                )
            ).all()
            for record in stale:
                if not Job.exists(record.id, connection=conn):
                    send(conn, record.id, record.org_id, record.queue)
                    resent += 1
        result = db.session.execute(
            update(JobRecord)
            .where(
                JobRecord.status == JobStatus.STARTED,
                JobRecord.started_at < now - dt.timedelta(hours=max_age_hours),
            )
            .values(status=JobStatus.FAILED, error="abandoned: no worker finished it", ended_at=func.now())
        )
        db.session.commit()
    return {"resent": resent, "failed": int(result.rowcount or 0)}  # type: ignore[attr-defined]


def purge_expired_sessions(idle_days: int = 30, idempotency_days: int = 7) -> int:
    """Delete login sessions and tokens that ended long ago (the audit log keeps the history), and
    the Idempotency-Key answers older than ``idempotency_days`` (a client retries within minutes; the
    transaction ids keep a payment from being recorded twice however late it comes again)."""
    from arrears.payments.models import IdempotencyKey

    now = dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=idle_days)
    with cross_tenant("housekeeping: purge dead sessions of every tenant"):
        n = db.session.query(UserSession).filter(UserSession.last_seen_at < cutoff).delete()
        n += db.session.query(ApiToken).filter(ApiToken.expires_at < cutoff).delete()
        n += (
            db.session.query(IdempotencyKey)
            .filter(IdempotencyKey.created_at < now - dt.timedelta(days=idempotency_days))
            .delete()
        )
        db.session.commit()
    return int(n)


def active_tenant_ids() -> list[int]:
    with cross_tenant("scheduler: list tenants to fan a periodic job out to"):
        return list(db.session.scalars(select(Organisation.id).where(Organisation.status == "active")))


def purge_stale_files(keep_days: int = 7) -> dict[str, int]:
    """Uploaded import files and background exports are kept for ``keep_days``, then deleted from
    storage (the batch and job records stay, without their file)."""
    from arrears.cases.models import ImportBatch
    from arrears.integrations.storage import get_storage

    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
    storage = get_storage()
    counts = {"imports": 0, "exports": 0}
    with cross_tenant("housekeeping: delete old uploads and exports of every tenant"):
        for batch in db.session.scalars(
            select(ImportBatch).where(ImportBatch.storage_key.is_not(None), ImportBatch.created_at < cutoff)
        ):
            storage.delete(batch.storage_key or "")
            batch.storage_key = None
            counts["imports"] += 1
        for job in db.session.scalars(
            select(JobRecord).where(
                JobRecord.func == "arrears.cases.tasks_exports.run_export_job", JobRecord.created_at < cutoff
            )
        ):
            key = (job.result or {}).get("storage_key")
            if key:
                storage.delete(key)
                job.result = {k: v for k, v in (job.result or {}).items() if k != "storage_key"} | {
                    "expired": True
                }
                counts["exports"] += 1
        db.session.commit()
    return counts
