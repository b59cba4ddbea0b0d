"""Browser journeys in headless Chromium (Playwright drives the distribution's /usr/bin/chromium):
sign in, switch language, start a job and watch its progress bar, sign out through the menu."""

from __future__ import annotations

from tests.builders.tenants import PASSWORD, World


def test_sign_in_in_chinese_run_a_job_and_sign_out(
    live_server: str, browser, world: World, rq_worker
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(locale="zh-CN")
    page.goto(live_server + "/login")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("#email", world.bank.admin_email)
    page.fill("#password", "wrong-password-1")
    page.click("#submit")
    assert "邮箱或密码错误" in page.locator(".alert-danger").inner_text()
    page.fill("#email", world.bank.admin_email)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url("**/asset/")
    assert "资产方控制台" in page.locator(".navbar-brand").inner_text()

    # switch to English through the language menu
    page.click("text=中文")
    page.click(".dropdown-menu >> text=English")
    page.wait_for_load_state()
    assert "Asset owner console" in page.locator(".navbar-brand").inner_text()

    # start a job: the page follows it to 100 %
    page.goto(live_server + "/asset/jobs")
    page.click("text=Run a tenant census job")
    page.wait_for_selector(".progress-bar:has-text('100%')", timeout=30000)
    assert "finished" in page.locator(".badge").first.inner_text()

    # sign out from the account menu; the console is closed again
    page.click("text=Admin bank")
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.goto(live_server + "/asset/users")
    assert "/login" in page.url


def test_agency_manager_asks_the_owner_for_a_right(live_server: str, browser, world: World) -> None:  # type: ignore[no-untyped-def]
    agency = browser.new_page(locale="en-US")
    agency.goto(live_server + "/login")
    agency.fill("#email", world.east.admin_email)
    agency.fill("#password", PASSWORD)
    agency.click("#submit")
    agency.goto(live_server + "/agency/owners")
    agency.click("text=Ask for a right")
    agency.select_option("#right", "pii.unmask")
    agency.fill("#reason", "relatives must be called")
    agency.click("#submit")
    assert "Your request was sent to Org bank." in agency.locator(".alert-success").inner_text()

    owner = browser.new_context(locale="en-US").new_page()
    owner.goto(live_server + "/login")
    owner.fill("#email", world.bank.admin_email)
    owner.fill("#password", PASSWORD)
    owner.click("#submit")
    owner.goto(live_server + "/asset/approvals")
    owner.click("text=Org east")
    owner.fill("#note", "granted for the spring campaign")
    owner.click("#approve")
    assert "The decision was recorded." in owner.locator(".alert-success").inner_text()
    owner.goto(live_server + "/asset/partnerships")
    assert "Agency may unmask" in owner.locator("table").inner_text()
