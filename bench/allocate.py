"""Benchmark: allocating 100,000 cases over 200 collectors with a three-rule strategy, end to end.

Value: wall time of ``services.allocation.preview`` (load the cases, run the engine, store the plan per
case) plus ``start_apply`` (claim the run; without Redis the apply job runs inline right after: skip
changed cases, UPDATE ... FROM the cases, append the assignment log, mark the results), on PostgreSQL.
Baseline, in the same run: a bare INSERT of 100,000 assignment rows from Python (SQLAlchemy Core
executemany, insertmanyvalues) into the same database.

    .venv/bin/python bench/allocate.py [--cases N] [--collectors N]

The cases and collectors are written with SQL (not timed). The last line printed is the result as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "platform"))  # append, never prepend

import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "allocate"
TARGET = "preview + apply <= 3 s for 100k cases over 200 collectors"


def seed(env: c.Env, org_id: int, cases: int, collectors: int) -> None:
    """Collectors (an in-house team of the owner, with the owner-admin role that works the
    workbench) and cases with their debtors, straight in SQL as the owner."""
    c.owner_sql(
        env,
        f"""
        INSERT INTO users (org_id, email, name, password_hash, status, session_version, created_at)
        SELECT {org_id}, 'collector' || g || '@bench.example', 'Collector ' || g, 'x', 'active', 1, now()
        FROM generate_series(1, {collectors}) g
        """,
        f"""
        INSERT INTO user_roles (org_id, user_id, role_id)
        SELECT u.org_id, u.id, r.id FROM users u, roles r
        WHERE u.org_id = {org_id} AND u.email LIKE 'collector%'
          AND r.org_id = {org_id} AND r.template_key = 'owner_admin'
        """,
        f"""
        INSERT INTO debtors (org_id, name, id_number, id_number_bidx, data_hash, created_at, updated_at)
        SELECT {org_id}, 'Debtor ' || g, 'sealed', md5('id' || g), '', now(), now()
        FROM generate_series(1, {cases}) g
        """,
        f"""
        INSERT INTO cases (org_id, debtor_id, loan_no, product, due_date, principal, interest, penalty, fee,
            outstanding, currency, flags, status, province, city, region, tags, priority, extra, row_hash,
            created_at, updated_at)
        SELECT d.org_id, d.id, 'LN' || d.id, (ARRAY['现金贷','信用卡','车贷'])[1 + d.id % 3],
            DATE '2026-11-01' - (d.id % 200)::int, ((d.id * 7919) % 20000 + 100)::numeric, 0, 0, 0,
            ((d.id * 7919) % 20000 + 100)::numeric, 'CNY', '{{}}', 'new',
            (ARRAY['广东省','浙江省','四川省','江苏省'])[1 + d.id % 4], '', '', '[]', 0, '{{}}', '',
            now(), now()
        FROM debtors d WHERE d.org_id = {org_id}
        """,
        "VACUUM ANALYZE users",
        "VACUUM ANALYZE cases",
        "VACUUM ANALYZE debtors",
    )


def strategy_rules(collector_ids: list[int]) -> list[dict[str, object]]:
    first = [f"user:{i}" for i in collector_ids[:50]]
    return [
        {
            "name": "M1 to the early team",
            "filter": {"dpd_max": 30},
            "method": "round_robin",
            "targets": first,
        },
        {"name": "Large balances", "filter": {"amount_min": "15000"}, "method": "balanced_amount"},
        {"name": "Everything else", "method": "round_robin", "previous_holder": "exclude"},
    ]


def baseline_insert(rows: int, org_id: int, case_ids: list[int], user_ids: list[int]) -> float:
    """A bare INSERT of ``rows`` assignment rows from Python, in one transaction, committed."""
    import datetime as dt

    from sqlalchemy import insert

    from arrears.extensions import db
    from arrears.models import CaseAssignment
    from arrears.tenancy import tenant

    now = dt.datetime.now(dt.UTC)
    params = [
        {
            "org_id": org_id,
            "case_id": case_ids[i % len(case_ids)],
            "kind": "dispatch",
            "to_user_id": user_ids[i % len(user_ids)],
            "reason": "",
            "created_at": now,
        }
        for i in range(rows)
    ]
    with tenant(org_id):
        start = time.perf_counter()
        db.session.execute(insert(CaseAssignment), params)
        db.session.commit()
        seconds = time.perf_counter() - start
        db.session.execute(CaseAssignment.__table__.delete())
        db.session.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--collectors", type=int, default=200)
    args = parser.parse_args()

    with c.environment("arrears_bench_alloc") as env:
        with c.app_context(env.config):
            org_id = c.make_owner("bench-alloc")
        start = time.perf_counter()
        seed(env, org_id, args.cases, args.collectors)
        c.say(
            f"seeded {args.cases} cases and {args.collectors} collectors "
            f"in {time.perf_counter() - start:.1f} s"
        )

        with c.app_context(env.config):
            from sqlalchemy import select

            from arrears.allocation import runs as allocation
            from arrears.extensions import db
            from arrears.models import AllocationLevel, Case, CaseHolder, RunStatus, User
            from arrears.tenancy import tenant

            org = c.load_org(org_id)
            with tenant(org_id, org.kind):
                admin = db.session.scalar(select(User).where(User.email == "admin@bench-alloc.bench.example"))
                collectors = sorted(db.session.scalars(select(User.id).where(User.email.like("collector%"))))
                case_ids = list(db.session.scalars(select(Case.id)))
                rules = strategy_rules(collectors)
                baseline = baseline_insert(args.cases, org_id, case_ids, collectors)
                c.say(f"baseline: bare INSERT of {args.cases} assignment rows: {baseline:.2f} s")

                targets = [{"id": uid} for uid in collectors]
                start = time.perf_counter()
                run = allocation.preview(admin, level=AllocationLevel.DISPATCH, rules=rules, targets=targets)
                previewed = time.perf_counter() - start
                allocation.start_apply(admin, run)  # no Redis: the apply job runs inline after the commit
                value = time.perf_counter() - start
                db.session.expire_all()
                run = db.session.get(type(run), run.id)
                c.say(
                    f"allocate: preview {previewed:.2f} s, preview + apply {value:.2f} s; "
                    f"{run.allocated_count} allocated, {run.applied_count} applied, "
                    f"{run.skipped_count} skipped, "
                    f"unallocated {run.summary['unallocated']}"
                )
                held = Counter(
                    db.session.scalars(
                        select(CaseHolder.assignee_user_id)
                        .select_from(Case)
                        .outerjoin(CaseHolder, CaseHolder.case_id == Case.id)
                    )
                )
                problems = []
                if run.status != RunStatus.APPLIED:
                    problems.append(f"run status {run.status}")
                if run.applied_count != args.cases or held.get(None):
                    problems.append(f"{held.get(None, 0)} cases unassigned, {run.applied_count} applied")
                if len(held) != len(collectors):
                    problems.append(f"{len(held)} collectors hold cases, expected {len(collectors)}")
                c.say(f"cases per collector: min {min(held.values())}, max {max(held.values())}")
                if problems:
                    raise SystemExit("allocation benchmark FAILED: " + "; ".join(problems))

    print(
        c.result_line(
            BENCH,
            value,
            baseline,
            TARGET,
            cases=args.cases,
            collectors=args.collectors,
            preview_s=round(previewed, 3),
            code=c.code_version(),
        )
    )


if __name__ == "__main__":
    main()
