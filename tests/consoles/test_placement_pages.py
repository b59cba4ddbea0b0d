"""Asset console placements (委外): pending cases placed through a run, the placements in force with
per agency figures, recall of one case and then of the rest (the agency loses them at once), the
extension asked for and approved by a second admin, the ended tab and the history per case and per
agency, in-house monitoring, the placement approvals tab, and the holder on the case list and page."""

from __future__ import annotations

import re

from flask import Flask

from tests.builders.pages import approve, placed_run, post_form, preview_placement
from tests.builders.placements import bank_with_cases
from tests.builders.tenants import build_world
from tests.conftest import Database, csrf_token, signed_in


def _east_placement(database: Database, east_id: int) -> int:
    return database.scalar("SELECT id FROM placements WHERE agency_org_id = :a", a=east_id)


def test_pending_cases_lead_into_a_placement_run(eager_app: Flask, database: Database) -> None:
    world = build_world()
    bank_with_cases(world)
    c = signed_in(eager_app, world.bank.admin_email)
    pending = c.get("/asset/placements/pending").get_data(as_text=True)
    assert "Place all 300 matching cases" in pending
    assert pending.count('name="case_ids"') == 50  # a page, each with a tick box
    # personal data is masked in the list
    name = database.scalar("SELECT name FROM debtors ORDER BY id LIMIT 1")
    assert name not in pending or len(name) < 2
    filtered = c.get("/asset/placements/pending?dpd_min=100&province=广东省").get_data(as_text=True)
    assert "Place all 300 matching cases" not in filtered
    link = re.search(r'href="(/asset/allocation/runs/new\?[^"]+)"', filtered)
    assert link and "dpd_min=100" in link.group(1) and "holding=unplaced" in link.group(1)
    form = c.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'value="100"' in form and "广东省" in form

    # tick two cases: the run form carries exactly them
    ids = [r[0] for r in database.rows("SELECT id FROM cases ORDER BY id LIMIT 2")]
    form = c.get(
        "/asset/allocation/runs/new?level=placement&" + "&".join(f"case_ids={i}" for i in ids)
    ).get_data(as_text=True)
    assert "2 selected cases" in form
    response = preview_placement(c, world, case_ids=",".join(map(str, ids)))
    assert response.status_code == 302
    assert database.scalar("SELECT case_count FROM allocation_runs") == 2


def test_place_recall_one_then_the_rest_extend_and_see_history(eager_app: Flask, database: Database) -> None:
    world = build_world()
    c, run_id = placed_run(eager_app, world, database)
    east_id, west_id = world.east.org_id, world.west.org_id
    east_cases = database.scalar("SELECT count(*) FROM cases WHERE agency_org_id = :a", a=east_id)
    assert east_cases == 150

    # 委外中: the placements and the per-agency figures
    active = c.get("/asset/placements").get_data(as_text=True)
    assert "Org east" in active and "Org west" in active and "Placed now, per agency" in active
    placement_id = _east_placement(database, east_id)
    assert f"/asset/placements/{placement_id}" in active
    only_west = c.get(f"/asset/placements?agency_id={west_id}").get_data(as_text=True)
    assert f'/asset/placements/{placement_id}"' not in only_west
    url = f"/asset/placements/{placement_id}"
    page = c.get(url).get_data(as_text=True)
    assert page.count('name="case_ids"') == 100 and "Next page" in page  # 150 cases, 100 a page
    assert f"/asset/allocation/runs/{run_id}" in page

    one = database.scalar(
        "SELECT case_id FROM placement_cases WHERE placement_id = :p ORDER BY id LIMIT 1", p=placement_id
    )
    loan_no = database.scalar("SELECT loan_no FROM cases WHERE id = :c", c=one)
    # a recall needs a reason, and cases: nothing changes without them
    no_reason = post_form(
        c, f"{url}/recall", {"case_ids": [str(one)], "scope": "selected", "reason": ""}, url
    )
    assert no_reason.status_code == 200 and "Say why." in no_reason.get_data(as_text=True)
    no_cases = post_form(c, f"{url}/recall", {"scope": "selected", "reason": "debtor died"}, url)
    assert "Choose the cases to recall." in no_cases.get_data(as_text=True)
    assert database.scalar("SELECT agency_org_id FROM cases WHERE id = :c", c=one) == east_id

    # recall one case with a reason: it leaves east at once
    recalled = post_form(
        c, f"{url}/recall", {"case_ids": [str(one)], "scope": "selected", "reason": "debtor died"}, url
    )
    assert recalled.status_code == 302
    assert "1 case was recalled from Org east." in c.get(recalled.headers["Location"]).get_data(as_text=True)
    assert database.scalar("SELECT agency_org_id FROM cases WHERE id = :c", c=one) is None
    assert (
        database.scalar("SELECT status || ':' || close_reason FROM placement_cases WHERE case_id = :c", c=one)
        == "recalled:debtor died"
    )
    east = signed_in(eager_app, world.east.admin_email)
    from arrears.extensions import db
    from arrears.models import Case
    from arrears.tenancy import tenant

    with tenant(east_id):
        db.session.expire_all()
        assert db.session.get(Case, one) is None  # the agency no longer sees it
    assert east.get(f"/agency/cases/{one}").status_code == 404

    # extension: the date must move later, a reason is needed; then a second admin approves it
    early = post_form(c, f"{url}/extend", {"ends_on": "2027-01-31", "reason": "more time"}, url)
    assert "The new end date must be after the current one." in early.get_data(as_text=True)
    missing = post_form(c, f"{url}/extend", {"ends_on": "", "reason": "more time"}, url)
    assert "Give the new end date." in missing.get_data(as_text=True)
    unexplained = post_form(c, f"{url}/extend", {"ends_on": "2027-06-30", "reason": " "}, url)
    assert "Say why." in unexplained.get_data(as_text=True)
    assert database.scalar("SELECT count(*) FROM approvals WHERE kind = 'placement.extend'") == 0
    asked = post_form(c, f"{url}/extend", {"ends_on": "2027-06-30", "reason": "more time"}, url)
    assert asked.status_code == 302
    approval_id = database.scalar("SELECT id FROM approvals WHERE kind = 'placement.extend'")
    tab = c.get("/asset/placements/approvals?side=outbox").get_data(as_text=True)
    assert "Extend to 2027-06-30 (was 2027-03-31)" in tab
    assert "Placement extension" in signed_in(eager_app, "checker@bank.test.example").get(
        "/asset/placements/approvals"
    ).get_data(as_text=True)
    assert approve(eager_app, approval_id).status_code == 302
    assert (
        str(database.scalar("SELECT ends_on FROM placements WHERE id = :p", p=placement_id)) == "2027-06-30"
    )

    # recall the rest: the placement is over, east holds nothing of bank's
    rest = post_form(c, f"{url}/recall", {"scope": "all", "reason": "contract ended early"}, url)
    assert rest.status_code == 302
    assert database.scalar("SELECT count(*) FROM cases WHERE agency_org_id = :a", a=east_id) == 0
    assert database.scalar("SELECT status FROM placements WHERE id = :p", p=placement_id) == "recalled"
    assert f'/asset/placements/{placement_id}"' not in c.get("/asset/placements").get_data(as_text=True)
    ended = c.get("/asset/placements/ended").get_data(as_text=True)
    assert f'/asset/placements/{placement_id}"' in ended and "contract ended early" in ended
    done = c.get(url).get_data(as_text=True)
    assert 'name="case_ids"' not in done and "Recall every case" not in done  # nothing more to recall

    # 委外历史: per case and per agency
    history = c.get(f"/asset/placements/history?loan_no={loan_no}").get_data(as_text=True)
    assert "debtor died" in history and "Org east" in history
    by_agency = c.get(f"/asset/placements/history?agency_id={east_id}").get_data(as_text=True)
    assert "contract ended early" in by_agency and "Org west" not in by_agency.split("<tbody>")[1]
    per_case = c.get(f"/asset/placements/cases/{one}").get_data(as_text=True)
    assert "debtor died" in per_case and "nobody (not placed)" in per_case

    # the case page shows its placements and its allocation results
    case_page = c.get(f"/asset/cases/{one}").get_data(as_text=True)
    assert "Placement history" in case_page and "debtor died" in case_page
    assert "Allocation results" in case_page and f"/asset/allocation/runs/{run_id}" in case_page


def test_case_list_filters_and_shows_the_holder(eager_app: Flask, database: Database) -> None:
    world = build_world()
    c, _run_id = placed_run(eager_app, world, database)
    east_id = world.east.org_id
    page = c.get(f"/asset/cases?holding=placed&agency_id={east_id}").get_data(as_text=True)
    assert "Held by" in page and "Org east" in page
    assert "Org west" not in page.split("<tbody>")[1]
    assert "Every open case is placed" in c.get("/asset/placements/pending").get_data(as_text=True)
    unplaced = c.get("/asset/cases?holding=unplaced").get_data(as_text=True)
    assert "CU2026" not in unplaced
    one = database.scalar("SELECT id FROM cases WHERE agency_org_id = :a LIMIT 1", a=east_id)
    assert "Org east" in c.get(f"/asset/cases/{one}").get_data(as_text=True)


def test_in_house_monitoring(eager_app: Flask, database: Database) -> None:
    world = build_world()
    bank_with_cases(world)
    c = signed_in(eager_app, world.bank.admin_email)
    page = c.get("/asset/placements/inhouse").get_data(as_text=True)
    assert "Our collectors" in page and "Open cases nobody works: 300." in page
    # dispatch ten cases to the owner's own admin (who may work cases) with a one-off rule
    ids = [r[0] for r in database.rows("SELECT id FROM cases ORDER BY id LIMIT 10")]
    url = "/asset/allocation/runs/new?level=dispatch"
    form = c.get(url).get_data(as_text=True)
    assert "Admin bank" in form
    response = post_form(
        c,
        url,
        {
            "strategy_id": "0",
            "method": "round_robin",
            "previous_holder": "any",
            "case_ids": ",".join(map(str, ids)),
            "target": [str(world.bank.admin_id)],
        },
    )
    assert response.status_code == 302
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    detail = c.get(f"/asset/allocation/runs/{run_id}").get_data(as_text=True)
    assert ">Apply<" in detail and "Send for approval" not in detail  # no approval needed here
    post_form(c, f"/asset/allocation/runs/{run_id}/apply", {}, f"/asset/allocation/runs/{run_id}")
    assert (
        database.scalar(
            "SELECT count(*) FROM case_holders WHERE assignee_user_id = :u", u=world.bank.admin_id
        )
        == 10
    )
    page = c.get("/asset/placements/inhouse").get_data(as_text=True)
    assert "Open cases nobody works: 290." in page and "Admin bank" in page
    assert page.count("/asset/cases/") >= 10
    mine = c.get(f"/asset/placements/inhouse?assignee_id={world.bank.admin_id}").get_data(as_text=True)
    assert mine.count('href="/asset/cases/') == 10


def test_staff_see_placements_but_cannot_act(eager_app: Flask, database: Database) -> None:
    world = build_world()
    _c, _run_id = placed_run(eager_app, world, database)
    placement_id = _east_placement(database, world.east.org_id)
    staff = signed_in(eager_app, world.bank.emails["owner_staff"])
    url = f"/asset/placements/{placement_id}"
    page = staff.get(url).get_data(as_text=True)
    assert page and "Recall every case" not in page and "Ask for the extension" not in page
    token = csrf_token(staff, url)
    assert (
        staff.post(f"{url}/recall", data={"csrf_token": token, "scope": "all", "reason": "x"}).status_code
        == 403
    )
    assert staff.get("/asset/allocation/runs").status_code == 403
    assert database.scalar("SELECT status FROM placements WHERE id = :p", p=placement_id) == "active"


def test_placement_routes_answer_404_for_foreign_and_missing_ids(
    eager_app: Flask, database: Database
) -> None:
    world = build_world()
    c, _run_id = placed_run(eager_app, world, database)
    own = {
        "placement_id": _east_placement(database, world.east.org_id),
        "case_id": database.scalar("SELECT min(id) FROM cases"),
    }
    rules = [
        r for r in eager_app.url_map.iter_rules() if r.rule.startswith("/asset/placements") and r.arguments
    ]
    assert len(rules) >= 4
    lender = signed_in(eager_app, world.lender.admin_email)
    east = signed_in(eager_app, world.east.admin_email)
    token = csrf_token(lender, "/asset/")
    before = database.scalar("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM placement_cases t")
    for rule in rules:
        for value in (None, 999_999):
            url = re.sub(r"<(?:int:)?(\w+)>", lambda m, v=value: str(v if v else own[m.group(1)]), rule.rule)
            if "GET" in (rule.methods or set()):
                if value is None:
                    assert c.get(url).status_code == 200, url
                assert lender.get(url).status_code == 404, url
                assert east.get(url).status_code == 404, url  # the agency has no asset console
            if "POST" in (rule.methods or set()):
                assert (
                    lender.post(url, data={"csrf_token": token, "reason": "x", "scope": "all"}).status_code
                    == 404
                )
    assert database.scalar("SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM placement_cases t") == before
