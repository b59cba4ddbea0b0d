"""The demo seed (idempotent, JSON as specified), its isolation, and the embedded SQLite default."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask

from tests.conftest import PII_INDEX_KEY, PII_KEY, Database, FreshContextClient, login

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_seed_demo_json_is_idempotent_and_isolated(
    app: Flask, database: Database, tmp_path: pathlib.Path
) -> None:
    env = {
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DATABASE_URL": database.app_url,
        "DATABASE_MIGRATION_URL": database.owner_url,
        "ARREARS_ENV": "testing",
        "SECRET_KEY": "x" * 32,
        "PII_KEYS": PII_KEY,
        "PII_INDEX_KEY": PII_INDEX_KEY,
    }
    first = _cli(["seed-demo", "--json"], env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert {(o["slug"], o["kind"]) for o in data["organisations"]} == {
        ("platform", "platform"),
        ("demo-bank", "asset_owner"),
        ("demo-lender", "asset_owner"),
        ("demo-agency-east", "agency"),
        ("demo-agency-west", "agency"),
    }
    roles = {u["role"] for u in data["users"]}
    assert roles == {
        "platform_operator",
        "owner_admin",
        "owner_staff",
        "agency_manager",
        "team_lead",
        "collector",
        "field_visitor",
    }
    assert all(set(u) == {"email", "password", "org", "role"} for u in data["users"])
    counts = {
        t: database.scalar(f"SELECT count(*) FROM {t}")
        for t in (
            "organisations",
            "users",
            "partnerships",
            "cases",
            "placements",
            "case_assignments",
            *WORK_TABLES,
        )
    }
    assert counts["cases"] == 600
    second = _cli(["seed-demo", "--json", "--password", "Other-Demo-Pass-1"], env)
    assert second.returncode == 0, second.stderr
    assert {t: database.scalar(f"SELECT count(*) FROM {t}") for t in counts} == counts
    assert all(u["password"] == "Other-Demo-Pass-1" for u in json.loads(second.stdout)["users"])
    # east serves both owners, west only demo-bank
    pairs = {
        tuple(r)
        for r in database.rows(
            "SELECT o.slug, a.slug FROM partnerships p JOIN organisations o ON o.id = p.org_id "
            "JOIN organisations a ON a.id = p.agency_org_id"
        )
    }
    assert pairs == {
        ("demo-bank", "demo-agency-east"),
        ("demo-lender", "demo-agency-east"),
        ("demo-bank", "demo-agency-west"),
    }
    # active placements with both agencies (west only from demo-bank), cases dispatched to collectors,
    # a pool left, a few bank cases worked in-house
    held = {
        (r[0], r[1]): (r[2], r[3])
        for r in database.rows(
            "SELECT o.slug, a.slug, count(*), count(h.assignee_user_id) FROM cases c "
            "LEFT JOIN case_holders h ON h.case_id = c.id "
            "JOIN organisations o ON o.id = c.org_id JOIN organisations a ON a.id = c.agency_org_id "
            "GROUP BY 1, 2"
        )
    }
    assert set(held) == {
        ("demo-bank", "demo-agency-east"),
        ("demo-bank", "demo-agency-west"),
        ("demo-lender", "demo-agency-east"),
    }
    # one case per owner was paid off by the demo's repayments: it closed and left its placement
    assert sum(n for n, _ in held.values()) == 240 + 150 - 2
    assert all(0 < assigned < n for n, assigned in held.values()), held
    placements = database.rows("SELECT status, count(*) FROM placements GROUP BY 1")
    assert [tuple(r) for r in placements] == [("active", 3)]
    assert (
        database.scalar(
            "SELECT count(*) FROM cases c JOIN case_holders h ON h.case_id = c.id "
            "JOIN users u ON u.id = h.assignee_user_id "
            "WHERE c.agency_org_id IS NULL AND u.org_id = c.org_id"
        )
        == 20
    )
    _assert_demo_work(database)
    # every printed login works
    for user in json.loads(second.stdout)["users"]:
        assert login(app.test_client(), user["email"], user["password"]).status_code == 302, user["email"]
    # a token of demo-lender's admin gets 404 for every demo-bank object id
    token = json.loads(
        _cli(["tokens", "create", "--email", "admin@demo-lender.example", "--json"], env).stdout
    )["token"]
    c = app.test_client()
    bank_user_ids = [
        r[0]
        for r in database.rows(
            "SELECT u.id FROM users u JOIN organisations o ON o.id = u.org_id WHERE o.slug = 'demo-bank'"
        )
    ]
    assert bank_user_ids
    for uid in bank_user_ids:
        response = c.get(f"/api/v1/users/{uid}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 404 and response.is_json
    _assert_demo_commission(app, database, env)


def _assert_demo_commission(app: Flask, database: Database, env: dict[str, str]) -> None:
    """demo-bank's contract per partner agency, last month's payments collected by the agencies, and
    last month settled (demo/commission.py): east's statement approved and paid, which east
    reads through the API, west's a draft; the lender sees none of it."""
    from arrears.commission.commission import previous_period
    from arrears.demo.commission import PAYMENTS, RATES

    period = previous_period()
    contracts = database.rows(
        "SELECT a.slug, c.kind, v.rates FROM commission_contracts c "
        "JOIN organisations o ON o.id = c.org_id JOIN organisations a ON a.id = c.agency_org_id "
        "JOIN commission_versions v ON v.contract_id = c.id WHERE o.slug = 'demo-bank' ORDER BY 1"
    )
    assert [(r[0], r[1]) for r in contracts] == [
        ("demo-agency-east", "agency"),
        ("demo-agency-west", "agency"),
    ]
    assert all(
        {b: Decimal(v) for b, v in r[2].items()} == {b: Decimal(v) for b, v in RATES.items()}
        for r in contracts
    )
    assert (
        database.scalar(
            "SELECT count(*) FROM commission_versions WHERE min_amount IS NOT NULL AND tiers::text <> '[]'"
        )
        == 2
    )
    records = dict(
        database.rows(
            "SELECT a.slug, count(*) FROM commission_records r "
            "JOIN organisations a ON a.id = r.agency_org_id "
            "JOIN commission_statements s ON s.id = r.statement_id WHERE s.period = :p GROUP BY 1",
            p=period,
        )
    )
    assert records == PAYMENTS
    statements = {
        r[0]: (r[1], r[2], r[3])
        for r in database.rows(
            "SELECT a.slug, s.status, s.net, s.paid_reference FROM commission_statements s "
            "JOIN organisations a ON a.id = s.agency_org_id WHERE s.period = :p",
            p=period,
        )
    }
    assert statements["demo-agency-east"][0] == "paid" and statements["demo-agency-east"][2]
    assert statements["demo-agency-west"][0] == "draft"
    assert all(net >= Decimal("500.00") for _s, net, _r in statements.values())  # the minimum
    c = app.test_client()
    for email, seen in (
        ("manager@demo-agency-east.example", ["paid"]),
        ("admin@demo-lender.example", []),
    ):
        token = json.loads(_cli(["tokens", "create", "--email", email, "--json"], env).stdout)["token"]
        answer = c.get(
            f"/api/v1/commission/statements?period={period}", headers={"Authorization": f"Bearer {token}"}
        ).get_json()
        assert [s["status"] for s in answer["items"]] == seen, email


# The demo's collection work (demo/work.py): per person holding cases (collectors and team
# leads: east 3 for each owner, west 2 for demo-bank), promises taken earlier (2 due today, 1 later,
# 2 kept, 1 partly kept, 2 broken last week) and one made today; per owner and agency, applications
# waiting at each level (a reduction and a repayment each); one approved reduction per owner.
WORK_TABLES = (
    "collection_notes",
    "promises",
    "reminders",
    "applications",
    "calls",
    "letter_templates",
    "letters",
)
WORKERS = 3 + 3 + 2
PAIRS = 3  # (owner, agency) pairs with placed cases
PROMISES = {"pending": WORKERS * 4, "kept": WORKERS * 2, "partly_kept": WORKERS, "broken": WORKERS * 2}
PENDING_BY_LEVEL = {
    (kind, level): PAIRS for kind in ("reduction", "repayment") for level in ("team", "org", "owner")
}
TODAY = "(now() AT TIME ZONE 'Asia/Shanghai')::date"


def _assert_demo_work(database: Database) -> None:
    """What a demo collector finds on first login, checked in the database (as the owner role)."""
    # notes: most of each person's cases have a few, over the last four weeks, with varied results
    assert database.scalar("SELECT count(*) FROM collection_notes") > 400
    codes = {r[0] for r in database.rows("SELECT DISTINCT result_code FROM collection_notes")}
    assert {"no_answer", "callback", "refused", "promise_to_pay", "hardship", "letter_sent"} <= codes
    assert len(codes) >= 10
    span = database.rows(
        "SELECT min(created_at), max(created_at), count(DISTINCT created_at::date) FROM collection_notes"
    )[0]
    assert span[1] <= database.scalar("SELECT now()") and (span[1] - span[0]).days >= 20 and span[2] >= 15
    authors = {
        r[0]
        for r in database.rows(
            "SELECT DISTINCT u.email FROM collection_notes n JOIN users u ON u.id = n.author_user_id"
        )
    }
    assert authors == {
        "lead@demo-agency-east.example",
        "collector1@demo-agency-east.example",
        "collector2@demo-agency-east.example",
        "lead@demo-agency-west.example",
        "collector1@demo-agency-west.example",
    }
    # the cases' sort keys follow: last contact from the notes, promise dates from pending promises
    assert (
        database.scalar(
            "SELECT count(*) FROM cases c WHERE c.last_contact_at IS DISTINCT FROM (SELECT max(n.created_at) "
            "FROM collection_notes n WHERE n.case_id = c.id AND n.contacted)"
        )
        == 0
    )
    assert (
        database.scalar(
            "SELECT count(*) FROM cases c WHERE c.promise_due_on IS DISTINCT FROM (SELECT min(p.due_on) "
            "FROM promises p WHERE p.case_id = c.id AND p.status = 'pending')"
        )
        == 0
    )
    # promises by status; the broken ones fell due last week; each person has some due today
    by_status = dict(database.rows("SELECT status, count(*) FROM promises GROUP BY 1"))
    assert by_status == PROMISES
    assert (
        database.scalar(
            "SELECT count(*) FROM promises "
            f"WHERE status = 'broken' AND due_on BETWEEN {TODAY} - 6 AND {TODAY} - 1"
        )
        == PROMISES["broken"]
    )
    # the kept and partly kept promises were paid by repayments from the core system, applied to
    # the loans and credited to the collector holding the case; the broken ones got nothing
    assert (
        database.scalar(
            "SELECT count(*) FROM promises p WHERE status IN ('kept', 'partly_kept') AND EXISTS "
            "(SELECT 1 FROM repayments r WHERE r.promise_id = p.id AND r.status = 'confirmed' "
            "AND r.collector_user_id = p.collector_user_id AND r.agency_org_id = p.agency_org_id)"
        )
        == PROMISES["kept"] + PROMISES["partly_kept"]
    )
    assert (
        database.scalar(
            "SELECT count(*) FROM promises p WHERE status = 'broken' AND paid_amount = 0 "
            "AND NOT EXISTS (SELECT 1 FROM repayments r WHERE r.promise_id = p.id)"
        )
        == PROMISES["broken"]
    )
    _assert_demo_repayments(database)
    due_today = dict(
        database.rows(
            "SELECT u.email, count(*) FROM promises p JOIN users u ON u.id = p.collector_user_id "
            f"WHERE p.status = 'pending' AND p.due_on = {TODAY} GROUP BY 1"
        )
    )
    assert set(due_today) == authors and sum(due_today.values()) == WORKERS * 2
    # reminders due today for everybody: follow-ups, promises due and broken
    reminders = dict(
        database.rows(f"SELECT kind, count(*) FROM reminders WHERE NOT done AND due_on = {TODAY} GROUP BY 1")
    )
    assert reminders["follow_up"] == WORKERS * 2
    assert reminders["promise_broken"] == PROMISES["broken"]
    assert reminders["promise_due"] == WORKERS * 2
    # applications waiting at the team lead, the agency's manager and the owner; one approved
    # reduction per owner, taken off its case
    pending = {
        (r[0], r[1]): r[2]
        for r in database.rows(
            "SELECT ap.kind, a.stage, count(*) FROM applications ap "
            "JOIN approvals a ON a.id = ap.approval_id "
            "WHERE ap.status = 'pending' AND a.status = 'pending' GROUP BY 1, 2"
        )
    }
    assert pending == PENDING_BY_LEVEL
    assert (
        database.scalar(
            "SELECT count(*) FROM approvals a JOIN organisations o ON o.id = a.org_id "
            "WHERE a.stage = 'owner' AND a.status = 'pending' AND o.kind = 'asset_owner'"
        )
        == 2 * PAIRS
    )
    approved = database.rows(
        "SELECT ap.kind, ap.amount, c.id FROM applications ap JOIN cases c ON c.id = ap.case_id "
        "WHERE ap.status = 'approved'"
    )
    assert len(approved) == 2 and all(r[0] == "reduction" for r in approved)
    assert database.scalar("SELECT count(*) FROM case_events WHERE kind = 'reduced'") == 2
    # calls: through the sandbox call centre and logged by hand, each with its note
    calls = dict(database.rows("SELECT provider, count(*) FROM calls GROUP BY 1"))
    assert calls == {"sandbox": WORKERS, "manual": WORKERS * 2}
    assert (
        database.scalar(
            "SELECT count(*) FROM calls c WHERE NOT EXISTS "
            "(SELECT 1 FROM collection_notes n WHERE n.call_id = c.id)"
        )
        == 0
    )
    # a letter template per owner, and a letter made from it on one case of each owner
    assert database.scalar("SELECT count(*) FROM letter_templates WHERE active") == 2
    assert (
        database.scalar(
            "SELECT count(DISTINCT l.org_id) FROM letters l JOIN attachments a ON a.id = l.attachment_id "
            "WHERE a.content_type = 'application/pdf'"
        )
        == 2
    )
    # every person with cases belongs to a team with a lead
    assert (
        database.scalar(
            "SELECT count(*) FROM users u JOIN teams t ON t.id = u.team_id "
            "WHERE u.email LIKE 'collector%' AND t.lead_user_id IS NULL"
        )
        == 0
    )


def _assert_demo_repayments(database: Database) -> None:
    """Per owner: the promises' payments, three part payments, one paying a loan off (closed, its
    placement ended, 50.00 of credit) and a bounced one, reversed; the ledger agrees with the loans."""
    from arrears.demo.commission import PAYMENTS

    by_status = dict(database.rows("SELECT status, count(*) FROM repayments GROUP BY 1"))
    assert by_status.get("reversed") == 2
    # and demo-bank's payment recovered after a write-off (demo.writeoffs)
    # and demo-bank's agencies' payments of last month (demo.commission)
    assert by_status["confirmed"] == PROMISES["kept"] + PROMISES["partly_kept"] + 2 * 4 + 1 + sum(
        PAYMENTS.values()
    )
    assert [tuple(r) for r in database.rows("SELECT status, recovered > 0 FROM write_offs")] == [
        ("registered", True)
    ]
    assert database.scalar("SELECT count(*) FROM write_off_proposals WHERE status = 'pending'") == 1
    assert database.scalar("SELECT count(*) FROM write_off_rules") == 1
    assert database.scalar("SELECT count(*) FROM cases WHERE status = 'closed' AND credit = 50.00") == 2
    assert (
        database.scalar(
            "SELECT count(*) FROM placement_cases pc JOIN cases c ON c.id = pc.case_id "
            "WHERE c.status = 'closed' AND pc.status = 'ended' AND pc.close_reason = 'paid off'"
        )
        == 2
    )
    # per loan, the postings sum to the balances; per payment, to its amount
    assert (
        database.scalar(
            "SELECT count(*) FROM cases c JOIN (SELECT case_id, sum(principal) p, sum(interest) i, "
            "sum(penalty) pe, sum(fee) f, sum(credit) cr FROM ledger_postings GROUP BY case_id) l "
            "ON l.case_id = c.id WHERE (l.p, l.i, l.pe, l.f, l.cr) "
            "IS DISTINCT FROM (c.principal, c.interest, c.penalty, c.fee, c.credit)"
        )
        == 0
    )
    assert (
        database.scalar(
            "SELECT count(*) FROM repayments r WHERE r.status = 'confirmed' AND r.amount <> (SELECT "
            "sum(-principal - interest - penalty - fee + credit) FROM ledger_postings p "
            "WHERE p.repayment_id = r.id)"
        )
        == 0
    )


@pytest.fixture
def sqlite_app(tmp_path: pathlib.Path) -> Iterator[Flask]:
    from flask_migrate import upgrade

    from arrears.app import create_app
    from arrears.extensions import db

    application = create_app(
        {
            "ARREARS_ENV": "testing",
            "SECRET_KEY": "x" * 32,
            "REDIS_URL": "",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'arrears.db'}",
            "DATABASE_MIGRATION_URL": "",
            "BABEL_DEFAULT_LOCALE": "en",
            "MEDIA_ROOT": str(tmp_path / "media"),
        }
    )
    application.test_client_class = FreshContextClient
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def test_embedded_sqlite_default_keeps_tenants_apart(sqlite_app: Flask) -> None:
    """On SQLite walls 1 and 2 hold: the same 404 for foreign and missing objects."""
    from arrears.auth.sessions import get_user_by_email
    from arrears.demo.seed import DEFAULT_PASSWORD, seed

    seed()
    c = sqlite_app.test_client()
    assert login(c, "admin@demo-lender.example", DEFAULT_PASSWORD).status_code == 302
    bank_admin = get_user_by_email("admin@demo-bank.example")
    assert c.get(f"/asset/users/{bank_admin.id}").status_code == 404
    assert c.get("/asset/users/99999").status_code == 404
    page = c.get("/asset/users").get_data(as_text=True)
    assert "admin@demo-lender.example" in page and "admin@demo-bank.example" not in page
    # jobs run inline and the console says so
    jobs = c.get("/asset/jobs").get_data(as_text=True)
    assert "background jobs run inline" in jobs
    # the demo's collection work is seeded on SQLite too
    from sqlalchemy import func, select

    from arrears.extensions import db
    from arrears.models import Application, ApplicationStatus, Letter, Promise
    from arrears.tenancy import cross_tenant

    with cross_tenant("the test counts the demo's work"):
        rows = db.session.execute(select(Promise.status, func.count()).group_by(Promise.status)).all()
        assert {status.value: n for status, n in rows} == PROMISES
        pending = db.session.scalar(
            select(func.count()).where(Application.status == ApplicationStatus.PENDING)
        )
        assert pending == sum(PENDING_BY_LEVEL.values())
        assert db.session.scalar(select(func.count()).select_from(Letter)) == 2
        # last month's commission settled on SQLite too: east's statement paid, west's a draft
        from arrears.commission.commission import previous_period
        from arrears.models import CommissionStatement

        settled = db.session.execute(
            select(CommissionStatement.status, CommissionStatement.record_count).where(
                CommissionStatement.period == previous_period()
            )
        ).all()
        assert sorted(status.value for status, _n in settled) == ["draft", "paid"]
        assert all(n > 0 for _s, n in settled)
    # a demo collector's workbench is alive
    collector = sqlite_app.test_client()
    assert login(collector, "collector1@demo-agency-east.example", DEFAULT_PASSWORD).status_code == 302
    home = collector.get("/workbench/").get_data(as_text=True)
    assert "Promises due today" in home and "Honour roll" in home
