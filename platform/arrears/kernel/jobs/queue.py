"""The shared queue: rq on Redis, or inline (eager) execution when Redis is absent and
``JOBS_INLINE`` allows it (development; in production a job waits in the job table instead).

``enqueue(...)`` writes a ``JobRecord`` in the caller's transaction and sends the job only after that
transaction commits (a rolled-back use case sends nothing). The rq payload is just the record id and
the tenant id: the worker re-enters the tenant and reads everything else from the database.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from arrears.extensions import db
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.registry import name_of
from arrears.kernel.jobs.runner import run
from arrears.tenancy import TenancyError, current

log = logging.getLogger(__name__)


class Starter(Protocol):
    """Who starts a job (a signed-in user): the record keeps their id."""

    id: int


_PENDING = "arrears_jobs_pending"  # session.info key: jobs waiting for the commit
_READY = "arrears_jobs_ready"  # eager mode: committed jobs to run inline
_REDIS_CHECK_TTL = 30.0


def redis_connection() -> Redis | None:
    """The Redis client when ``REDIS_URL`` is set and answers, else ``None`` (eager mode)."""
    if not has_app_context():
        return None
    url = current_app.config.get("REDIS_URL")
    if not url:
        if not current_app.extensions.get("arrears.eager_logged"):
            current_app.extensions["arrears.eager_logged"] = True
            log.warning("REDIS_URL is not set: background jobs run inline (eager mode)")
        return None
    state = current_app.extensions.setdefault("arrears.redis", {"client": None, "checked": 0.0, "ok": False})
    now = time.monotonic()
    if state["client"] is None:
        state["client"] = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    if now - state["checked"] > _REDIS_CHECK_TTL:
        try:
            state["client"].ping()
            if not state["ok"]:
                log.info("Redis at %s answers: jobs go to rq workers", url)
            state["ok"] = True
        except RedisError as exc:
            if state["ok"] or state["checked"] == 0.0:
                log.warning("Redis at %s is unreachable (%s): jobs run inline (eager mode)", url, exc)
            state["ok"] = False
        state["checked"] = now
    return state["client"] if state["ok"] else None


def jobs_mode() -> str:
    """``rq`` (Redis answers), ``inline`` (no Redis, ``JOBS_INLINE``: jobs run in the request that
    committed them) or ``waiting`` (no Redis in production: jobs wait in the job table)."""
    if redis_connection() is not None:
        return "rq"
    return "inline" if current_app.config.get("JOBS_INLINE", True) else "waiting"


def is_eager() -> bool:
    return jobs_mode() == "inline"


def get_queue(name: str | None = None) -> Queue:
    conn = redis_connection()
    if conn is None:
        raise RuntimeError("no Redis: the queue runs in eager mode")
    return Queue(
        name or current_app.config["RQ_QUEUES"][0],
        connection=conn,
        default_timeout=current_app.config["JOB_TIMEOUT"],
    )


def enqueue(
    func: Callable[..., Any],
    *,
    name: str,
    kwargs: dict[str, Any] | None = None,
    created_by: Starter | None = None,
    queue: str | None = None,
    retries: int = 3,
    retry_intervals: list[int] | None = None,
) -> JobRecord:
    """Record a job for the current tenant and send it after the transaction commits.

    ``func`` is a registered job ``f(job: JobContext, **kwargs)`` (``registry.job``); kwargs must be
    JSON. The record keeps the job's name.
    """
    ctx = current()
    if ctx is None or ctx.org_id is None:
        raise TenancyError("jobs run for one tenant: enter it first")
    queue = queue or current_app.config["RQ_QUEUES"][0]
    record = JobRecord(
        id=str(uuid.uuid4()),
        org_id=ctx.org_id,
        name=name,
        func=name_of(func),
        queue=queue,
        kwargs=kwargs or {},
        created_by_id=created_by.id if created_by is not None else None,
    )
    db.session.add(record)
    enqueue_after_commit(record.id, ctx.org_id, queue=queue, retries=retries, retry_intervals=retry_intervals)
    return record


def enqueue_after_commit(
    job_id: str,
    tenant_id: int,
    *,
    queue: str = "default",
    retries: int = 3,
    retry_intervals: list[int] | None = None,
) -> None:
    """``retry_intervals``: seconds before each retry (rq's default [5, 30, 120] needs a worker with
    the scheduler; ``[0]`` puts a retry straight back on the queue)."""
    session = db.session()
    session.info.setdefault(_PENDING, []).append((job_id, tenant_id, queue, retries, retry_intervals))


def _send(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    conn = redis_connection()
    inline = conn is None and bool(current_app.config.get("JOBS_INLINE", True))
    for job_id, tenant_id, queue_name, retries, intervals in pending:
        if inline:
            session.info.setdefault(_READY, []).append((job_id, tenant_id))
            continue
        if conn is None:
            # production without Redis: the record is committed and stays QUEUED; the sweep sends
            # it once Redis answers (never inside this request)
            log.warning("Redis is unreachable: job %s waits in the job table", job_id)
            continue
        try:
            send(conn, job_id, tenant_id, queue_name, retries, intervals)
        except RedisError:
            # The record is committed and stays QUEUED: the periodic sweep sends it again.
            log.exception("could not send job %s to Redis; the sweep will retry it", job_id)


def send(
    conn: Redis,
    job_id: str,
    tenant_id: int,
    queue_name: str,
    retries: int = 3,
    retry_intervals: list[int] | None = None,
) -> None:
    """Put a recorded job on an rq queue (the rq job id is the record id, so sending twice is
    harmless while the first is still known to rq)."""
    Queue(queue_name, connection=conn, default_timeout=current_app.config["JOB_TIMEOUT"]).enqueue(
        "arrears.kernel.jobs.runner.run",
        job_id,
        tenant_id,
        job_id=job_id,
        retry=Retry(max=retries, interval=retry_intervals or [5, 30, 120]) if retries else None,
        description=f"tenant {tenant_id} job {job_id}",
    )


def _discard(session: Session, *args: Any) -> None:
    session.info.pop(_PENDING, None)


def run_eager_jobs() -> None:
    """Run the jobs committed in eager mode (called after the outermost commit)."""
    if not has_app_context():
        return
    session = db.session()
    while session.info.get(_READY):
        job_id, tenant_id = session.info[_READY].pop(0)
        try:
            run(job_id, tenant_id)
        except Exception:  # the record says FAILED; the request that queued it goes on
            log.exception("eager job %s failed", job_id)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    event.listen(Session, "after_commit", _send)
    event.listen(Session, "after_rollback", _discard)
    _installed = True
