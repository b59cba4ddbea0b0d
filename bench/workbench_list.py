"""Benchmark: the collector workbench's case list in a tenant of 1,000,000 cases, 200 per collector.

Value: the 95th percentile of the server time of ``GET /workbench/cases`` as a signed-in collector (the
whole Flask request through the test client: session and user loading, the case scope, the keyset
query, the template), over the first page and the following keyset pages of random collectors under
every workbench sort, plus a filter and a quick search. Baseline, in the same run: a bare SQL query of
a collector's first page by the index (``SELECT c.* FROM case_holders h JOIN cases c ... WHERE
h.assignee_user_id = :u ORDER BY h.case_id LIMIT 50``) through the same connection pool, in its own
tenant transaction, timed the same way; the ratio is the application's overhead over that query.

    .venv/bin/python bench/workbench_list.py [--cases N] [--collectors N] [--walks N]

The tenant, its 5,000 collectors (500 of them in ten teams, each with a lead), the debtors and cases
are written with SQL (not timed), then ``VACUUM ANALYZE``. A team lead's team view (10,000 cases a
team) is timed too and reported beside the value, and so is the collector's desk (``GET /workbench/``:
the day's figures, the rank and the honour roll, cached per organisation for five minutes; its first,
uncached computation is reported apart). The last line printed is the result as JSON.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1] / "platform"))  # append, never prepend

import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "workbench_list"
TARGET = "p95 <= 50 ms server time for the workbench list, 1M cases in the tenant, 200 per collector"
BUSINESS_DATE = "2026-11-15"
TEAMS = 10
TEAM_SIZE = 50
_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
_NEXT = re.compile(r'href="(/workbench/cases\?[^"]*cursor=[^"]+)"')
_ROW = re.compile(r'href="/workbench/cases/(\d+)"')


def seed(env: c.Env, org_id: int, cases: int, collectors: int, password_hash: str) -> None:
    """Collectors with a custom role (cases.view, workbench.use: their own cases only), ten teams of
    50 collectors with a lead each (same permissions: the team's cases), debtors with varied names,
    and cases spread over the collectors (collector ``n`` holds every ``collectors``-th case, so a
    collector's 200 cases lie on 200 different pages of the table, as after a real dispatch) with
    varied due dates, amounts, priorities and workbench sort keys, NULL where nothing is set."""
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文海云辉鹏飞雪婷宇"
    c.owner_sql(
        env,
        "UPDATE organisations SET settings = "
        f"""'{{"business_date": "{BUSINESS_DATE}"}}' WHERE id = {org_id}""",
        f"""
        INSERT INTO roles (org_id, name, description, created_at)
        VALUES ({org_id}, 'Bench collector', '', now()), ({org_id}, 'Bench team lead', '', now())
        """,
        f"""
        INSERT INTO role_permissions (org_id, role_id, permission)
        SELECT {org_id}, r.id, p FROM roles r, unnest(ARRAY['cases.view', 'workbench.use']) p
        WHERE r.org_id = {org_id} AND r.name LIKE 'Bench %'
        """,
        f"""
        INSERT INTO users (org_id, email, name, password_hash, status, session_version, created_at)
        SELECT {org_id}, 'collector' || g || '@bench.example', 'Collector ' || g, '{password_hash}', 'active',
            1, now()
        FROM generate_series(1, {collectors}) g
        """,
        f"""
        INSERT INTO users (org_id, email, name, password_hash, status, session_version, created_at)
        SELECT {org_id}, 'lead' || g || '@bench.example', 'Lead ' || g, '{password_hash}', 'active', 1, now()
        FROM generate_series(1, {TEAMS}) g
        """,
        f"""
        INSERT INTO user_roles (org_id, user_id, role_id)
        SELECT u.org_id, u.id, r.id FROM users u JOIN roles r ON r.org_id = u.org_id
        WHERE u.org_id = {org_id} AND (
            (u.email LIKE 'collector%' AND r.name = 'Bench collector')
            OR (u.email LIKE 'lead%' AND r.name = 'Bench team lead'))
        """,
        f"""
        INSERT INTO teams (org_id, name, lead_user_id, created_at)
        SELECT {org_id}, 'Team ' || g, u.id, now()
        FROM generate_series(1, {TEAMS}) g JOIN users u ON u.email = 'lead' || g || '@bench.example'
        """,
        # collectors 1..500 in the ten teams, 50 each (the leads in their own)
        f"""
        UPDATE users u SET team_id = t.id FROM teams t
        WHERE u.org_id = {org_id} AND t.org_id = {org_id} AND (
            (substring(u.email FROM '^collector([0-9]+)@')::int <= {TEAMS * TEAM_SIZE}
             AND t.name = 'Team ' || (1 + (substring(u.email FROM '^collector([0-9]+)@')::int - 1)
                / {TEAM_SIZE}))
            OR t.name = 'Team ' || substring(u.email FROM '^lead([0-9]+)@'))
        """,
        "SELECT setseed(0.2026)",
        f"""
        INSERT INTO debtors (org_id, name, id_number, id_number_bidx, mobile_bidx, id_number_masked,
            mobile_masked, data_hash, created_at, updated_at)
        SELECT {org_id},
            substr('{surnames}', 1 + (g * 7) % {len(surnames)}, 1)
                || substr('{given}', 1 + (g * 13) % {len(given)}, 1)
                || CASE WHEN g % 3 = 0 THEN '' ELSE substr('{given}', 1 + (g * 31) % {len(given)}, 1) END,
            'sealed', md5('id' || g), md5('m' || g), '4401**********' || lpad((g % 10000)::text, 4, '0'),
            '138****' || lpad((g % 10000)::text, 4, '0'), '', now(), now()
        FROM generate_series(1, {cases}) g
        """,
        f"""
        INSERT INTO cases (org_id, debtor_id, loan_no, product, due_date, principal, interest, penalty, fee,
            outstanding, currency, flags, status, province, city, region, tags, priority,
            next_action_on, promise_due_on, last_contact_at, extra, row_hash, created_at, updated_at)
        SELECT d.org_id, d.id, 'BK2026' || lpad(d.id::text, 8, '0'),
            (ARRAY['信用卡','经营贷','现金贷','车贷','消费贷'])[1 + d.id % 5],
            DATE '{BUSINESS_DATE}' - (random() * 720)::int,
            amount, round(amount * 0.08, 2), round(amount * 0.03, 2),
            (ARRAY[0, 0, 30, 50, 100])[1 + d.id % 5],
            amount, 'CNY', '{{}}',
            (ARRAY['active','active','active','new','paused'])[1 + (d.id / 7) % 5]::text,
            (ARRAY['广东省','浙江省','四川省','江苏省','陕西省'])[1 + d.id % 5], '', '', '[]',
            (ARRAY[0, 0, 0, 0, 1, 1, 2, 3])[1 + floor(random() * 8)::int],
            CASE WHEN random() < 0.4 THEN NULL ELSE DATE '{BUSINESS_DATE}' + (random() * 30 - 10)::int END,
            CASE WHEN random() < 0.8 THEN NULL ELSE DATE '{BUSINESS_DATE}' + (random() * 20 - 5)::int END,
            CASE WHEN random() < 0.3 THEN NULL
                ELSE (DATE '{BUSINESS_DATE}' + 1)::timestamptz - random() * interval '60 days' END,
            '{{}}', '', now(), now()
        FROM (SELECT d.*, round((100 + random() * random() * 200000)::numeric, 2) AS amount
              FROM debtors d WHERE d.org_id = {org_id}) d
        """,
        f"""
        INSERT INTO case_holders (case_id, org_id, agency_org_id, assignee_user_id, team_id, assigned_at)
        SELECT c.id, c.org_id, NULL, u.id, u.team_id, now()
        FROM cases c
        JOIN (SELECT id, team_id, row_number() OVER (ORDER BY id) - 1 AS n
              FROM users WHERE org_id = {org_id} AND email LIKE 'collector%') u
          ON u.n = c.debtor_id % {collectors}
        WHERE c.org_id = {org_id}
        """,
        "VACUUM ANALYZE users",
        "VACUUM ANALYZE teams",
        "VACUUM ANALYZE debtors",
        "VACUUM ANALYZE cases",
        "VACUUM ANALYZE case_holders",
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 / p95 / p99 in milliseconds (inclusive quantiles), and the count."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--collectors", type=int, default=5_000)
    parser.add_argument("--walks", type=int, default=8, help="collectors walked through all pages per sort")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of 100 list requests (cumulative time)"
    )
    parser.add_argument(
        "--phases", action="store_true", help="time the phases of a list request (sign-in, SQL, template)"
    )
    args = parser.parse_args()
    if args.collectors < TEAMS * TEAM_SIZE:
        raise SystemExit(f"--collectors must be at least {TEAMS * TEAM_SIZE}")

    with c.environment("arrears_bench_wblist") as env:
        with c.app_context(env.config):
            from arrears.auth.passwords import hash_password

            org_id = c.make_owner("bench-wblist")
            password_hash = hash_password(c.PASSWORD)
        start = time.perf_counter()
        seed(env, org_id, args.cases, args.collectors, password_hash)
        c.say(
            f"seeded {args.cases} cases over {args.collectors} collectors and {TEAMS} teams "
            f"in {time.perf_counter() - start:.1f} s"
        )
        # with Redis, as in production: the desk's honour roll is cached per organisation
        config = {**env.config, "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")}
        with c.app_context(config) as app:
            try:
                result = measure(app, org_id, args)
            finally:
                from arrears.kernel.jobs.queue import redis_connection

                conn = redis_connection()
                if conn is not None:
                    for key in conn.scan_iter(f"{config['REDIS_KEY_PREFIX']}:*"):
                        conn.delete(key)

    per_sort = result["per_sort"]
    for name, figures in per_sort.items():
        c.say(f"  {name:<28} {figures}")
    c.say(f"collector, all requests: {result['overall']}; SQL share of the p50: {result['sql_p50_ms']} ms")
    c.say(f"team lead's team view (10,000 cases): {result['lead']}")
    c.say(f"the desk (/workbench/): {result['desk']}; first, uncached: {result['desk_first_ms']} ms")
    c.say(f"baseline (bare SQL first page by the index): {result['baseline']}")
    value = result["overall"]["p95_ms"]
    baseline = result["baseline"]["p95_ms"]
    line = c.result_line(
        BENCH,
        value,
        baseline,
        TARGET,
        unit="ms",
        cases=args.cases,
        collectors=args.collectors,
        requests=result["overall"]["n"],
        p50_ms=result["overall"]["p50_ms"],
        p99_ms=result["overall"]["p99_ms"],
        lead_p95_ms=result["lead"]["p95_ms"],
        desk_p95_ms=result["desk"]["p95_ms"],
        desk_first_ms=result["desk_first_ms"],
        per_sort={k: v["p95_ms"] for k, v in per_sort.items()},
        code=c.code_version(),
    )
    print(line)


def phases(app: Any, walkers: list[Any], sorts: list[str]) -> None:
    """The median time a list request spends loading the signed-in user (flask-login's loader), in
    SQL statements (with the ORM's work around them: the rest of the view) and rendering."""
    import flask
    from sqlalchemy import event

    import agent_workbench.views as views
    from arrears.extensions import db
    from arrears.web import login

    spent: dict[str, float] = {}

    def timed_call(name: str, function: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*a, **kw)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    def before(conn: Any, *rest: Any) -> None:
        conn.info["phase_started"] = time.perf_counter()

    def after(conn: Any, *rest: Any) -> None:
        spent["sql"] = spent.get("sql", 0.0) + time.perf_counter() - conn.info.pop("phase_started")

    original_render, original_loader = views.render_template, login._load_user
    views.render_template = timed_call("template", flask.render_template)
    app.login_manager._user_callback = timed_call("sign-in", original_loader)
    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    rows: list[dict[str, float]] = []
    try:
        for client in walkers:
            for key in sorts:
                spent.clear()
                start = time.perf_counter()
                client.get(f"/workbench/cases?sort={key}")
                rows.append({**spent, "total": time.perf_counter() - start})
    finally:
        views.render_template = original_render
        app.login_manager._user_callback = original_loader
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    for name in ("total", "sign-in", "sql", "template"):
        values = [r.get(name, 0.0) for r in rows]
        c.say(f"  phase {name:<9} median {statistics.median(values) * 1000:6.2f} ms")
    if os.environ.get("BENCH_PROFILE_TEMPLATE"):
        import cProfile
        import pstats

        profiler = cProfile.Profile()

        def profiled(*a: Any, **kw: Any) -> Any:
            return profiler.runcall(flask.render_template, *a, **kw)

        def profiled_loader(*a: Any, **kw: Any) -> Any:
            return profiler.runcall(original_loader, *a, **kw)

        if os.environ["BENCH_PROFILE_TEMPLATE"] == "sign-in":
            app.login_manager._user_callback = profiled_loader
        else:
            views.render_template = profiled
        try:
            for client in walkers:
                client.get("/workbench/cases?sort=-dpd")
        finally:
            views.render_template = original_render
            app.login_manager._user_callback = original_loader
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def measure(app: Any, org_id: int, args: argparse.Namespace) -> dict[str, Any]:
    from flask.testing import FlaskClient
    from sqlalchemy import event, select, text

    from arrears.extensions import db
    from arrears.models import Team, User
    from arrears.tenancy import tenant

    class Client(FlaskClient):
        """Each request in its own application context, as under a real server."""

        def open(self, *a: Any, **kw: Any) -> Any:  # type: ignore[override]
            with self.application.app_context():
                return super().open(*a, **kw)

    app.test_client_class = Client
    from agent_workbench.views import SORTS as WORKBENCH_SORTS

    rng = random.Random(20261115)
    with tenant(org_id):
        collectors = list(
            db.session.execute(
                select(User.id, User.email).where(User.email.like("collector%")).order_by(User.id)
            )
        )
        leads = list(db.session.execute(select(User.id, User.email).join(Team, Team.lead_user_id == User.id)))
        db.session.rollback()

    sql_seconds: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sql_seconds.append(time.perf_counter() - conn.info.pop("bench_started"))

    def signed_in(email: str) -> Any:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = _CSRF.search(page)
        assert token, "no CSRF token on /login"
        done = client.post(
            "/login", data={"email": email, "password": c.PASSWORD, "csrf_token": token.group(1)}
        )
        if done.status_code != 302:
            raise SystemExit(f"login of {email} failed: {done.status_code}")
        return client

    def timed(client: Any, url: str) -> tuple[float, float, str]:
        del sql_seconds[:]
        start = time.perf_counter()
        response = client.get(url)
        seconds = time.perf_counter() - start
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")
        return seconds, sum(sql_seconds), response.get_data(as_text=True)

    def walk(client: Any, url: str, pages: int | None = None) -> tuple[list[float], list[float], int]:
        """Request the first page and follow the next-page links; the times and the rows seen."""
        times: list[float] = []
        sqls: list[float] = []
        seen = 0
        next_url: str | None = url
        while next_url and (pages is None or len(times) < pages):
            seconds, sql, html = timed(client, next_url)
            times.append(seconds)
            sqls.append(sql)
            seen += len(_ROW.findall(html))
            found = _NEXT.search(html)
            next_url = found.group(1).replace("&amp;", "&") if found else None
        return times, sqls, seen

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    scenarios = [(f"sort={key}", f"/workbench/cases?sort={key}") for key in WORKBENCH_SORTS]
    scenarios += [
        ("follow-up due, next_action", "/workbench/cases?due=1&sort=next_action"),
        ("bucket M4+, -amount", "/workbench/cases?bucket=M4%2B&sort=-amount"),
    ]
    per_sort: dict[str, dict[str, Any]] = {}
    everything: list[float] = []
    sql_all: list[float] = []
    walkers = [signed_in(email) for _, email in rng.sample(collectors, args.walks * 3)]
    for client in walkers[:3]:  # warm-up: templates compiled, pool filled, caches loaded
        walk(client, "/workbench/cases")
    for name, url in scenarios:
        times: list[float] = []
        for client in rng.sample(walkers, args.walks):
            t, s, seen = walk(client, url)
            if url == "/workbench/cases?sort=-dpd" and seen != args.cases // args.collectors:
                raise SystemExit(f"a collector saw {seen} cases, expected {args.cases // args.collectors}")
            times += t
            sql_all += s
        per_sort[name] = percentiles(times)
        everything += times
    overall = percentiles(everything)

    # a team lead's team view: the first two pages under three sorts
    lead_times: list[float] = []
    lead_clients = [signed_in(email) for _, email in leads]
    for key in ("-dpd", "next_action", "-priority"):
        for client in lead_clients:
            t, _, seen = walk(client, f"/workbench/cases?view=team&sort={key}", pages=2)
            if seen != 100:
                raise SystemExit(f"a team lead saw {seen} cases on two pages, expected 100")
            lead_times += t
    if args.phases:
        phases(app, walkers, list(WORKBENCH_SORTS))
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for client in walkers:
            for key in list(WORKBENCH_SORTS)[:4]:
                walk(client, f"/workbench/cases?sort={key}", pages=1)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        statements: list[str] = []

        def log(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            statements.append(" ".join(statement.split())[:300])

        event.listen(db.engine, "before_cursor_execute", log)
        walkers[0].get("/workbench/cases?sort=-dpd")
        event.remove(db.engine, "before_cursor_execute", log)
        c.say(f"statements of one list request ({len(statements)}):")
        for statement in statements:
            c.say("  " + statement)
    # the desk: the first request computes the organisation's honour roll, the others read it cached
    first_desk, _, _ = timed(walkers[0], "/workbench/")
    desk_times = [timed(client, "/workbench/")[0] for client in walkers]
    event.remove(db.engine, "before_cursor_execute", before)
    event.remove(db.engine, "after_cursor_execute", after)

    # the baseline: the bare first-page query, same pool, one tenant transaction each
    query = text(
        "SELECT c.* FROM case_holders h JOIN cases c ON c.id = h.case_id "
        "WHERE h.assignee_user_id = :u ORDER BY h.case_id LIMIT 50"
    )
    baseline: list[float] = []
    sample = [uid for uid, _ in rng.sample(collectors, min(len(collectors), len(everything)))]
    for uid in sample[:20]:  # warm-up
        with tenant(org_id):
            db.session.execute(query, {"u": uid}).all()
            db.session.rollback()
    for uid in sample:
        start = time.perf_counter()
        with tenant(org_id):
            rows = db.session.execute(query, {"u": uid}).all()
            db.session.rollback()
        baseline.append(time.perf_counter() - start)
        if len(rows) != 50:
            raise SystemExit(f"baseline: {len(rows)} rows for collector {uid}")
    return {
        "per_sort": per_sort,
        "overall": overall,
        "sql_p50_ms": round(statistics.median(sql_all) * 1000, 2),
        "lead": percentiles(lead_times),
        "desk": percentiles(desk_times),
        "desk_first_ms": round(first_desk * 1000, 2),
        "baseline": percentiles(baseline),
    }


if __name__ == "__main__":
    main()
