"""The collector's day in headless Chromium against the demo tenants (``flask seed-demo``, jobs inline):
a demo collector opens a case from their list, writes a note with a promise to pay, files a reduction
application; their team lead signs in, finds it in the applications inbox and approves it; the
reduction comes off the case and the collector sees the decision."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask

from tests.builders.servers import serve
from tests.conftest import Database

COLLECTOR = "collector1@demo-agency-east.example"
LEAD = "lead@demo-agency-east.example"


@pytest.fixture
def demo_server(eager_app: Flask) -> Iterator[str]:
    from arrears.demo.seed import seed

    seed()
    yield from serve(eager_app)


def _sign_in(browser, base: str, email: str):  # type: ignore[no-untyped-def]
    from arrears.demo.seed import DEFAULT_PASSWORD

    page = browser.new_context(locale="en-US").new_page()
    page.goto(base + "/login")
    page.fill("#email", email)
    page.fill("#password", DEFAULT_PASSWORD)
    page.click("#submit")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[:2000]
    return page


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", "").strip())


def test_a_collector_promises_and_applies_and_the_team_lead_approves(
    demo_server: str, browser, database: Database
) -> None:  # type: ignore[no-untyped-def]
    collector = _sign_in(browser, demo_server, COLLECTOR)
    assert collector.url.endswith("/workbench/")
    assert collector.locator("#honour-roll").is_visible()

    # my cases: pick one that owes a penalty, interest or fees
    collector.click("#to-my-cases")
    collector.wait_for_selector("#my-cases")
    links = collector.locator("#my-cases tbody a[href*='/workbench/cases/']")
    chosen = None
    for i in range(min(links.count(), 20)):
        href = links.nth(i).get_attribute("href")
        case_id = int(re.search(r"/workbench/cases/(\d+)", href or "").group(1))  # type: ignore[union-attr]
        row = database.rows("SELECT penalty, interest, fee, outstanding FROM cases WHERE id = :i", i=case_id)[
            0
        ]
        if max(row.penalty, row.interest, row.fee) >= Decimal("10") and row.outstanding > 100:
            chosen, balances = i, row
            break
    assert chosen is not None, "no demo case of collector1 owes a penalty, interest or fees"
    links.nth(chosen).click()
    collector.wait_for_selector("#note-form")
    case_url = collector.url.split("?")[0]
    case_id = int(case_url.rsplit("/", 1)[1])
    loan_no = database.scalar("SELECT loan_no FROM cases WHERE id = :i", i=case_id)
    assert loan_no in collector.locator("h1").inner_text()

    # a note with a promise to pay
    today = dt.date.fromisoformat(str(database.scalar("SELECT CURRENT_DATE")))
    due = today + dt.timedelta(days=5)
    collector.select_option("#action", "call")
    collector.select_option("#party", "debtor")
    collector.select_option("#result_code", "promise_to_pay")
    collector.fill("#text", "Debtor agreed to pay part on Friday")
    collector.fill("#promise_amount", "100.00")
    collector.fill("#promise_due_on", due.isoformat())
    collector.click("#note-form button[type=submit], #note-form input[type=submit]")
    collector.wait_for_selector(".alert-success")
    assert "The note was saved." in collector.locator(".alert-success").inner_text()
    assert "Debtor agreed to pay part on Friday" in collector.locator("#notes").inner_text()
    collector.click("[data-tab=promises]")
    promises = collector.locator("#promises").inner_text()
    assert due.isoformat() in promises and "100.00" in promises

    # a reduction application of what the case owes, within the team lead's limit
    component = max(("penalty", "interest", "fee"), key=lambda c: getattr(balances, c))
    waive = min(getattr(balances, component), Decimal("200.00"))
    collector.click("[data-tab=applications]")
    collector.fill(f"#waive_{component}", str(waive))
    collector.fill("#reduction-form #reason", "Hardship: lost his job in October")
    collector.click("#reduction-form button[type=submit], #reduction-form input[type=submit]")
    collector.wait_for_selector(".alert-success")
    assert "waits for: Team lead" in collector.locator(".alert-success").inner_text()
    application_id = database.scalar("SELECT max(id) FROM applications WHERE case_id = :i", i=case_id)
    assert f"{waive:,.2f}" in collector.locator("#applications").inner_text()

    # the team lead approves it from the agency console's inbox
    lead = _sign_in(browser, demo_server, LEAD)
    lead.goto(demo_server + "/agency/applications")
    lead.click(f"a[href$='/agency/applications/{application_id}']")
    lead.wait_for_selector("#amount")
    assert f"{waive:,.2f}" in lead.locator("#amount").inner_text()
    lead.fill("#note", "Approved: hardship shown")
    lead.click("#approve")
    lead.wait_for_selector(".alert-success")
    assert "The application was approved." in lead.locator(".alert-success").inner_text()

    after = database.rows(f"SELECT {component} FROM cases WHERE id = :i", i=case_id)[0][0]
    assert after == getattr(balances, component) - waive
    # the collector sees the decision, and the balance it changed
    collector.goto(demo_server + "/workbench/applications")
    row = collector.locator("#my-applications tbody tr").filter(has_text=loan_no).first
    assert "approved" in row.inner_text()
    collector.goto(case_url)
    assert _money(collector.locator(f"#{component}").inner_text()) == after
    assert _money(collector.locator("#outstanding").inner_text()) == balances.outstanding - waive
    # and a reminder of the decision among today's
    collector.goto(demo_server + "/workbench/reminders")
    decided = collector.locator("#reminders tbody tr").filter(has_text=loan_no)
    assert (
        "Your reduction application of" in decided.filter(has_text="Application decided").first.inner_text()
    )
