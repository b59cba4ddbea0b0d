"""Allocation pages (shared by the asset and agency consoles): strategies with the structured rules
editor, versions and the change log; runs previewed, sent for approval, approved by a second admin
(maker-checker), applied (jobs run inline without Redis), and their result logs. Bad input gives a
clear message and writes nothing; foreign and missing ids are 404."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.builders.pages import approve, placed_run, post_form, preview_placement
from tests.builders.placements import CHECKER, bank_with_cases
from tests.builders.tenants import PASSWORD, World, build_world, partner
from tests.conftest import Database, csrf_token, signed_in

# --- set-up (bank's cases and the placement run through the pages: tests/builders/pages.py) ----------------


def rule_fields(i: int, **values: Any) -> dict[str, Any]:
    return {f"r-{i}-{k}": v for k, v in values.items()}


# --- strategies ------------------------------------------------------------------------------------------


def _new_strategy(c: FlaskClient, world: World) -> Any:
    url = "/asset/allocation/strategies/new?level=placement"
    return post_form(
        c,
        url,
        {
            "action": "save",
            "name": "By bucket",
            **rule_fields(0, name="Early", method="round_robin", dpd_max="30", previous_holder="exclude"),
            **rule_fields(
                1,
                name="Late",
                method="fixed_shares",
                dpd_min="31",
                buckets=["M2", "M3", "M4+"],
                **{f"share-agency:{world.east.org_id}": "60", f"share-agency:{world.west.org_id}": "40"},
            ),
            **rule_fields(
                2, name="Rest", method="balanced_amount", provinces="广东省，江苏省", products="信用卡"
            ),
        },
    )


def test_strategy_created_edited_versioned_and_logged(eager_app: Flask, database: Database) -> None:
    world = build_world()
    partner(world.bank, world.west)
    c = signed_in(eager_app, world.bank.admin_email)
    page = c.get("/asset/allocation/strategies/new").get_data(as_text=True)
    assert "Placement with agencies" in page and 'name="r-0-name"' in page
    assert 'id="rule-template"' in page and "js/rules.js" in page  # the editor's script, served locally
    assert "cdn" not in page.lower()

    created = _new_strategy(c, world)
    assert created.status_code == 302, created.get_data(as_text=True)[:3000]
    strategy_id = database.scalar("SELECT id FROM allocation_strategies")
    url = f"/asset/allocation/strategies/{strategy_id}"
    assert created.headers["Location"].endswith(url)
    rules = database.scalar("SELECT rules::text FROM allocation_strategies")
    assert '"dpd_max": 30' in rules and '"previous_holder": "exclude"' in rules and '"60"' in rules

    shown = c.get(url).get_data(as_text=True)
    # the readable rendering of each rule beside the form
    assert "at most 30 days past due" in shown and "Never back to the previous holder" in shown
    assert "Org east 60%" in shown and "Org west 40%" in shown
    assert "province 广东省, 江苏省" in shown and "product 信用卡" in shown

    # invalid: the problems come back next to their fields, with their place; nothing is written
    bad = post_form(
        c,
        url,
        {
            "action": "save",
            "name": "By bucket",
            **rule_fields(0, name="Early", method="round_robin", dpd_max="30"),
            **rule_fields(1, name="Late", method="round_robin", dpd_min="90", dpd_max="40", amount_min="abc"),
        },
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200
    assert "rules[1].filter.dpd_max" in text and "must not be below the minimum" in text
    assert "rules[1].filter.amount_min" in text and "must be an amount" in text
    assert 'value="abc"' in text  # the form keeps what was typed
    assert database.scalar("SELECT version FROM allocation_strategies") == 1
    assert database.scalar("SELECT count(*) FROM allocation_strategy_versions") == 1
    shares = post_form(
        c,
        url,
        {
            "action": "save",
            "name": "By bucket",
            **rule_fields(
                0, name="Only", method="fixed_shares", **{f"share-agency:{world.east.org_id}": "70"}
            ),
        },
    ).get_data(as_text=True)
    assert "rules[0].shares" in shares and "the shares must add up to 100" in shares

    # a real change: version 2, with a readable line saying what changed
    saved = post_form(
        c,
        url,
        {
            "action": "save",
            "name": "By bucket",
            "note": "wider first bucket",
            **rule_fields(0, name="Early", method="round_robin", dpd_max="45", previous_holder="exclude"),
            **rule_fields(
                1,
                name="Late",
                method="fixed_shares",
                dpd_min="46",
                buckets=["M2", "M3", "M4+"],
                **{f"share-agency:{world.east.org_id}": "60", f"share-agency:{world.west.org_id}": "40"},
            ),
            **rule_fields(
                2, name="Rest", method="balanced_amount", provinces="广东省, 江苏省", products="信用卡"
            ),
        },
    )
    assert saved.status_code == 302
    assert database.scalar("SELECT version FROM allocation_strategies") == 2
    versions = c.get(f"{url}/versions").get_data(as_text=True)
    assert "Version 2" in versions and "Version 1" in versions
    assert "“Early”: filter dpd_max 30 → 45" in versions and "wider first bucket" in versions
    assert "Admin bank" in versions and "created with 3 rules" in versions
    log = c.get("/asset/allocation/strategy-log").get_data(as_text=True)
    assert "“Late”: filter dpd_min 31 → 46" in log and "By bucket" in log

    # saving the same rules again makes no version
    same = post_form(
        c,
        url,
        {
            "action": "save",
            "name": "By bucket",
            **rule_fields(0, name="Early", method="round_robin", dpd_max="45", previous_holder="exclude"),
            **rule_fields(
                1,
                name="Late",
                method="fixed_shares",
                dpd_min="46",
                buckets=["M2", "M3", "M4+"],
                **{f"share-agency:{world.east.org_id}": "60", f"share-agency:{world.west.org_id}": "40"},
            ),
            **rule_fields(
                2, name="Rest", method="balanced_amount", provinces="江苏省,广东省", products="信用卡"
            ),
        },
    )
    assert same.status_code == 302 and database.scalar("SELECT version FROM allocation_strategies") == 2

    # archive and restore
    assert post_form(c, f"{url}/archive", {}, url).status_code == 302
    assert database.scalar("SELECT archived FROM allocation_strategies") is True
    assert "By bucket" in c.get("/asset/allocation/strategies?archived=1").get_data(as_text=True)
    assert "By bucket" not in c.get("/asset/allocation/strategies").get_data(as_text=True)
    post_form(c, f"{url}/archive", {}, url)
    assert database.scalar("SELECT archived FROM allocation_strategies") is False


def test_the_rules_editor_adds_removes_and_moves_rules_without_script(eager_app: Flask) -> None:
    world = build_world()
    c = signed_in(eager_app, world.bank.admin_email)
    url = "/asset/allocation/strategies/new?level=placement"
    base = {"name": "Moves", **rule_fields(0, name="A", dpd_max="10"), **rule_fields(1, name="B")}
    added = post_form(c, url, {**base, "action": "add"}).get_data(as_text=True)
    assert 'name="r-2-name"' in added and 'value="A"' in added
    moved = post_form(c, url, {**base, "action": "down:0"}).get_data(as_text=True)
    assert re.search(r'name="r-0-name" value="B"', moved) and re.search(r'name="r-1-name" value="A"', moved)
    assert re.search(r'name="r-1-dpd_max" value="10"', moved)  # the rule's fields move with it
    removed = post_form(c, url, {**base, "action": "remove:0"}).get_data(as_text=True)
    assert re.search(r'name="r-0-name" value="B"', removed) and 'name="r-1-name"' not in removed
    none_left = post_form(c, url, {"name": "Empty", "action": "save"}).get_data(as_text=True)
    assert "add at least one rule" in none_left


def test_rules_as_json_are_checked_the_same_way(eager_app: Flask, database: Database) -> None:
    world = build_world()
    c = signed_in(eager_app, world.bank.admin_email)
    url = "/asset/allocation/strategies/new?level=dispatch"
    broken = post_form(c, url, {"action": "save", "name": "J", "rules_json": "[{"}).get_data(as_text=True)
    assert "This is not valid JSON." in broken
    bad = post_form(
        c, url, {"action": "save", "name": "J", "rules_json": '[{"name": "x", "method": "lottery"}]'}
    ).get_data(as_text=True)
    assert "rules[0].method" in bad and "must be one of" in bad
    assert database.scalar("SELECT count(*) FROM allocation_strategies") == 0
    ok = post_form(
        c, url, {"action": "save", "name": "J", "rules_json": '[{"name": "all", "method": "round_robin"}]'}
    )
    assert ok.status_code == 302
    assert database.scalar("SELECT level FROM allocation_strategies") == "dispatch"


# --- runs ------------------------------------------------------------------------------------------------


def test_placement_run_preview_review_apply_and_result_log(eager_app: Flask, database: Database) -> None:
    world = build_world()
    bank_with_cases(world)
    c = signed_in(eager_app, world.bank.admin_email)
    form = c.get("/asset/allocation/runs/new").get_data(as_text=True)
    assert "Org east" in form and "Org west" in form and "Org lender" not in form

    # bad input: no end date, an end before the start, no target; nothing is written
    no_end = preview_placement(c, world, ends_on="").get_data(as_text=True)
    assert "Give the end date of the placement." in no_end
    reversed_dates = preview_placement(c, world, ends_on="2026-11-01").get_data(as_text=True)
    assert "A placement needs an end date after its start." in reversed_dates
    no_target = preview_placement(c, world, target=[]).get_data(as_text=True)
    assert "Choose at least one target." in no_target
    bad_amount = preview_placement(c, world, amount_min="lots").get_data(as_text=True)
    assert "Enter an amount." in bad_amount
    assert database.scalar("SELECT count(*) FROM allocation_runs") == 0

    # by strategy: M1 cases to east only, the rest shared
    post_form(
        c,
        "/asset/allocation/strategies/new?level=placement",
        {
            "action": "save",
            "name": "East takes M1",
            **rule_fields(0, name="M1", buckets=["M1"], targets=[f"agency:{world.east.org_id}"]),
            **rule_fields(1, name="Others", method="balanced_amount"),
        },
    )
    strategy_id = database.scalar("SELECT id FROM allocation_strategies")
    response = preview_placement(c, world, strategy_id=str(strategy_id))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert database.scalar("SELECT count(*) FROM cases WHERE agency_org_id IS NOT NULL") == 0  # a preview
    detail = c.get(f"/asset/allocation/runs/{run_id}").get_data(as_text=True)
    assert "Org east" in detail and "Org west" in detail and "East takes M1" in detail
    assert "300 considered, 300 allocated" in detail
    sample = database.scalar(
        "SELECT loan_no FROM cases WHERE id = "
        "(SELECT min(case_id) FROM allocation_results WHERE run_id = :r)",
        r=run_id,
    )
    assert sample in detail  # sample cases linked by loan number
    assert "Send for approval" in detail and ">Apply<" not in detail  # placements need approval
    refused = post_form(c, f"/asset/allocation/runs/{run_id}/apply", {}, f"/asset/allocation/runs/{run_id}")
    assert "needs approval" in c.get(refused.headers["Location"]).get_data(as_text=True)
    assert database.scalar("SELECT status FROM allocation_runs") == "previewed"

    post_form(
        c,
        f"/asset/allocation/runs/{run_id}/submit",
        {"reason": "quarter start"},
        f"/asset/allocation/runs/{run_id}",
    )
    approval_id = database.scalar("SELECT approval_id FROM allocation_runs")
    waiting = c.get(f"/asset/allocation/runs/{run_id}").get_data(as_text=True)
    assert "waiting for approval" in waiting and f"/asset/approvals/{approval_id}" in waiting
    # the maker cannot decide; the approval page leads the checker to the preview
    mine = c.get(f"/asset/approvals/{approval_id}").get_data(as_text=True)
    assert 'name="approve"' not in mine and f"/asset/allocation/runs/{run_id}" in mine
    checker_inbox = signed_in(eager_app, CHECKER).get("/asset/placements/approvals").get_data(as_text=True)
    assert "Allocation result review" in checker_inbox
    assert approve(eager_app, approval_id).status_code == 302
    assert database.scalar("SELECT status FROM allocation_runs") == "approved"

    applied = post_form(c, f"/asset/allocation/runs/{run_id}/apply", {}, f"/asset/allocation/runs/{run_id}")
    assert applied.status_code == 302
    assert database.scalar("SELECT status FROM allocation_runs") == "applied"
    assert database.scalar("SELECT count(*) FROM cases WHERE agency_org_id IS NOT NULL") == 300
    done = c.get(f"/asset/allocation/runs/{run_id}").get_data(as_text=True)
    assert "Placements made" in done and "/asset/placements/" in done and "/asset/jobs/" in done
    assert "300 applied, 0 skipped" in done

    # the result log: every case, filtered by status and target, a page at a time
    log = c.get(f"/asset/allocation/runs/{run_id}/results").get_data(as_text=True)
    assert log.count("<tr>") == 101 and "Next page" in log  # 100 rows and the header
    nxt = re.search(r'href="([^"]*after=\d+[^"]*)"', log)
    assert nxt
    second = c.get(nxt.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert second.count("<tr>") == 101
    east = c.get(f"/asset/allocation/runs/{run_id}/results?target={world.east.org_id}&status=applied")
    east_rows = east.get_data(as_text=True).count('<td class="text-end">') // 2
    assert east_rows == min(
        100, database.scalar("SELECT count(*) FROM cases WHERE agency_org_id = :a", a=world.east.org_id)
    )
    m1 = database.scalar(
        "SELECT case_id FROM allocation_results WHERE run_id = :r AND rule = 0 LIMIT 1", r=run_id
    )
    history = c.get(f"/asset/allocation/cases/{m1}").get_data(as_text=True)
    assert f"#{run_id}" in history and "Org east" in history and ">M1<" in history

    # the run list
    runs = c.get("/asset/allocation/runs").get_data(as_text=True)
    assert f"#{run_id}" in runs and "East takes M1" in runs


def test_selected_cases_and_discard(eager_app: Flask, database: Database) -> None:
    world = build_world()
    bank_with_cases(world)
    c = signed_in(eager_app, world.bank.admin_email)
    ids = [r[0] for r in database.rows("SELECT id FROM cases ORDER BY id LIMIT 3")]
    form = c.get(
        "/asset/allocation/runs/new?level=placement&" + "&".join(f"case_ids={i}" for i in ids)
    ).get_data(as_text=True)
    assert "3 selected cases" in form
    response = preview_placement(c, world, case_ids=",".join(map(str, ids)), target=[str(world.west.org_id)])
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert database.scalar("SELECT case_count FROM allocation_runs WHERE id = :r", r=run_id) == 3
    assert (
        post_form(
            c, f"/asset/allocation/runs/{run_id}/discard", {}, f"/asset/allocation/runs/{run_id}"
        ).status_code
        == 302
    )
    assert database.scalar("SELECT status FROM allocation_runs WHERE id = :r", r=run_id) == "discarded"
    assert "Nothing more to do with this run." in c.get(f"/asset/allocation/runs/{run_id}").get_data(
        as_text=True
    )


def test_a_withdrawn_review_releases_the_run(eager_app: Flask, database: Database) -> None:
    world = build_world()
    bank_with_cases(world)
    c = signed_in(eager_app, world.bank.admin_email)
    run_id = int(preview_placement(c, world).headers["Location"].rsplit("/", 1)[1])
    run_url = f"/asset/allocation/runs/{run_id}"
    post_form(c, f"{run_url}/submit", {"reason": ""}, run_url)
    approval_id = database.scalar("SELECT approval_id FROM allocation_runs")
    withdrawn = post_form(c, f"/asset/approvals/{approval_id}/cancel", {}, f"/asset/approvals/{approval_id}")
    assert withdrawn.status_code == 302
    assert database.scalar("SELECT status FROM approvals") == "cancelled"
    # the run does not wait for a decision that cannot come: it is closed, and a new preview can be made
    assert database.scalar("SELECT status FROM allocation_runs") == "rejected"
    assert "Nothing more to do with this run." in c.get(run_url).get_data(as_text=True)
    assert preview_placement(c, world).status_code == 302


def test_agency_console_has_the_dispatch_pages(eager_app: Flask, database: Database) -> None:
    world = build_world()
    c = signed_in(eager_app, world.east.admin_email)
    home = c.get("/agency/").get_data(as_text=True)
    assert "/agency/allocation/strategies" in home and "/agency/allocation/runs" in home
    form = c.get("/agency/allocation/runs/new").get_data(as_text=True)
    assert "Dispatch to collectors" in form and "Placement with agencies" not in form
    assert "collector of east" in form
    # an agency cannot make placement strategies: the level falls back to dispatch
    page = c.get("/agency/allocation/strategies/new?level=placement").get_data(as_text=True)
    assert "Dispatch to collectors" in page
    created = post_form(
        c,
        "/agency/allocation/strategies/new?level=placement",
        {"action": "save", "name": "Team", **rule_fields(0, name="all")},
    )
    assert created.status_code == 302
    assert database.scalar("SELECT level FROM allocation_strategies") == "dispatch"
    # a collector has no allocation pages
    collector = signed_in(eager_app, world.east.emails["collector"])
    assert collector.get("/agency/allocation/strategies").status_code == 403


def test_foreign_and_missing_ids_are_404(eager_app: Flask, database: Database) -> None:
    world = build_world()
    c, run_id = placed_run(eager_app, world, database)
    post_form(
        c,
        "/asset/allocation/strategies/new?level=placement",
        {"action": "save", "name": "S", **rule_fields(0, name="all")},
    )
    strategy_id = database.scalar("SELECT id FROM allocation_strategies")
    case_id = database.scalar("SELECT min(id) FROM cases")
    own = {"strategy_id": strategy_id, "run_id": run_id, "case_id": case_id}
    rules = [
        r for r in eager_app.url_map.iter_rules() if r.rule.startswith("/asset/allocation/") and r.arguments
    ]
    assert len(rules) >= 9
    lender = signed_in(eager_app, world.lender.admin_email)
    token = csrf_token(lender, "/asset/")
    checked = 0
    for rule in rules:
        for value in (None, 999_999):
            url = re.sub(r"<(?:int:)?(\w+)>", lambda m, v=value: str(v if v else own[m.group(1)]), rule.rule)
            if "GET" in (rule.methods or set()):
                if value is None:  # the owner opens its own, with no query string
                    assert c.get(url).status_code == 200, url
                assert lender.get(url).status_code == 404, url
            if "POST" in (rule.methods or set()):
                before = database.scalar("SELECT md5(string_agg(t::text, '')) FROM allocation_runs t")
                assert (
                    lender.post(url, data={"csrf_token": token, "reason": "x", "name": "x"}).status_code
                    == 404
                )
                assert database.scalar("SELECT md5(string_agg(t::text, '')) FROM allocation_runs t") == before
            checked += 1
    assert checked >= 18
    # the agency holding some of the cases sees neither the owner's run nor its strategy
    east = signed_in(eager_app, world.east.admin_email)
    assert east.get(f"/agency/allocation/runs/{run_id}").status_code == 404
    assert east.get(f"/agency/allocation/strategies/{strategy_id}").status_code == 404


# --- the editor's script, in a browser -------------------------------------------------------------------


@pytest.fixture
def served(eager_app: Flask) -> Iterator[str]:
    eager_app.config["SERVER_NAME"] = None
    server = make_server("127.0.0.1", 0, eager_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_editor_script_adds_moves_and_removes_rules_in_the_page(served: str, database: Database) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed (scripts/test installs it)")
    from playwright.sync_api import sync_playwright

    world = build_world()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(locale="en")
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(served + "/login")
        page.fill("#email", world.bank.admin_email)
        page.fill("#password", PASSWORD)
        page.click("#submit")
        page.wait_for_url("**/asset/")
        page.goto(served + "/asset/allocation/strategies/new?level=placement")
        page.fill("#name", "In the page")
        page.fill("#r-0-name", "A")
        page.fill("#r-0-dpd_max", "10")
        assert page.locator("[data-rule-shares]").first.is_hidden()  # shown for fixed shares only
        page.click("[data-rule-add]")
        page.fill("#r-1-name", "B")
        page.select_option("#r-1-method", "fixed_shares")
        assert page.locator("[data-rule-shares]").nth(1).is_visible()
        page.click("[data-rule-add]")
        page.fill("#r-2-name", "C")
        assert page.locator("[data-rule]").count() == 3
        page.locator("[data-rule]").nth(1).locator("[data-rule-op=up]").click()  # B before A
        page.locator("[data-rule]").nth(2).locator("[data-rule-op=remove]").click()  # C goes
        assert page.input_value("#r-0-name") == "B"
        assert page.input_value("#r-1-name") == "A" and page.input_value("#r-1-dpd_max") == "10"
        page.select_option("#r-0-method", "round_robin")
        page.fill("#r-1-dpd_max", "12")
        page.press("#r-1-dpd_max", "Enter")  # Enter saves; it does not move a rule
        page.wait_for_url(re.compile(r".*/asset/allocation/strategies/\d+$"))
        assert "The strategy was saved (version 1)." in page.content()
        browser.close()
    assert not errors
    rules = database.scalar("SELECT rules::text FROM allocation_strategies")
    assert rules.index('"B"') < rules.index('"A"') and '"dpd_max": 12' in rules and '"C"' not in rules
