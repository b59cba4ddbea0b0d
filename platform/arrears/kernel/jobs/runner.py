"""Runs one recorded job inside its tenant, in an rq worker or inline (eager mode).

rq delivers at least once: a job whose worker died is delivered again and runs from the start, so
job functions must be idempotent. A finished record is never run twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import traceback
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from rq import get_current_job
from sqlalchemy import update
from sqlalchemy.orm import Session

from arrears.extensions import db
from arrears.kernel.db import statement_timeout
from arrears.kernel.jobs.models import JobRecord, JobStatus
from arrears.kernel.jobs.registry import resolve, statement_timeout_of
from arrears.tenancy import tenant

log = logging.getLogger(__name__)
_app: Flask | None = None


def serve(app: Flask) -> None:
    """The application the jobs of this process run in (``flask worker`` calls it before working)."""
    global _app
    _app = app


def current_app_for_jobs() -> Flask:
    """The application of the request or command at hand, else the one ``serve`` was given (the
    kernel never builds the application itself: that would import every console into it)."""
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _app is None:
        raise RuntimeError("jobs run inside the application: start workers with `flask --app wsgi worker`")
    return _app


@dataclass
class JobContext:
    """Handed to every job function: who it runs for, and a way to report progress."""

    job_id: str
    tenant_id: int
    created_by_id: int | None

    def progress(self, percent: int, message: str = "") -> None:
        """Report progress in its own short transaction, visible while the job's work is open."""
        with tenant(self.tenant_id), Session(db.engine) as side:
            side.execute(
                update(JobRecord)
                .where(JobRecord.id == self.job_id)
                .values(progress=max(0, min(100, int(percent))), message=message[:500])
            )
            side.commit()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(job_id: str, tenant_id: int) -> Any:
    app = current_app_for_jobs()
    with app.app_context(), tenant(tenant_id):
        record = db.session.get(JobRecord, job_id)
        if record is None:
            log.error("job %s not found for tenant %s", job_id, tenant_id)
            return None
        if record.status == JobStatus.FINISHED:
            return record.result
        record.status = JobStatus.STARTED
        record.attempts += 1
        record.started_at = _now()
        record.error = None
        name, kwargs = record.func, dict(record.kwargs)
        ctx = JobContext(job_id=record.id, tenant_id=tenant_id, created_by_id=record.created_by_id)
        db.session.commit()
        seconds = statement_timeout_of(name) or int(app.config.get("JOB_STATEMENT_TIMEOUT", 0))
        try:
            func = resolve(name)
            with statement_timeout(seconds):
                result = func(ctx, **kwargs)
                db.session.commit()
        except Exception:
            db.session.rollback()
            error = traceback.format_exc(limit=20)
            retrying = _retries_left() > 0
            record = db.session.get(JobRecord, job_id)
            if record is not None:
                record.status = JobStatus.QUEUED if retrying else JobStatus.FAILED
                record.error = error[-8000:]
                record.message = "retrying" if retrying else record.message
                if not retrying:
                    record.ended_at = _now()
                db.session.commit()
            raise
        record = db.session.get(JobRecord, job_id)
        assert record is not None
        record.status = JobStatus.FINISHED
        record.progress = 100
        record.result = result if isinstance(result, dict) else {"value": result}
        record.ended_at = _now()
        db.session.commit()
        return record.result


def _retries_left() -> int:
    try:
        job = get_current_job()
    except Exception:
        return 0
    return int(job.retries_left or 0) if job is not None else 0
