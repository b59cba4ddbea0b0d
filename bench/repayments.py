"""Benchmark: 100,000 repayment events from the core system through the API and the queue, applied by
two rq worker processes.

Value: events applied per second, from the first ``POST /api/v1/repayments`` (1,000 events a request,
sent by two client threads through the application's WSGI stack) until the last event is applied
(postings, balances and status committed). Checked afterwards: every event applied exactly once (one
payment posting per repayment), none left, the ledger agrees with the balances.

Baseline, in the same run: rq's own throughput of no-op jobs (``os.getpid``) with the same two worker
processes, in jobs per second. The ratio says how many payment events the system applies in the time
rq alone runs one empty job.

    .venv/bin/python bench/repayments.py [--events N] [--cases N] [--batch N] [--noop N]

Needs PostgreSQL and Redis (``BENCH_REDIS_URL``, default redis://127.0.0.1:6379/0); the cases are
written with SQL (not timed). The last line printed is the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from arrears.payments import ledger_check

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "repayments"
TARGET = ">= 5000 events/s applied, 0 double-applied (100k events, API + queue, two workers)"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def seed(env: c.Env, org_id: int, cases: int) -> None:
    """Cases with their debtors, straight in SQL as the owner: principal 2,000-22,000, interest,
    penalty and fee, so payments walk the allocation order."""
    c.owner_sql(
        env,
        f"""
        INSERT INTO debtors (org_id, name, id_number, id_number_bidx, data_hash, created_at, updated_at)
        SELECT {org_id}, 'Debtor ' || g, 'sealed', md5('id' || g), '', now(), now()
        FROM generate_series(1, {cases}) g
        """,
        f"""
        INSERT INTO cases (org_id, debtor_id, loan_no, product, due_date, principal, interest, penalty, fee,
            outstanding, currency, flags, status, province, city, region, tags, priority, extra, row_hash,
            created_at, updated_at)
        SELECT d.org_id, d.id, 'LN' || d.id, '现金贷', DATE '2026-10-01' - (d.id % 200)::int,
            ((d.id * 7919) % 20000 + 2000)::numeric, 300, 150, 50,
            ((d.id * 7919) % 20000 + 2500)::numeric, 'CNY', '{{}}', 'active', '', '', '', '[]', 0, '{{}}',
            '', now(), now()
        FROM debtors d WHERE d.org_id = {org_id}
        """,
        "VACUUM ANALYZE cases",
        "VACUUM ANALYZE debtors",
    )


def events(count: int, cases: int, seed_: int = 6) -> list[dict[str, Any]]:
    """``count`` events over ``cases`` loans; one in 500 pays the loan off (with a little over)."""
    rng = random.Random(seed_)
    out = []
    for i in range(count):
        loan = rng.randint(1, cases)
        amount = Decimal(rng.randint(1000, 50000)) / 100
        if i % 500 == 0:
            amount = Decimal("30000.00")  # more than any loan owes: closes it, the rest is credit
        out.append(
            {
                "transaction_id": f"TXN{i:09d}",
                "loan_no": f"LN{loan}",
                "amount": str(amount),
                "paid_at": "2026-11-20T10:00:00+08:00",
                "channel": "银行卡代扣",
            }
        )
    return out


def worker_env(env: c.Env, queue: str, prefix: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
        "DATABASE_URL": env.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": REDIS_URL,
        "ARREARS_ENV": "testing",
        "SECRET_KEY": env.config["SECRET_KEY"],
        "PII_KEYS": c.PII_KEY,
        "PII_INDEX_KEY": c.PII_INDEX_KEY,
        "REDIS_KEY_PREFIX": prefix,
        "RQ_QUEUES": queue,
        "ARREARS_INSTANCE_PATH": str(env.workdir / "instance"),
    }


def start_workers(env: c.Env, queue: str, prefix: str, n: int = 2) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-scheduler"],
            cwd=c.ROOT,
            env=worker_env(env, queue, prefix),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(n)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        if w.poll() is None:
            os.killpg(w.pid, signal.SIGTERM)
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(w.pid, signal.SIGKILL)
            w.wait()


def wait_workers_ready(conn: Any, n: int, timeout: float = 60) -> None:
    from rq import Worker

    deadline = time.monotonic() + timeout
    while len(Worker.all(connection=conn)) < n:
        if time.monotonic() > deadline:
            raise SystemExit("the rq workers did not start")
        time.sleep(0.1)


def noop_throughput(conn: Any, queue: str, jobs: int) -> float:
    """rq's own throughput: ``jobs`` no-op jobs enqueued at once, run by the two workers; jobs/s from
    the first enqueue to the last finished."""
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    q = Queue(queue, connection=conn)
    registry = FinishedJobRegistry(queue, connection=conn)
    start = time.perf_counter()
    with conn.pipeline() as pipe:
        for _ in range(jobs):
            q.enqueue("os.getpid", pipeline=pipe, result_ttl=600)
        pipe.execute()
    while registry.count < jobs:
        time.sleep(0.01)
        if time.perf_counter() - start > 600:
            raise SystemExit("no-op jobs did not finish")
    return jobs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--noop", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()

    from redis import Redis

    conn = Redis.from_url(REDIS_URL)
    conn.ping()
    queue = f"bench-repayments-{os.getpid()}"
    prefix = f"arrears-bench-repay-{os.getpid()}"

    with c.environment("arrears_bench_repay") as env:
        env.config.update(REDIS_URL=REDIS_URL, RQ_QUEUES=[queue], REDIS_KEY_PREFIX=prefix)
        with c.app_context(env.config):
            org_id = c.make_owner("bench-repay")
        start = time.perf_counter()
        seed(env, org_id, args.cases)
        c.say(f"seeded {args.cases} cases in {time.perf_counter() - start:.1f} s")
        payload = events(args.events, args.cases)
        total = sum((Decimal(e["amount"]) for e in payload), Decimal("0"))
        bodies = [
            json.dumps({"items": payload[i : i + args.batch]}).encode()
            for i in range(0, len(payload), args.batch)
        ]

        workers = start_workers(env, queue, prefix)
        try:
            wait_workers_ready(conn, len(workers))
            baseline = noop_throughput(conn, queue, args.noop)
            c.say(f"baseline: rq no-op jobs, two workers: {baseline:.0f} jobs/s")

            with c.app_context(env.config) as app:
                from sqlalchemy import func, select, text

                from arrears.auth import sessions as auth
                from arrears.extensions import db
                from arrears.models import (
                    ApiTokenAudience,
                    Posting,
                    PostingKind,
                    Repayment,
                    RepaymentStatus,
                    User,
                )
                from arrears.tenancy import tenant

                org = c.load_org(org_id)
                with tenant(org_id, org.kind):
                    admin = db.session.scalar(
                        select(User).where(User.email == "admin@bench-repay.bench.example")
                    )
                    _, token = auth.create_token(
                        admin, admin, audience=ApiTokenAudience.API, name="bench", days=1
                    )
                    db.session.commit()
                db.session.remove()

                failures: list[str] = []
                lock = threading.Lock()
                cursor = iter(range(len(bodies)))

                def client() -> None:
                    http = app.test_client()
                    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                    while True:
                        with lock:
                            i = next(cursor, None)
                        if i is None:
                            return
                        response = http.post(
                            "/api/v1/repayments",
                            data=bodies[i],
                            headers={**headers, "Idempotency-Key": f"bench-{i}"},
                        )
                        if response.status_code != 202 or response.get_json()["accepted"] != args.batch:
                            failures.append(
                                f"request {i}: {response.status_code} {response.get_data()[:200]!r}"
                            )

                start = time.perf_counter()
                threads = [threading.Thread(target=client) for _ in range(args.clients)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                posted = time.perf_counter() - start
                c.say(f"posted {args.events} events in {len(bodies)} requests: {posted:.2f} s")
                if failures:
                    raise SystemExit("requests failed: " + "; ".join(failures[:5]))
                with tenant(org_id, org.kind):
                    while True:
                        left = db.session.scalar(
                            select(func.count())
                            .select_from(Repayment)
                            .where(Repayment.status == RepaymentStatus.RECEIVED)
                        )
                        db.session.rollback()
                        if not left:
                            break
                        if time.perf_counter() - start > 900:
                            raise SystemExit(f"{left} events still not applied after 900 s")
                        time.sleep(0.02)
                    elapsed = time.perf_counter() - start
                    value = args.events / elapsed
                    c.say(f"applied {args.events} events in {elapsed:.2f} s: {value:.0f} events/s")

                    # exactly once: one payment posting per repayment, every event confirmed
                    confirmed = db.session.scalar(
                        select(func.count())
                        .select_from(Repayment)
                        .where(Repayment.status == RepaymentStatus.CONFIRMED)
                    )
                    postings = db.session.scalar(
                        select(func.count()).select_from(Posting).where(Posting.kind == PostingKind.PAYMENT)
                    )
                    twice = db.session.scalar(
                        text(
                            "SELECT count(*) FROM (SELECT repayment_id FROM ledger_postings "
                            "WHERE kind = 'payment' GROUP BY repayment_id HAVING count(*) > 1) t"
                        )
                    )
                    applied = db.session.scalar(
                        select(
                            func.sum(
                                -Posting.principal
                                - Posting.interest
                                - Posting.penalty
                                - Posting.fee
                                + Posting.credit
                            )
                        ).where(Posting.kind == PostingKind.PAYMENT)
                    )
                    wrong = ledger_check.disagreements(org_id)
                    c.say(
                        f"confirmed {confirmed}, payment postings {postings}, applied twice {twice}, "
                        f"amount {applied} of {total}, ledger disagreements {len(wrong)}"
                    )
                    problems = []
                    if confirmed != args.events or postings != args.events:
                        problems.append(
                            f"{confirmed} confirmed and {postings} postings for {args.events} events"
                        )
                    if twice:
                        problems.append(f"{twice} repayments applied twice")
                    if applied != total:
                        problems.append(f"applied {applied}, sent {total}")
                    if wrong:
                        problems.append(f"ledger disagrees: {wrong[:3]}")
                    if problems:
                        raise SystemExit("repayments benchmark FAILED: " + "; ".join(problems))
        finally:
            stop_workers(workers)
            for key in conn.scan_iter(f"rq:*{queue}*"):
                conn.delete(key)
            for key in conn.scan_iter(f"{prefix}*"):
                conn.delete(key)

    print(
        c.result_line(
            BENCH,
            value,
            baseline,
            TARGET,
            unit="events/s",
            events=args.events,
            cases=args.cases,
            batch=args.batch,
            post_s=round(posted, 3),
            applied_s=round(elapsed, 3),
            double_applied=int(twice or 0),
            baseline_unit="rq no-op jobs/s",
            code=c.code_version(),
        )
    )


if __name__ == "__main__":
    main()
