"""Repayments through the real queue: Redis, and rq worker processes started as subprocesses
(``flask --app wsgi worker --no-scheduler``, the environment of ``worker_env``).

* Every event delivered one to five times, in parallel batches (overlapping transaction ids, some
  batches sent twice at once with the same Idempotency-Key), applied by two workers at once: each
  transaction is recorded once and applied once, and the ledger agrees with the balances.
* A worker killed with SIGKILL (its work horse too) while it holds claimed rows in an open
  transaction: nothing of that transaction stays; rq's own abandoned-job handling
  (``StartedJobRegistry.cleanup``) retries the job, and a fresh worker applies every event once.
* The periodic drain finds received rows whose job was lost (deleted from Redis, or never sent)
  and queues their apply job.
* Reversals through the API: after application the balances come back exactly; twice changes
  nothing; a row reversed before it was applied is never applied.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.worker import Worker
from sqlalchemy import select, text

from arrears.extensions import db
from arrears.kernel.jobs.queue import redis_connection
from arrears.models import Case, JobRecord, JobStatus, Organisation, RepaymentSource
from arrears.payments import ledger_check, repayments
from arrears.tenancy import tenant
from tests.builders.cases import make_cases
from tests.builders.payments import post_repayments
from tests.builders.tenants import World
from tests.conftest import Database, api_token, worker_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
WAIT = 300  # seconds: worker processes start slowly on a busy machine
OPENING = Decimal("1170.00")  # each case of make_cases: 1000 + 100 + 50 + 20


class Workers:
    """rq worker processes of this test's app, each in its own session; logs kept for failures."""

    def __init__(self, app: Flask, database: Database) -> None:
        self.env = {**worker_env(app, database), "PYTHONUNBUFFERED": "1"}
        self.running: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(self, **extra_env: str) -> subprocess.Popen[bytes]:
        log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-scheduler"],
            cwd=ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((process, log))
        return process

    def logs(self) -> str:
        out = []
        for process, log in self.running:
            log.seek(0)
            out.append(f"--- worker {process.pid} ---\n" + log.read().decode(errors="replace")[-4000:])
        return "\n".join(out)

    def stop(self) -> None:
        for process, _log in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.running:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # idle at the end of a test: nothing to lose
                process.kill()
                process.wait()
            log.close()
        self.running = []


@pytest.fixture
def workers(app: Flask, database: Database) -> Iterator[Workers]:
    manager = Workers(app, database)
    yield manager
    manager.stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs()}")


def jobs_done(database: Database) -> Callable[[], bool]:
    def done() -> bool:
        return not database.scalar("SELECT count(*) FROM jobs WHERE status IN ('queued', 'started')")

    return done


def received(database: Database) -> int:
    return int(database.scalar("SELECT count(*) FROM repayments WHERE status = 'received'"))


def queue_of(app: Flask) -> Queue:
    return Queue(app.config["RQ_QUEUES"][0], connection=redis_connection())


def check_applied_once(world: World, database: Database, amounts: dict[str, Decimal]) -> None:
    """Every transaction id recorded once and applied once; the ledger agrees with the balances;
    the cases lost exactly the sum of the payments (as balance or gained as credit)."""
    rows = database.rows(
        "SELECT r.external_id, r.amount, r.status, "
        "(SELECT count(*) FROM ledger_postings p WHERE p.repayment_id = r.id AND p.kind = 'payment') "
        "FROM repayments r WHERE r.org_id = :org",
        org=world.bank.org_id,
    )
    assert sorted(r[0] for r in rows) == sorted(amounts), "each transaction recorded exactly once"
    assert {r[0]: Decimal(r[1]) for r in rows} == amounts
    assert Counter(str(r[2]) for r in rows) == Counter({"confirmed": len(amounts)})
    assert [r for r in rows if r[3] != 1] == [], "a payment applied other than once"
    assert int(database.scalar("SELECT count(*) FROM ledger_postings WHERE kind = 'payment'")) == len(amounts)
    moved = database.scalar(
        "SELECT sum(:opening - outstanding + credit) FROM cases WHERE org_id = :org",
        opening=OPENING,
        org=world.bank.org_id,
    )
    assert Decimal(moved) == sum(amounts.values(), Decimal("0"))
    assert (
        database.scalar("SELECT count(*) FROM cases WHERE least(principal, interest, penalty, fee) < 0") == 0
    )
    with tenant(world.bank.org_id):
        db.session.expire_all()
        assert ledger_check.disagreements(world.bank.org_id) == []


def test_each_event_delivered_many_times_in_parallel_is_applied_once_by_two_workers(
    app: Flask, world: World, database: Database, workers: Workers
) -> None:
    rng = random.Random(6)
    make_cases(world, 20, prefix="Q")
    amounts = {f"TXN-{i:04d}": Decimal(rng.randint(100, 40000)) / 100 for i in range(200)}
    loans = {txn: f"Q-{rng.randrange(20)}" for txn in amounts}
    start = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    items = {
        txn: {
            "transaction_id": txn,
            "loan_no": loans[txn],
            "amount": str(amount),
            "paid_at": (start + dt.timedelta(minutes=i)).isoformat(),
        }
        for i, (txn, amount) in enumerate(amounts.items())
    }
    deliveries = [txn for txn in amounts for _ in range(rng.randint(1, 5))]
    rng.shuffle(deliveries)
    batches: list[list[str]] = []
    while deliveries:
        size = rng.randint(5, 60)
        batches.append(deliveries[:size])
        deliveries = deliveries[size:]
    # a quarter of the batches go twice at once with the same key (a client retrying too early):
    # the two copies side by side, so two threads take them together
    sends: list[tuple[str, list[str]]] = []
    for n, batch in enumerate(batches):
        sends.append((f"key-{n}", batch))
        if n % 4 == 0:
            sends.append((f"key-{n}", batch))
    tokens = [api_token(world.bank.admin_email) for _ in range(4)]

    workers.start()
    workers.start()
    wait_for(lambda: len(Worker.all(queue=queue_of(app))) == 2, WAIT, "two workers listening", workers.logs)
    go = threading.Barrier(8)

    def send(numbered: tuple[int, tuple[str, list[str]]]) -> tuple[str, int, dict[str, Any], bool]:
        n, (key, batch) = numbered
        if n < 8:
            go.wait(timeout=30)  # the first eight leave together
        response = post_repayments(app.test_client(), tokens[n % 4], [items[t] for t in batch], key=key)
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        return key, response.status_code, response.get_json(), replayed

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, enumerate(sends)))

    assert [a for a in answers if a[1] != 202] == [], "every batch is answered 202"
    by_key: dict[str, list[dict[str, Any]]] = {}
    for key, _status, body, _replayed in answers:
        by_key.setdefault(key, []).append(body)
    for key, bodies in by_key.items():
        assert all(b == bodies[0] for b in bodies), f"{key}: the same key got different answers"
    # each transaction id accepted by exactly one answer (a replayed answer is a copy, not counted)
    accepted = Counter(
        item["transaction_id"]
        for _key, _status, body, replayed in answers
        if not replayed
        for item in body["items"]
        if item["status"] == "accepted"
    )
    assert accepted == Counter(dict.fromkeys(amounts, 1))
    assert sum(replayed for *_rest, replayed in answers) == len(sends) - len(batches)
    statuses = Counter(item["status"] for _k, _s, body, _r in answers for item in body["items"])
    assert set(statuses) <= {"accepted", "duplicate"}, statuses

    wait_for(lambda: received(database) == 0, WAIT, "no received repayments left", workers.logs)
    check_applied_once(world, database, amounts)
    wait_for(jobs_done(database), WAIT, "every apply job finished", workers.logs)
    failed = database.rows("SELECT id, error FROM jobs WHERE status <> 'finished'")
    assert failed == [], failed
    # both workers took jobs, and both are still alive
    assert sorted(w.successful_job_count > 0 for w in Worker.all(queue=queue_of(app))) == [True, True]
    assert all(p.poll() is None for p, _log in workers.running), workers.logs()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _record(world: World, prefix: str, count: int, cases: int) -> dict[str, Decimal]:
    """Record ``count`` events as the core system's, in one transaction, without queueing a job."""
    rng = random.Random(count)
    amounts = {f"{prefix}-{i:05d}": Decimal(rng.randint(1, 3000)) / 100 for i in range(count)}
    items = [
        {"transaction_id": txn, "loan_no": f"K-{i % cases}", "amount": str(a), "paid_at": "2026-11-01"}
        for i, (txn, a) in enumerate(amounts.items())
    ]
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        done = repayments.record(org, items, source=RepaymentSource.API, enqueue_apply=False)
        assert done.accepted == count
        db.session.commit()
    return amounts


def test_a_worker_killed_inside_the_apply_transaction_loses_nothing_and_applies_nothing_twice(
    app: Flask, world: World, database: Database, workers: Workers
) -> None:
    make_cases(world, 30, prefix="K")
    first, rest = repayments.CHUNK, repayments.CHUNK // 2
    amounts = _record(world, "KILL", first + rest, 30)  # two chunks: a whole one, then half of one
    with tenant(world.bank.org_id):
        job_id = repayments.queue_apply(db.session.get(Organisation, world.bank.org_id))
        db.session.commit()
    queue = queue_of(app)
    assert queue.job_ids == [job_id]

    # the worker claims a chunk, waits 3 s holding it, moves its money and commits; then the next
    worker = workers.start(REPAYMENTS_TEST_APPLY_PAUSE="3")

    def second_chunk_claimed() -> bool:
        confirmed = database.scalar("SELECT count(*) FROM repayments WHERE status = 'confirmed'")
        holding = database.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND query LIKE '%SKIP LOCKED%'"
        )
        return confirmed == first and holding == 1

    wait_for(second_chunk_claimed, WAIT, "the second chunk claimed", workers.logs)
    # the machine dies: the worker cannot see its horse go (stopped), then both are killed
    horses = _children(worker.pid)
    assert len(horses) == 1, horses
    os.kill(worker.pid, signal.SIGSTOP)
    os.kill(horses[0], signal.SIGKILL)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)

    # the open transaction died with its connection: its rows are received and free again
    def released() -> bool:
        return (
            database.scalar(
                "SELECT count(*) FROM (SELECT id FROM repayments WHERE status = 'received' "
                "FOR UPDATE SKIP LOCKED) s"
            )
            == rest
        )

    wait_for(released, 60, "the killed transaction's rows released")
    assert database.scalar("SELECT count(*) FROM ledger_postings WHERE kind = 'payment'") == first
    with tenant(world.bank.org_id):
        record = db.session.get(JobRecord, job_id)
        assert record.status == JobStatus.STARTED and record.attempts == 1

    # rq's abandoned-job handling: the job is in the started registry of a dead worker; cleanup
    # (as a worker's maintenance would do once the job's heartbeat expires) retries it
    rq_job = Job.fetch(job_id, connection=redis_connection())
    assert rq_job.get_status() == "started"
    assert queue.job_ids == []
    StartedJobRegistry(queue=queue).cleanup(time.time() + 100_000)
    assert queue.job_ids == [job_id]
    assert Job.fetch(job_id, connection=redis_connection()).retries_left == 4

    workers.start()  # a fresh worker
    wait_for(jobs_done(database), WAIT, "the retried job finished", workers.logs)
    assert received(database) == 0
    check_applied_once(world, database, amounts)
    with tenant(world.bank.org_id):
        db.session.expire_all()
        record = db.session.get(JobRecord, job_id)
        assert record.status == JobStatus.FINISHED and record.attempts == 2
        assert record.result["applied"] == rest


def test_the_drain_queues_an_apply_job_for_received_rows_whose_job_was_lost(
    app: Flask, world: World, database: Database, workers: Workers
) -> None:
    make_cases(world, 5, prefix="K")
    token = api_token(world.bank.admin_email)
    items = [
        {"transaction_id": f"LOST-{i}", "loan_no": f"K-{i}", "amount": "10.00", "paid_at": "2026-11-01"}
        for i in range(5)
    ]
    answer = post_repayments(app.test_client(), token, items).get_json()
    assert answer["accepted"] == 5
    queue = queue_of(app)
    assert queue.job_ids == [answer["job_id"]]
    Job.fetch(answer["job_id"], connection=redis_connection()).delete()  # lost with Redis
    amounts = {i["transaction_id"]: Decimal(i["amount"]) for i in items}
    amounts.update(_record(world, "NEVER", 7, 5))  # recorded, and its job never sent
    assert queue.job_ids == []

    workers.start()

    def drain_once() -> Any:
        """The periodic entry, as rq's cron scheduler enqueues it, run by the worker."""
        job = queue.enqueue("arrears.kernel.jobs.schedule.run_periodic", "drain-repayments")
        wait_for(lambda: job.get_status() == "finished", WAIT, "the drain", workers.logs)
        return job.return_value()

    # fresh rows are left alone: their job may still be on its way
    assert drain_once() == {"tenants": 0}
    assert received(database) == 12
    # two minutes later, nothing applied them: the drain queues the owner's apply job
    with database.owner_engine.begin() as conn:
        conn.execute(text("UPDATE repayments SET created_at = created_at - interval '3 minutes'"))
    assert drain_once() == {"tenants": 1}
    wait_for(lambda: received(database) == 0, WAIT, "the drain's apply job", workers.logs)
    check_applied_once(world, database, amounts)
    assert drain_once() == {"tenants": 0}


def test_reversals_through_the_api(app: Flask, world: World, database: Database, workers: Workers) -> None:
    ids = make_cases(world, 2, prefix="RV")
    token = api_token(world.bank.admin_email)
    auth = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    items = [
        {"transaction_id": "A1", "loan_no": "RV-0", "amount": "80.00", "paid_at": "2026-11-01"},
        {"transaction_id": "B1", "loan_no": "RV-1", "amount": "1200.00", "paid_at": "2026-11-01"},
        {"transaction_id": "A2", "loan_no": "RV-0", "amount": "30.00", "paid_at": "2026-11-02"},
    ]
    answer = post_repayments(client, token, items).get_json()
    rid = {i["transaction_id"]: i["repayment_id"] for i in answer["items"]}

    # A2 reversed while it waits for the job: never applied afterwards
    early = client.post(
        f"/api/v1/repayments/{rid['A2']}/reversal", json={"reason": "sent in error"}, headers=auth
    )
    assert early.status_code == 200, early.get_data(as_text=True)
    assert early.get_json()["status"] == "reversed" and early.get_json()["allocation"] is None
    workers.start()
    wait_for(jobs_done(database), WAIT, "the apply job", workers.logs)
    assert received(database) == 0
    a2 = client.get(f"/api/v1/repayments/{rid['A2']}", headers=auth).get_json()
    assert (a2["status"], a2["applied_at"], a2["allocation"]) == ("reversed", None, None)
    assert database.scalar("SELECT count(*) FROM ledger_postings WHERE repayment_id = :r", r=rid["A2"]) == 0
    with tenant(world.bank.org_id):
        assert repayments.apply_received(db.session.get(Organisation, world.bank.org_id))["applied"] == 0

    # B1 paid the case off (and 30.00 over, as credit): it closed; the reversal reopens it
    columns = ("principal", "interest", "penalty", "fee", "credit", "outstanding", "status")

    def case(case_id: int) -> dict[str, str]:
        row = database.rows(f"SELECT {', '.join(columns)} FROM cases WHERE id = :i", i=case_id)[0]
        return dict(zip(columns, map(str, row), strict=True))

    opening = {
        "principal": "1000.00",
        "interest": "100.00",
        "penalty": "50.00",
        "fee": "20.00",
        "credit": "0.00",
    }
    assert case(ids[1])["status"] == "closed" and case(ids[1])["credit"] == "30.00"
    assert case(ids[0])["penalty"] == "0.00" and case(ids[0])["fee"] == "0.00"  # A1: 50 + 20 + 10
    for txn, case_id, status in (("B1", ids[1], "active"), ("A1", ids[0], "new")):
        response = client.post(
            f"/api/v1/repayments/{rid[txn]}/reversal", json={"reason": "chargeback"}, headers=auth
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["status"] == "reversed"
        after = case(case_id)
        assert {k: after[k] for k in opening} == opening
        assert (after["outstanding"], after["status"]) == ("1170.00", status)
    postings = database.scalar("SELECT count(*) FROM ledger_postings")
    # twice changes nothing
    again = client.post(f"/api/v1/repayments/{rid['A1']}/reversal", json={"reason": "again"}, headers=auth)
    assert again.status_code == 200 and again.get_json()["status"] == "reversed"
    assert again.get_json()["note"] == "chargeback"
    assert database.scalar("SELECT count(*) FROM ledger_postings") == postings
    assert {k: case(ids[0])[k] for k in opening} == opening
    # the same transaction sent again is a duplicate of the reversed one, not a new payment
    resent = post_repayments(client, token, items[:1]).get_json()["items"][0]
    assert (resent["status"], resent["recorded_status"]) == ("duplicate", "reversed")
    assert database.scalar("SELECT count(*) FROM ledger_postings") == postings
    with tenant(world.bank.org_id):
        db.session.expire_all()
        assert ledger_check.disagreements(world.bank.org_id) == []
    # a reversal names its reason
    assert client.post(f"/api/v1/repayments/{rid['A1']}/reversal", json={}, headers=auth).status_code == 422
    with tenant(world.bank.org_id):
        assert db.session.scalar(select(Case.status).where(Case.id == ids[1])) == "active"
