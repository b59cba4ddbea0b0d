"""The repayment pages against PostgreSQL, through HTTP: the owner's records (filters, keyset pages,
the per-component split, the export), the audit of collectors' reports (confirm applies one, match
links one to the core record, reject needs a note), the reversal (a reason is needed; the balances
come back), a payment entered by hand on the case page, the ledger tab, the reductions with their
waiver postings, the allocation order; the agency sees only what is credited to it, a collector only
their own; another tenant's ids and missing ones answer 404; the desk's figures and the honour roll
come from the applied repayments credited to the collector."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from arrears.cases.cases import business_date
from arrears.extensions import db
from arrears.models import Organisation, Repayment, User
from arrears.payments import repayments
from arrears.tenancy import tenant
from arrears.work import applications, notes
from tests.builders.payments import pay
from tests.builders.tenants import World, build_world
from tests.builders.work import Cases, work_cases
from tests.conftest import Database, csrf_token, signed_in

PDF = b"%PDF-1.4\n% a receipt\n"
MISSING = 10**9


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _today(world: World) -> dt.date:
    with tenant(world.bank.org_id):
        return business_date(db.session.get(Organisation, world.bank.org_id))


def report(world: World, case_id: int, amount: str, files: list[tuple[str, bytes]] | None = None) -> int:
    """A collector's repayment report approved by the team lead: it waits for the owner's audit."""
    with tenant(world.east.org_id):
        made = applications.request_repayment(
            _user(world.east.users["collector"]),
            case_id,
            amount=amount,
            paid_on=_today(world),
            channel="cash",
            reason="paid at the branch",
            files=files or [],
        )
        applications.decide(_user(world.east.users["team_lead"]), made, approve=True)
        application_id = made.id
    with tenant(world.bank.org_id):
        found = db.session.scalar(select(Repayment).where(Repayment.application_id == application_id))
        assert found is not None and found.status.value == "pending_audit"
        return found.id


@dataclass
class Money:
    cases: Cases
    ids: dict[str, int]  # transaction id -> repayment id


@pytest.fixture
def money(app: Flask, world: World) -> Money:
    """Three core payments: 500 on the collector's case, 300 on Bob's, 200 on the owner's own case."""
    cases = work_cases(world)
    ids = pay(
        world, [("T-TEAM", "APP-0", "500.00"), ("T-LOOSE", "APP-1", "300.00"), ("T-IN", "APP-2", "200.00")]
    )
    return Money(cases, ids)


def _post(c: FlaskClient, url: str, csrf: str, data: dict[str, Any] | None = None) -> Any:
    return c.post(url, data={"csrf_token": csrf, **(data or {})})


def rows(html: str) -> list[int]:
    """The repayments a list shows, by id."""
    return [int(x) for x in re.findall(r'data-repayment="(\d+)"', html)]


def case_row(database: Database, case_id: int) -> tuple[Decimal, ...]:
    return tuple(
        database.rows(
            "SELECT penalty, fee, interest, principal, outstanding FROM cases WHERE id = :i", i=case_id
        )[0]
    )


# --- the owner's records ------------------------------------------------------------------------------------


def test_the_owner_sees_and_filters_the_records(app: Flask, world: World, money: Money) -> None:
    owner = signed_in(app, world.bank.admin_email)
    ids = money.ids
    page = owner.get("/asset/repayments")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert sorted(rows(html)) == sorted(ids.values())
    assert "APP-0" in html and "Org east" in html and "collector of east" in html
    # the split: 500 took the penalty (800 → 300)
    row = html[html.index(f'data-repayment="{ids["T-TEAM"]}"') :]
    assert re.search(r"Penalty 500\.00", row[: row.index("</tr>")])
    assert f'href="/asset/cases/{money.cases.team}"' in html
    assert 'href="/asset/repayments/export' in html

    def shown(query: str) -> set[int]:
        r = owner.get(f"/asset/repayments?{query}")
        assert r.status_code == 200, query
        return set(rows(r.get_data(as_text=True)))

    assert shown("loan_no=APP-2") == {ids["T-IN"]}
    assert shown("transaction_id=T-LOOSE") == {ids["T-LOOSE"]}
    assert shown(f"agency_id={world.east.org_id}") == {ids["T-TEAM"], ids["T-LOOSE"]}
    assert shown("status=confirmed&source=api") == set(ids.values())
    assert shown("source=manual") == set()
    today = _today(world)
    assert shown(f"paid_from={today.isoformat()}&paid_to={today.isoformat()}") == set(ids.values())
    assert shown(f"paid_from={(today + dt.timedelta(days=1)).isoformat()}") == set()
    # nonsense filters are left out, never an error
    assert shown("status=bogus&source=x&agency_id=abc&paid_from=notadate") == set(ids.values())

    # keyset pages: newest payment first, two a page
    app.config["WORK_PAGE_SIZE"] = 2
    first = owner.get("/asset/repayments").get_data(as_text=True)
    assert len(rows(first)) == 2
    next_url = re.search(r'href="([^"]+)" rel="next"', first)
    assert next_url is not None
    second = owner.get(next_url.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert len(rows(second)) == 1 and not set(rows(first)) & set(rows(second))
    assert 'rel="next"' not in second

    # one record: its postings and a link to the case
    detail = owner.get(f"/asset/repayments/{ids['T-TEAM']}").get_data(as_text=True)
    assert 'id="postings"' in detail and 'data-kind="payment"' in detail and "T-TEAM" in detail
    assert 'id="reversal-form"' in detail


def test_the_export_is_a_spreadsheet_and_audited(
    app: Flask, world: World, money: Money, database: Database
) -> None:
    owner = signed_in(app, world.bank.admin_email)
    r = owner.get(f"/asset/repayments/export?agency_id={world.east.org_id}")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][:4] == ("Record", "Transaction id", "Loan number", "Amount")
    body = {row[1]: row for row in table[1:]}
    assert set(body) == {"T-TEAM", "T-LOOSE"}
    assert body["T-TEAM"][3] == 500 and body["T-TEAM"][10] == 500  # the amount; the penalty it took
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'repayments.exported'") == 1
    # staff without the export right see no export, and are refused it
    staff = signed_in(app, world.bank.emails["owner_staff"])
    assert "/asset/repayments/export" not in staff.get("/asset/repayments").get_data(as_text=True)
    assert staff.get("/asset/repayments/export").status_code == 403


def test_a_large_export_runs_as_a_job(eager_app: Flask) -> None:
    world = build_world()
    work_cases(world)
    pay(world, [("T-A", "APP-0", "10.00"), ("T-B", "APP-1", "20.00")])
    eager_app.config["EXPORT_INLINE_MAX"] = 1
    owner = signed_in(eager_app, world.bank.admin_email)
    r = owner.get("/asset/repayments/export")
    assert r.status_code == 302 and "/asset/jobs/" in r.headers["Location"]
    job = owner.get(r.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="(/asset/exports/[^"]+/download)"', job)
    assert link is not None, job[:3000]
    download = owner.get(link.group(1))
    assert download.status_code == 200 and "repayments.xlsx" in download.headers["Content-Disposition"]
    table = list(openpyxl.load_workbook(io.BytesIO(download.data)).active.iter_rows(values_only=True))
    assert sorted(row[1] for row in table[1:]) == ["T-A", "T-B"]


# --- the audit of collectors' reports ----------------------------------------------------------------------


def test_the_owner_audits_reports_confirm_match_reject(
    app: Flask, world: World, money: Money, database: Database
) -> None:
    cases, ids = money.cases, money.ids
    first = report(world, cases.team, "120.00", files=[("receipt.pdf", PDF)])
    second = report(world, cases.team, "130.00")
    third = report(world, cases.other, "140.00")
    owner = signed_in(app, world.bank.admin_email)
    csrf = csrf_token(owner, "/asset/repayments/audit")
    queue = owner.get("/asset/repayments/audit").get_data(as_text=True)
    assert rows(queue) == [first, second, third]  # oldest first
    assert 'id="waiting">3<' in queue
    assert "receipt.pdf" in queue and "/asset/applications/" in queue
    # the core record of the same case is offered to match the reports of that case
    block = queue[queue.index(f'data-repayment="{second}"') : queue.index(f'data-repayment="{third}"')]
    assert f'value="{ids["T-TEAM"]}"' in block
    assert 'data-badge="asset_console.repayment_audit">3<' in queue

    before = case_row(database, cases.team)
    r = _post(owner, f"/asset/repayments/{first}/audit", csrf, {"confirm": "1", "back": "queue"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/asset/repayments/audit")
    assert database.scalar("SELECT status FROM repayments WHERE id = :i", i=first) == "confirmed"
    after = case_row(database, cases.team)
    assert after[0] == before[0] - Decimal("120.00") and after[4] == before[4] - Decimal("120.00")

    r = _post(owner, f"/asset/repayments/{second}/audit", csrf, {"match": "1", "core_id": str(ids["T-TEAM"])})
    assert r.status_code == 302
    assert database.rows("SELECT status, matched_id FROM repayments WHERE id = :i", i=second)[0] == (
        "matched",
        ids["T-TEAM"],
    )
    assert case_row(database, cases.team) == after  # matching moves no money
    detail = owner.get(f"/asset/repayments/{second}").get_data(as_text=True)
    assert 'id="matched"' in detail and "T-TEAM" in detail

    # a match to a record of another case is refused, naming the field
    r = _post(owner, f"/asset/repayments/{third}/audit", csrf, {"match": "1", "core_id": str(ids["T-LOOSE"])})
    assert r.status_code == 422 and "No applied core record of this case" in r.get_data(as_text=True)
    # rejecting needs a note
    r = _post(owner, f"/asset/repayments/{third}/audit", csrf, {"reject": "1", "note": "  "})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Say why." in html
    assert database.scalar("SELECT status FROM repayments WHERE id = :i", i=third) == "pending_audit"
    r = _post(owner, f"/asset/repayments/{third}/audit", csrf, {"reject": "1", "note": "no such payment"})
    assert r.status_code == 302
    assert database.rows("SELECT status, note FROM repayments WHERE id = :i", i=third)[0] == (
        "rejected",
        "no such payment",
    )
    # audited already: a conflict, nothing changes
    r = _post(owner, f"/asset/repayments/{third}/audit", csrf, {"confirm": "1"})
    assert r.status_code == 409
    assert "No report is waiting for your audit." in owner.get("/asset/repayments/audit").get_data(
        as_text=True
    )
    assert {
        a for (a,) in database.rows("SELECT action FROM audit_events WHERE action LIKE 'repayment.%'")
    } >= {"repayment.confirmed", "repayment.matched", "repayment.rejected"}

    # staff may read the records but not audit
    staff = signed_in(app, world.bank.emails["owner_staff"])
    assert staff.get("/asset/repayments/audit").status_code == 403
    assert (
        _post(
            staff, f"/asset/repayments/{first}/audit", csrf_token(staff, "/asset/repayments"), {}
        ).status_code
        == 403
    )


def test_the_owner_reverses_a_payment_with_a_reason(
    app: Flask, world: World, money: Money, database: Database
) -> None:
    cases, ids = money.cases, money.ids
    owner = signed_in(app, world.bank.admin_email)
    csrf = csrf_token(owner, f"/asset/repayments/{ids['T-LOOSE']}")
    paid = case_row(database, cases.loose)
    assert paid[0] == Decimal("500.00")  # 800 - 300
    r = _post(owner, f"/asset/repayments/{ids['T-LOOSE']}/reversal", csrf, {"reason": ""})
    assert r.status_code == 422 and "Say why the payment is reversed." in r.get_data(as_text=True)
    assert case_row(database, cases.loose) == paid
    r = _post(owner, f"/asset/repayments/{ids['T-LOOSE']}/reversal", csrf, {"reason": "bounced"})
    assert r.status_code == 302
    assert database.rows("SELECT status, note FROM repayments WHERE id = :i", i=ids["T-LOOSE"])[0] == (
        "reversed",
        "bounced",
    )
    assert case_row(database, cases.loose)[0] == Decimal("800.00")
    detail = owner.get(f"/asset/repayments/{ids['T-LOOSE']}").get_data(as_text=True)
    assert 'data-kind="reversal"' in detail and 'id="reversal-form"' not in detail
    assert set(rows(owner.get("/asset/repayments?status=reversed").get_data(as_text=True))) == {
        ids["T-LOOSE"]
    }


# --- the case page: manual entry, repayments and ledger tabs; the settings -------------------------------


def test_a_payment_entered_by_hand_and_the_case_tabs(
    app: Flask, world: World, money: Money, database: Database
) -> None:
    cases = money.cases
    owner = signed_in(app, world.bank.admin_email)
    csrf = csrf_token(owner, f"/asset/cases/{cases.inhouse}")
    page = owner.get(f"/asset/cases/{cases.inhouse}").get_data(as_text=True)
    assert 'id="tab-repayments"' in page and 'id="tab-ledger"' in page and 'id="manual-form"' in page
    assert rows(page) == [money.ids["T-IN"]]
    assert 'data-kind="opening"' in page and 'data-kind="payment"' in page
    before = case_row(database, cases.inhouse)
    url = f"/asset/cases/{cases.inhouse}/repayments"
    paid_at = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    r = _post(owner, url, csrf, {"amount": "-5", "paid_at": paid_at.isoformat()})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "more than zero" in html and 'id="manual-form"' in html
    assert database.scalar("SELECT count(*) FROM repayments WHERE source = 'manual'") == 0
    r = _post(owner, url, csrf, {"amount": "50.00", "paid_at": paid_at.isoformat(), "reference": "BR-7"})
    assert r.status_code == 302 and r.headers["Location"].endswith(
        f"/asset/cases/{cases.inhouse}?tab=repayments"
    )
    assert case_row(database, cases.inhouse)[4] == before[4] - Decimal("50.00")
    # the same reference again is refused
    r = _post(owner, url, csrf, {"amount": "50.00", "paid_at": paid_at.isoformat(), "reference": "BR-7"})
    assert r.status_code == 409
    page = owner.get(f"/asset/cases/{cases.inhouse}?tab=repayments").get_data(as_text=True)
    assert "BR-7" in page and 'class="tab-pane fade show active" id="work-repayments"' in page
    # staff may not enter payments: no form, and the route refuses
    staff = signed_in(app, world.bank.emails["owner_staff"])
    assert 'id="manual-form"' not in staff.get(f"/asset/cases/{cases.inhouse}").get_data(as_text=True)
    assert _post(staff, url, csrf_token(staff, "/asset/repayments"), {"amount": "1"}).status_code == 403


def test_the_allocation_order_setting(app: Flask, world: World, money: Money, database: Database) -> None:
    owner = signed_in(app, world.bank.admin_email)
    csrf = csrf_token(owner, "/asset/settings/repayment-order")
    page = owner.get("/asset/settings/repayment-order").get_data(as_text=True)
    assert "Penalty → Fees → Interest → Principal" in page
    order = {"first": "principal", "second": "interest", "third": "fee", "fourth": "penalty"}
    r = _post(owner, "/asset/settings/repayment-order", csrf, {**order, "fourth": "principal"})
    assert r.status_code == 422 and "Name each of penalty" in r.get_data(as_text=True)
    r = _post(owner, "/asset/settings/repayment-order", csrf, order)
    assert r.status_code == 302
    assert "Principal → Interest → Fees → Penalty" in owner.get("/asset/settings/repayment-order").get_data(
        as_text=True
    )
    # the next payment takes the principal first
    pay(world, [("T-P", "APP-3", "10.00")])
    assert case_row(database, money.cases.other)[3] == Decimal("9990.00")
    staff = signed_in(app, world.bank.emails["owner_staff"])
    assert staff.get("/asset/settings/repayment-order").status_code == 403


def test_the_reductions_with_their_waiver_postings(app: Flask, world: World, money: Money) -> None:
    cases = money.cases
    with tenant(world.east.org_id):
        made = applications.request_reduction(
            _user(world.east.users["collector"]), cases.team, waive_penalty="100", reason="hardship"
        )
        applications.decide(_user(world.east.users["team_lead"]), made, approve=True)
        waiting = applications.request_reduction(
            _user(world.east.users["collector"]), cases.other, waive_fee="10", reason="x"
        )
        made_id, waiting_id = made.id, waiting.id
    owner = signed_in(app, world.bank.admin_email)
    html = owner.get("/asset/reductions").get_data(as_text=True)
    assert f'data-application="{made_id}"' in html and f'data-application="{waiting_id}"' in html
    row = html[html.index(f'data-application="{made_id}"') :]
    row = row[: row.index("</tr>")]
    assert re.search(r"data-waived>Penalty 100\.00", row)
    approved = owner.get("/asset/reductions?status=approved").get_data(as_text=True)
    assert f'data-application="{made_id}"' in approved and f'data-application="{waiting_id}"' not in approved
    ledger = owner.get(f"/asset/cases/{cases.team}").get_data(as_text=True)
    assert 'data-kind="waiver"' in ledger


# --- the agency and the collector: only their own -----------------------------------------------------------


def test_the_agency_sees_only_what_is_credited_to_it(app: Flask, world: World, money: Money) -> None:
    ids, cases = money.ids, money.cases
    east = signed_in(app, world.east.admin_email)
    html = east.get("/agency/repayments").get_data(as_text=True)
    assert set(rows(html)) == {ids["T-TEAM"], ids["T-LOOSE"]}
    assert f'href="/agency/cases/{cases.team}"' in html
    assert set(rows(east.get("/agency/repayments?loan_no=APP-2").get_data(as_text=True))) == set()
    assert set(rows(east.get("/agency/repayments?transaction_id=T-TEAM").get_data(as_text=True))) == {
        ids["T-TEAM"]
    }
    case = east.get(f"/agency/cases/{cases.team}?tab=repayments").get_data(as_text=True)
    assert rows(case) == [ids["T-TEAM"]] and 'id="tab-ledger"' not in case
    # the other agency and the other owner see nothing of it
    west = signed_in(app, world.west.admin_email)
    assert rows(west.get("/agency/repayments").get_data(as_text=True)) == []
    lender = signed_in(app, world.lender.admin_email)
    assert rows(lender.get("/asset/repayments").get_data(as_text=True)) == []
    # a collector has no agency list (no repayments.view)
    collector = signed_in(app, world.east.emails["collector"])
    assert collector.get("/agency/repayments").status_code in (403, 404)


def test_a_collector_sees_only_their_own(app: Flask, world: World, money: Money) -> None:
    ids, cases = money.ids, money.cases
    collector = signed_in(app, world.east.emails["collector"])
    mine = collector.get("/workbench/repayments").get_data(as_text=True)
    assert set(rows(mine)) == {ids["T-TEAM"]} and "T-LOOSE" not in mine
    assert f'href="/workbench/cases/{cases.team}"' in mine
    tab = collector.get(f"/workbench/cases/{cases.team}?tab=repayments").get_data(as_text=True)
    assert rows(tab) == [ids["T-TEAM"]] and "500.00" in tab
    bob = signed_in(app, "bob@east.test.example")
    assert set(rows(bob.get("/workbench/repayments").get_data(as_text=True))) == {ids["T-LOOSE"]}
    assert collector.get("/asset/repayments").status_code == 404  # not their console


def test_foreign_and_missing_ids_get_404(app: Flask, world: World, money: Money, database: Database) -> None:
    ids, cases = money.ids, money.cases
    pending = report(world, cases.other, "140.00")
    before = database.rows("SELECT id, status, note FROM repayments ORDER BY id")
    balances = database.rows("SELECT id, outstanding FROM cases ORDER BY id")
    lender = signed_in(app, world.lender.admin_email)
    csrf = csrf_token(lender, "/asset/repayments")
    owner = signed_in(app, world.bank.admin_email)
    owner_csrf = csrf_token(owner, "/asset/repayments")
    for who, client, token, repayment_id, case_id in (
        ("lender", lender, csrf, ids["T-TEAM"], cases.inhouse),
        ("missing", owner, owner_csrf, MISSING, MISSING),
    ):
        assert client.get(f"/asset/repayments/{repayment_id}").status_code == 404, who
        for url, data in (
            (f"/asset/repayments/{repayment_id}/reversal", {"reason": "x"}),
            (f"/asset/repayments/{pending if who == 'lender' else MISSING}/audit", {"confirm": "1"}),
            (f"/asset/cases/{case_id}/repayments", {"amount": "1", "paid_at": "2026-01-05T10:00"}),
        ):
            assert _post(client, url, token, data).status_code == 404, (who, url)
    # a collector and an agency cannot open the owner's pages at all (another console)
    east = signed_in(app, world.east.admin_email)
    assert east.get(f"/asset/repayments/{ids['T-TEAM']}").status_code == 404
    assert database.rows("SELECT id, status, note FROM repayments ORDER BY id") == before
    assert database.rows("SELECT id, outstanding FROM cases ORDER BY id") == balances


# --- the desk's figures come from repayments ----------------------------------------------------------------


def test_the_desk_and_the_honour_roll_count_applied_repayments(
    app: Flask, world: World, money: Money, database: Database
) -> None:
    ids, cases = money.ids, money.cases
    collector = signed_in(app, world.east.emails["collector"])
    bob = signed_in(app, "bob@east.test.example")
    home = collector.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="collected">500\.00<', home) and re.search(r'id="rank">1<', home)
    roll = home[home.index('data-roll="month-amount"') :]
    roll = roll[: roll.index("</ol>")]
    assert roll.index("collector of east") < roll.index("bob")
    assert re.search(r'id="collected">300\.00<', bob.get("/workbench/").get_data(as_text=True))
    # a promise confirmed by hand moves no figure: it is no money of the lender's
    today = _today(world)
    with tenant(world.east.org_id):
        notes.add_note(
            _user(world.east.users["collector"]),
            cases.other,
            action="call",
            party="debtor",
            result_code="promise_to_pay",
            promise_amount="900",
            promise_due_on=today,
        )
    promise_id = database.scalar("SELECT id FROM promises")
    csrf = csrf_token(collector, "/workbench/cases")
    r = _post(collector, f"/workbench/promises/{promise_id}/confirm", csrf, {"paid_amount": "900"})
    assert r.status_code == 302
    assert re.search(r'id="collected">500\.00<', collector.get("/workbench/").get_data(as_text=True))
    # a reversed payment no longer counts; the cached roll is forgotten at once
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        repayments.reverse(admin, db.session.get(Repayment, ids["T-LOOSE"]), "bounced")
    home = bob.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="collected">0\.00<', home)
    roll = home[home.index('data-roll="month-amount"') :]
    assert "bob" not in roll[: roll.index("</ol>")]
    # more money for Bob: he leads the month
    pay(world, [("T-LOOSE-2", "APP-1", "700.00")])
    home = bob.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="collected">700\.00<', home) and re.search(r'id="rank">1<', home)
    assert re.search(r'id="rank">2<', collector.get("/workbench/").get_data(as_text=True))
