"""The platform's housekeeping, run from the schedule: job records swept, old files purged."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from rq.job import Job
from sqlalchemy import func, select, update

from arrears.extensions import db
from arrears.kernel import exports
from arrears.kernel.jobs.models import JobRecord, JobStatus
from arrears.kernel.jobs.queue import redis_connection, send
from arrears.kernel.jobs.registry import job
from arrears.tenancy import cross_tenant

log = logging.getLogger(__name__)

Purge = Callable[[dt.datetime], int]


@job("kernel.sweep-jobs", periodic="sweep-jobs", every=300)
def sweep_jobs(max_age_hours: int = 6, resend_after_minutes: int = 10) -> dict[str, int]:
    """Housekeeping of the job records of every tenant:

    * a job recorded but never sent (Redis was down at the commit) is sent again once rq does not
      know it any more, so a committed job is never lost;
    * a job started long ago that never ended (its worker died for good, retries exhausted) fails.
    """
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


_RETAINED: dict[str, Callable[[dt.datetime], int]] = {"exports": exports.purge}


def retained_files(kind: str) -> Callable[[Purge], Purge]:
    """Register ``purge(cutoff) -> count``: the files of ``kind`` stored before ``cutoff`` go (their
    records stay, without the file). It runs in the housekeeping's cross-tenant block."""

    def register(purge: Purge) -> Purge:
        _RETAINED[kind] = purge
        return purge

    return register


@job("kernel.purge-stale-files", periodic="purge-stale-files", cron="37 3 * * *")
def purge_stale_files(keep_days: int = 7) -> dict[str, int]:
    """Uploaded files and background exports are kept for ``keep_days``, then deleted from storage
    (the batch and job records stay, without their file)."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
    with cross_tenant("housekeeping: delete old uploads and exports of every tenant"):
        counts = {kind: purge(cutoff) for kind, purge in _RETAINED.items()}
        db.session.commit()
    return counts
