"""Benchmark: the monthly commission settlement of 200,000 attributed repayments over 20 agencies.

Value: wall time of ``services.commission.settle(owner, period)`` on PostgreSQL, from nothing accrued:
price every attributed payment of the month (an ``INSERT ... SELECT`` joining the contract version of
the payment's day and the rate of the bucket at placement), bind the records to one draft statement
per agency (one ``UPDATE``), sum them by bucket (one ``GROUP BY``), and work out tiers and minimums.
Baseline, in the same run: a bare ``SELECT agency_org_id, bucket, count(*), sum(amount) ... GROUP BY``
over the same repayments joined to their placements (what any report of the month costs).

    .venv/bin/python bench/settlement.py [--repayments N] [--agencies N] [--cases N] [--accrued]

The tenants, contracts, placed cases and applied repayments are written before timing (the cases
and repayments with SQL). The figures are checked against an independent SQL sum before the result
is printed; a second settlement of the same month must give the same statements. The last line
printed is the result as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "platform"))  # append, never prepend

import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "settlement"
TARGET = "settle a month of 200k attributed repayments over 20 agencies <= 10 s"
PERIOD = "2026-11"
RATES = {"M0": "0.05", "M1": "0.08", "M2": "0.12", "M3": "0.18", "M4+": "0.25"}


def make_agencies(owner_id: int, count: int) -> list[int]:
    """``count`` agency tenants, each a partner of the owner with a contract (two versions: a rate
    change on the 15th, a recovery-rate tier and a minimum)."""
    import datetime as dt

    from sqlalchemy import select

    from arrears.commission import commission
    from arrears.extensions import db
    from arrears.models import Partnership, User
    from arrears.orgs import orgs
    from arrears.tenancy import tenant

    ids = []
    for i in range(count):
        agency = orgs.create_organisation(
            None,
            kind="agency",
            slug=f"bench-agency-{i}",
            name=f"Bench agency {i}",
            admin_email=f"admin@bench-agency-{i}.bench.example",
            admin_name=f"Admin {i}",
            admin_password=c.PASSWORD,
        )
        ids.append(int(agency.id))
    with tenant(owner_id):
        for agency_id in ids:
            db.session.add(
                Partnership(
                    org_id=owner_id, agency_org_id=agency_id, starts_on=dt.date(2026, 1, 1), grants=[]
                )
            )
        db.session.commit()
        admin = db.session.scalar(select(User).where(User.email == "admin@bench-settle.bench.example"))
        for agency_id in ids:
            contract = commission.create_contract(
                admin,
                kind="agency",
                name=f"contract {agency_id}",
                agency_org_id=agency_id,
                version=commission.version_input(
                    {
                        "effective_from": "2026-01-01",
                        "rates": RATES,
                        "tiers": [{"threshold": "0.02", "bonus_rate": "0.01"}],
                        "min_amount": "1000.00",
                    }
                ),
            )
            commission.add_version(
                admin,
                contract,
                commission.version_input(
                    {"effective_from": "2026-11-15", "rates": {**RATES, "M1": "0.09", "M4+": "0.28"}}
                ),
            )
    return ids


def seed(env: c.Env, owner_id: int, agency_ids: list[int], cases: int, repayments: int) -> None:
    """Cases placed with the agencies (round robin, buckets M0..M4+ in turn) and applied, attributed
    repayments spread over the month, straight in SQL as the database owner."""
    agencies = "ARRAY[" + ",".join(str(a) for a in agency_ids) + "]::bigint[]"
    n = len(agency_ids)
    c.owner_sql(
        env,
        f"""
        INSERT INTO debtors (org_id, name, id_number, id_number_bidx, data_hash, created_at, updated_at)
        SELECT {owner_id}, 'Debtor ' || g, 'sealed', md5('id' || g), '', now(), now()
        FROM generate_series(1, {cases}) g
        """,
        f"""
        INSERT INTO cases (org_id, debtor_id, agency_org_id, loan_no, product, due_date, principal, interest,
            penalty, fee, outstanding, currency, flags, status, province, city, region, tags, priority, extra,
            row_hash, created_at, updated_at)
        SELECT d.org_id, d.id, ({agencies})[1 + d.id % {n}], 'LN' || d.id, '现金贷',
            DATE '2026-09-01' - (d.id % 200)::int, ((d.id * 7919) % 20000 + 100)::numeric, 0, 0, 0,
            ((d.id * 7919) % 20000 + 100)::numeric, 'CNY', '{{}}', 'active', '', '', '', '[]', 0, '{{}}', '',
            now(), now()
        FROM debtors d WHERE d.org_id = {owner_id}
        """,
        f"""
        INSERT INTO placements (org_id, agency_org_id, partnership_id, name, starts_on, ends_on, status,
            case_count, amount, close_reason, created_at, activated_at)
        SELECT p.org_id, p.agency_org_id, p.id, 'bench', DATE '2026-09-01', DATE '2027-03-01', 'active', 0, 0,
            '', now(), now()
        FROM partnerships p WHERE p.org_id = {owner_id}
        """,
        f"""
        INSERT INTO placement_cases (org_id, placement_id, case_id, agency_org_id, status, bucket, dpd,
            amount, starts_on, ends_on, close_reason)
        SELECT k.org_id, pl.id, k.id, k.agency_org_id, 'active',
            (ARRAY['M0','M1','M2','M3','M4+'])[1 + k.id % 5], (k.id % 5) * 30, k.outstanding,
            DATE '2026-09-01', DATE '2027-03-01', ''
        FROM cases k JOIN placements pl ON pl.org_id = k.org_id AND pl.agency_org_id = k.agency_org_id
        WHERE k.org_id = {owner_id}
        """,
        f"""
        INSERT INTO repayments (org_id, case_id, source, origin, external_id, amount, paid_at, channel,
            status, agency_org_id, placement_case_id, applied_at, note, created_at)
        SELECT pc.org_id, pc.case_id, 'api', 'core', 'T' || g, (100 + (g * 7919) % 500000) / 100.0,
            TIMESTAMPTZ '2026-11-01 00:00:00+08' + ((g * 104729) % 2592000) * INTERVAL '1 second', '',
            'confirmed', pc.agency_org_id, pc.id, now(), '', now()
        FROM generate_series(1::bigint, {repayments}::bigint) g
        JOIN placement_cases pc ON pc.id = (SELECT min(id) FROM placement_cases WHERE org_id = {owner_id})
            + (g * 31) % {cases}
        """,
        "VACUUM ANALYZE repayments",
        "VACUUM ANALYZE placement_cases",
        "VACUUM ANALYZE commission_records",
    )


def baseline_sum(owner_id: int) -> tuple[float, Decimal, int]:
    """The month's repayments summed per agency and bucket: a bare GROUP BY over the same rows."""
    from sqlalchemy import text

    from arrears.extensions import db

    start = time.perf_counter()
    rows = db.session.execute(
        text(
            """
            SELECT r.agency_org_id, pc.bucket, count(*), sum(r.amount)
            FROM repayments r JOIN placement_cases pc ON pc.id = r.placement_case_id
            WHERE r.org_id = :org AND r.paid_at >= TIMESTAMPTZ '2026-11-01 00:00+08'
              AND r.paid_at < TIMESTAMPTZ '2026-12-01 00:00+08' AND r.agency_org_id IS NOT NULL
            GROUP BY r.agency_org_id, pc.bucket
            """
        ),
        {"org": owner_id},
    ).all()
    seconds = time.perf_counter() - start
    db.session.commit()
    return seconds, sum((Decimal(r[3]) for r in rows), Decimal("0")), sum(int(r[2]) for r in rows)


def expected_commission(owner_id: int) -> Decimal:
    """Independently of the service: Σ round(amount × rate, 2), the rate of the version effective on
    the payment's day (Asia/Shanghai) for the bucket at placement."""
    from sqlalchemy import text

    from arrears.extensions import db

    value = db.session.execute(
        text(
            """
            SELECT sum(round(r.amount * (CASE
                WHEN (r.paid_at AT TIME ZONE 'Asia/Shanghai')::date >= DATE '2026-11-15'
                    AND pc.bucket = 'M1' THEN 0.09
                WHEN (r.paid_at AT TIME ZONE 'Asia/Shanghai')::date >= DATE '2026-11-15'
                    AND pc.bucket = 'M4+' THEN 0.28
                ELSE CASE pc.bucket WHEN 'M0' THEN 0.05 WHEN 'M1' THEN 0.08 WHEN 'M2' THEN 0.12
                    WHEN 'M3' THEN 0.18 ELSE 0.25 END END), 2))
            FROM repayments r JOIN placement_cases pc ON pc.id = r.placement_case_id
            WHERE r.org_id = :org AND r.agency_org_id IS NOT NULL
            """
        ),
        {"org": owner_id},
    ).scalar()
    db.session.commit()
    return Decimal(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repayments", type=int, default=200_000)
    parser.add_argument("--agencies", type=int, default=20)
    parser.add_argument("--cases", type=int, default=60_000)
    parser.add_argument(
        "--accrued",
        action="store_true",
        help="accrue the records first (untimed), as the periodic job does between settlements: "
        "the settlement then binds them with one UPDATE",
    )
    args = parser.parse_args()

    with c.environment("arrears_bench_settle") as env:
        start = time.perf_counter()
        with c.app_context(env.config):
            owner_id = c.make_owner("bench-settle")
            agency_ids = make_agencies(owner_id, args.agencies)
        seed(env, owner_id, agency_ids, args.cases, args.repayments)
        c.say(
            f"seeded {args.repayments} repayments on {args.cases} cases placed with {args.agencies} agencies "
            f"in {time.perf_counter() - start:.1f} s"
        )
        with c.app_context(env.config):
            from sqlalchemy import func, select

            from arrears.commission import accrual, commission
            from arrears.extensions import db
            from arrears.models import CommissionRecord, CommissionStatement
            from arrears.tenancy import tenant

            org = c.load_org(owner_id)
            with tenant(owner_id, org.kind):
                baseline, base_total, base_count = baseline_sum(owner_id)
                c.say(f"baseline: GROUP BY of {base_count} repayments by agency and bucket: {baseline:.3f} s")
                expected = expected_commission(owner_id)

                if args.accrued:
                    start = time.perf_counter()
                    accrual.accrue(org)
                    c.say(f"accrued beforehand (untimed): {time.perf_counter() - start:.2f} s")
                start = time.perf_counter()
                first = commission.settle(org, PERIOD)
                value = time.perf_counter() - start
                c.say(f"settle {PERIOD}: {value:.2f} s: {first}")

                start = time.perf_counter()
                second = commission.settle(org, PERIOD)
                rerun = time.perf_counter() - start
                c.say(f"settle {PERIOD} again (rebuild of the drafts): {rerun:.2f} s")

                statements = db.session.scalars(
                    select(CommissionStatement).where(CommissionStatement.period == PERIOD)
                ).all()
                commission_total = sum((s.commission for s in statements), Decimal("0"))
                base_settled = sum((s.base_amount for s in statements), Decimal("0"))
                records = db.session.scalar(select(func.count()).select_from(CommissionRecord))
                problems = []
                if len(statements) != args.agencies:
                    problems.append(f"{len(statements)} statements, expected {args.agencies}")
                if records != args.repayments or first["records"] != args.repayments:
                    problems.append(
                        f"{records} records, {first['records']} settled, expected {args.repayments}"
                    )
                if commission_total != expected:
                    problems.append(f"commission {commission_total} != independent sum {expected}")
                if base_settled != base_total:
                    problems.append(f"settled amount {base_settled} != repaid {base_total}")
                if (first["net"], first["records"]) != (second["net"], second["records"]):
                    problems.append(f"second settlement differs: {first} / {second}")
                c.say(f"commission {commission_total} (independent sum {expected}), net {first['net']}")
                if problems:
                    raise SystemExit("settlement benchmark FAILED: " + "; ".join(problems))

    print(
        c.result_line(
            BENCH,
            value,
            baseline,
            TARGET,
            repayments=args.repayments,
            agencies=args.agencies,
            rerun_s=round(rerun, 3),
            accrued_beforehand=args.accrued,
            code=c.code_version(),
        )
    )


if __name__ == "__main__":
    main()
