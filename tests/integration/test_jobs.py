"""The queue: jobs recorded in the use case's transaction, sent after commit, run by a real rq
worker process inside their tenant; eager mode without Redis."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import uuid

from flask import Flask
from rq import Queue
from sqlalchemy import text

from arrears.auth.sessions import get_user_by_email
from arrears.extensions import db
from arrears.kernel.jobs.queue import enqueue, enqueue_after_commit, redis_connection
from arrears.models import JobRecord, JobStatus
from arrears.orgs.jobs import tenant_census
from arrears.tenancy import cross_tenant, tenant
from tests.builders.tenants import World
from tests.conftest import Database, worker_env

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _worker(app: Flask, database: Database) -> subprocess.CompletedProcess[str]:
    env = worker_env(app, database)
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst", "--no-scheduler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_worker_process_runs_the_job_inside_its_tenant_only(
    app: Flask, world: World, database: Database
) -> None:
    admin = get_user_by_email(world.bank.admin_email)
    with tenant(world.bank.org_id):
        record = enqueue(tenant_census, name="census", created_by=admin)
        job_id = record.id
        db.session.commit()
    queue = Queue(app.config["RQ_QUEUES"][0], connection=redis_connection())
    assert job_id in queue.job_ids  # sent after the commit
    result = _worker(app, database)
    assert result.returncode == 0, result.stderr[-3000:]
    with tenant(world.bank.org_id):
        db.session.expire_all()
        done = db.session.get(JobRecord, job_id)
        assert done.status == JobStatus.FINISHED, (done.error, result.stderr)
        assert done.progress == 100
        # the job saw only its tenant: through the ORM and through raw SQL (RLS)
        assert done.result["user_org_ids"] == [world.bank.org_id]
        assert done.result["raw_sql_org_ids"] == [world.bank.org_id]
        assert sorted(done.result["user_emails"]) == sorted(world.bank.emails.values())


def test_a_rolled_back_use_case_sends_no_job(app: Flask, world: World) -> None:
    with tenant(world.bank.org_id):
        record = enqueue(tenant_census, name="census")
        job_id = record.id
        db.session.rollback()
    assert job_id not in Queue(app.config["RQ_QUEUES"][0], connection=redis_connection()).job_ids
    with cross_tenant("test"):
        assert db.session.get(JobRecord, job_id) is None


def test_failed_job_is_recorded_with_its_error(app: Flask, world: World, database: Database) -> None:
    with tenant(world.bank.org_id):
        # a record naming a job no module declares (a job removed while one of it was queued)
        job_id = str(uuid.uuid4())
        db.session.add(
            JobRecord(id=job_id, org_id=world.bank.org_id, name="broken", func="kernel.no_such_function")
        )
        enqueue_after_commit(job_id, world.bank.org_id, queue=app.config["RQ_QUEUES"][0], retries=0)
        db.session.commit()
    _worker(app, database)
    with tenant(world.bank.org_id):
        db.session.expire_all()
        done = db.session.get(JobRecord, job_id)
        assert done.status == JobStatus.FAILED and "no_such_function" in (done.error or "")


def test_eager_mode_runs_inline_after_commit(eager_app: Flask) -> None:
    from arrears.kernel.jobs.queue import is_eager
    from arrears.kernel.transaction import transaction
    from tests.builders.tenants import build_world

    assert is_eager()
    world = build_world()
    with tenant(world.east.org_id), transaction():
        record = enqueue(tenant_census, name="census")
        job_id = record.id
    with tenant(world.east.org_id):
        db.session.expire_all()  # the job ran in its own context and session
        done = db.session.get(JobRecord, job_id)
        assert done.status == JobStatus.FINISHED
        assert done.result["user_org_ids"] == [world.east.org_id]


def test_jobs_page_shows_progress_and_warns_in_eager_mode(eager_app: Flask) -> None:
    from tests.builders.tenants import build_world
    from tests.conftest import csrf_token, signed_in

    world = build_world()
    c = signed_in(eager_app, world.bank.admin_email)
    page = c.get("/asset/jobs").get_data(as_text=True)
    assert "background jobs run inline" in page
    response = c.post("/asset/jobs", data={"csrf_token": csrf_token(c, "/asset/jobs")})
    assert response.status_code == 302
    detail = c.get(response.headers["Location"]).get_data(as_text=True)
    assert "progress-bar" in detail and "100%" in detail
    status = c.get(response.headers["Location"] + "?format=json").get_json()
    assert status["done"] is True and status["status"] == "finished"


def test_schedule_is_declared_as_data() -> None:
    from croniter import croniter

    from arrears.kernel.jobs.schedule import SCHEDULE

    names = [entry.name for entry in SCHEDULE]
    assert len(names) == len(set(names))
    for entry in SCHEDULE:
        assert callable(entry.func)
        assert (entry.cron is None) != (entry.interval is None)
        if entry.cron:
            assert croniter.is_valid(entry.cron)


def test_in_production_a_job_without_redis_waits_and_runs_when_redis_returns(
    app: Flask, world: World, database: Database
) -> None:
    from arrears.kernel.jobs.housekeeping import sweep_jobs

    live = app.config["REDIS_URL"]
    app.config.update(JOBS_INLINE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nobody answers there
    app.extensions.pop("arrears.redis", None)
    assert app.test_client().get("/healthz").get_json()["jobs"] == "waiting"
    admin = get_user_by_email(world.bank.admin_email)
    with tenant(world.bank.org_id):
        record = enqueue(tenant_census, name="census", created_by=admin)
        job_id = record.id
        db.session.commit()  # the request's commit: nothing runs inside it
    status = "SELECT status FROM jobs WHERE id = :i"
    assert database.scalar(status, i=job_id) == "queued"
    # Redis answers again: the sweep sends what waited, a worker runs it
    app.config["REDIS_URL"] = live
    app.extensions.pop("arrears.redis", None)
    with database.owner_engine.begin() as conn:
        conn.execute(
            text("UPDATE jobs SET created_at = created_at - interval '11 minutes' WHERE id = :i"),
            {"i": job_id},
        )
    assert sweep_jobs()["resent"] == 1
    worker = _worker(app, database)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert database.scalar(status, i=job_id) == "finished"
