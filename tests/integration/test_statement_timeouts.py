"""Statement timeouts (kernel.db.install_timeouts): a web request's statement runs at most
REQUEST_STATEMENT_TIMEOUT seconds and then answers 503 saying what to do, not a 500 after minutes;
a job's statements run at most the timeout of its kind (@job(statement_timeout=...))."""

from __future__ import annotations

import time

from flask import Flask
from sqlalchemy import text

from arrears.auth.sessions import get_user_by_email
from arrears.extensions import db
from arrears.kernel.jobs.models import JobRecord, JobStatus
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.tenancy import tenant
from tests.builders.tenants import World
from tests.conftest import Database


@job("tests.slow-statement", statement_timeout=1)
def slow_statement(job: JobContext) -> None:
    db.session.execute(text("SELECT pg_sleep(5)"))


def test_a_slow_statement_in_a_request_stops_and_says_so(app: Flask) -> None:
    def slow() -> str:
        db.session.execute(text("SELECT pg_sleep(5)"))
        return "done"

    app.add_url_rule("/api/v1/_slow_for_test", "slow_api_for_test", slow)
    app.add_url_rule("/slow-page-for-test", "slow_page_for_test", slow)
    app.config["REQUEST_STATEMENT_TIMEOUT"] = 1
    client = app.test_client()
    started = time.monotonic()
    answer = client.get("/api/v1/_slow_for_test")
    assert time.monotonic() - started < 4
    assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "too_slow"
    page = client.get("/slow-page-for-test")
    assert page.status_code == 503 and "took too long" in page.get_data(as_text=True)
    app.config["REQUEST_STATEMENT_TIMEOUT"] = 0  # no limit: the statement runs to its end
    with app.test_request_context():
        assert db.session.execute(text("SELECT pg_sleep(1.2), 1")).all()[0][1] == 1
        db.session.rollback()


def test_a_job_statement_stops_at_the_timeout_of_its_kind(eager_app: Flask, database: Database) -> None:
    from tests.builders.tenants import build_world

    world: World = build_world()
    admin = get_user_by_email(world.bank.admin_email)
    started = time.monotonic()
    with tenant(world.bank.org_id), transaction():
        job_id = enqueue(slow_statement, name="slow", created_by=admin, retries=0).id
        # eager mode: the job ran inline once the transaction committed
    assert time.monotonic() - started < 4
    with tenant(world.bank.org_id):
        done = db.session.get(JobRecord, job_id)
        assert done is not None and done.status == JobStatus.FAILED
        assert "statement timeout" in (done.error or "")
