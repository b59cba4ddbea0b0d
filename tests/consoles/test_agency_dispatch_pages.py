"""Agency console case pages against PostgreSQL, through HTTP: the cases placed with the agency, the
pool, dispatch by selection, transfer (转派) with a reason, back to the pool, caps, a team lead's scope,
the placements received with extension and early-recall requests to the owner, and 404 for foreign or
missing ids. Jobs run inline (``eager_app``), so a dispatch is applied when the request returns."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from arrears.extensions import db
from arrears.models import Organisation, User
from tests.builders.cases import case_ids
from tests.builders.placements import dispatch, east_people, placed_with_east
from tests.builders.tenants import build_world
from tests.conftest import Database, csrf_token, signed_in

MISSING = 10**9


# --- set-up (bank's cases placed with east: tests/builders/placements.py) ---------------------------------


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def holders(database: Database, ids: list[int]) -> list[int | None]:
    rows = dict(
        database.rows(
            "SELECT c.id, h.assignee_user_id FROM cases c LEFT JOIN case_holders h ON h.case_id = c.id "
            "WHERE c.id = ANY(:ids)",
            ids=ids,
        )
    )
    return [rows[i] for i in ids]


def loan(database: Database, case_id: int) -> str:
    return str(database.scalar("SELECT loan_no FROM cases WHERE id = :i", i=case_id))


def move(c: FlaskClient, action: str, ids: list[int], back: str = "cases", **fields: Any) -> str:
    """Post a bulk action from a list and follow the redirect back to it; the page's text."""
    data: dict[str, Any] = {"csrf_token": csrf_token(c, "/profile"), "case_id": ids, action: "1", **fields}
    response = c.post(f"/agency/cases/move?back={back}", data=data, follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def pool_badge(c: FlaskClient) -> int:
    page = c.get("/agency/cases/pool").get_data(as_text=True)
    match = re.search(r'id="pool-count">(\d+)<', page)
    assert match, page[:500]
    return int(match.group(1))


# --- the tests ------------------------------------------------------------------------------------------


def test_dispatch_transfer_pool_and_caps_through_the_pages(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placed_with_east(world)
    people = east_people(world)
    manager = signed_in(eager_app, world.east.admin_email)
    collector = signed_in(eager_app, world.east.emails["collector"])
    bob = signed_in(eager_app, "bob@east.test.example")

    listing = manager.get("/agency/cases").get_data(as_text=True)
    assert "Org bank" in listing and "in the pool" in listing  # owner and holder columns
    assert "440106197712084175" not in listing  # ID numbers never in clear here
    assert pool_badge(manager) == 300
    ids = case_ids(database, 3)
    assert all(loan(database, i) not in collector.get("/workbench/cases").get_data(as_text=True) for i in ids)

    # dispatch by selection from the pool: the cases land on the collector's workbench
    page = move(manager, "dispatch", ids, back="pool", user_id=people["collector"])
    assert "3 cases were dispatched." in page
    assert holders(database, ids) == [people["collector"]] * 3
    assert pool_badge(manager) == 297
    workbench = collector.get("/workbench/cases").get_data(as_text=True)
    assert all(loan(database, i) in workbench for i in ids)
    assert collector.get(f"/workbench/cases/{ids[0]}").status_code == 200
    # the dispatch is in each case's assignment log, by the manager who applied it
    log = manager.get(f"/agency/cases/{ids[2]}").get_data(as_text=True)
    assert "dispatched" in log and "No collector has held this case yet." not in log
    # a case a collector holds is transferred, not dispatched
    page = move(manager, "dispatch", ids[:1], user_id=people["bob"])
    assert "Only open cases in the pool can be dispatched" in page
    assert holders(database, ids[:1]) == [people["collector"]]

    # a transfer says why: without a reason nothing moves
    page = move(manager, "transfer", ids[:1], user_id=people["bob"], reason="  ")
    assert "Say why the cases move." in page
    assert holders(database, ids) == [people["collector"]] * 3

    # Bob's cap: 1 open case; two do not fit, and the message names the cap
    cap = manager.post(
        f"/agency/collectors/{people['bob']}/cap",
        data={"csrf_token": csrf_token(manager, "/profile"), "cap": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Bob Second may hold 1 open cases." in cap
    assert database.scalar("SELECT case_cap FROM users WHERE id = :i", i=people["bob"]) == 1
    page = move(manager, "transfer", ids[:2], user_id=people["bob"], reason="rebalancing")
    assert "Bob Second may hold 1 open cases and holds 0: 2 more do not fit." in page
    assert holders(database, ids) == [people["collector"]] * 3

    # one fits: it moves to Bob and is gone (404) from the first collector at once
    page = move(manager, "transfer", ids[:1], user_id=people["bob"], reason="debtor speaks Cantonese")
    assert "1 cases were transferred." in page
    assert holders(database, ids) == [people["bob"], people["collector"], people["collector"]]
    assert collector.get(f"/workbench/cases/{ids[0]}").status_code == 404
    assert loan(database, ids[0]) not in collector.get("/workbench/cases").get_data(as_text=True)
    assert bob.get(f"/workbench/cases/{ids[0]}").status_code == 200
    assert loan(database, ids[0]) in bob.get("/workbench/cases").get_data(as_text=True)
    # Bob is full now: a dispatch to him is refused with the cap, and nothing moves
    spare = case_ids(database, 1, offset=10)
    page = move(manager, "dispatch", spare, back="pool", user_id=people["bob"])
    assert "Bob Second may hold 1 open cases and holds 1: 1 more do not fit." in page
    assert holders(database, spare) == [None]
    loads = manager.get("/agency/collectors").get_data(as_text=True)
    assert "Bob Second" in loads and "Cases in the pool: 297" in loads

    # the case page: masked, the owner, the assignment log with the reason
    detail = manager.get(f"/agency/cases/{ids[0]}").get_data(as_text=True)
    assert "debtor speaks Cantonese" in detail and "transferred" in detail and "dispatched" in detail
    assert "Org bank" in detail and "Personal data is masked on this page." in detail
    assert "440106197712084175" not in detail

    # back to the pool from the case page, with a reason
    token = csrf_token(manager, f"/agency/cases/{ids[1]}")
    response = manager.post(
        "/agency/cases/move?back=case",
        data={"csrf_token": token, "case_id": [ids[1]], "unassign": "1", "reason": "collector on leave"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/agency/cases/{ids[1]}")
    assert holders(database, ids[1:2]) == [None]
    assert pool_badge(manager) == 298
    assert collector.get(f"/workbench/cases/{ids[1]}").status_code == 404
    # the list's filters: the pool and a collector's cases
    back, link = loan(database, ids[1]), f'href="/agency/cases/{ids[1]}"'
    assert link in manager.get(f"/agency/cases?holding=unassigned&q={back}").get_data(as_text=True)
    assert link not in manager.get(f"/agency/cases?holding=assigned&q={back}").get_data(as_text=True)
    mine = manager.get(f"/agency/cases?user_id={people['collector']}").get_data(as_text=True)
    assert loan(database, ids[2]) in mine and loan(database, ids[0]) not in mine


def test_a_team_lead_sees_and_moves_only_their_teams_cases(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placed_with_east(world)
    people = east_people(world)
    ours, bobs = case_ids(database, 3), case_ids(database, 2, offset=3)
    dispatch(world, ours, people["collector"])  # the collector is in North
    dispatch(world, bobs, people["bob"])  # Bob is in no team
    lead = signed_in(eager_app, world.east.emails["team_lead"])

    listing = lead.get("/agency/cases").get_data(as_text=True)
    assert all(loan(database, i) in listing for i in ours)
    assert not any(loan(database, i) in listing for i in bobs)
    assert "Org bank" in listing
    assert pool_badge(lead) == 0  # the agency's pool is the manager's; a lead's pool is their team's
    assert lead.get(f"/agency/cases/{bobs[0]}").status_code == 404
    assert lead.get(f"/agency/cases/{ours[0]}").status_code == 200
    collectors = lead.get("/agency/collectors").get_data(as_text=True)
    assert "collector of east" in collectors and "Bob Second" not in collectors

    # not their case, not their collector: refused, nothing moves
    page = move(lead, "transfer", bobs[:1], user_id=people["collector"], reason="mine now")
    assert "Not among your cases" in page
    page = move(lead, "transfer", ours[:1], user_id=people["bob"], reason="help Bob")
    assert "This person is not one of your collectors." in page
    assert holders(database, ours + bobs) == [people["collector"]] * 3 + [people["bob"]] * 2
    cap = lead.post(
        f"/agency/collectors/{people['bob']}/cap",
        data={"csrf_token": csrf_token(lead, "/profile"), "cap": "0"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "This person is not one of your collectors." in cap
    assert database.scalar("SELECT case_cap FROM users WHERE id = :i", i=people["bob"]) is None

    # inside the team: back to the team's pool, then dispatched to the lead themself
    page = move(lead, "unassign", ours[:1], reason="needs a senior")
    assert "1 cases went back to the pool." in page
    assert pool_badge(lead) == 1
    assert pool_badge(signed_in(eager_app, world.east.admin_email)) == 300 - 5 + 1
    page = move(lead, "dispatch", ours[:1], back="pool", user_id=people["team_lead"])
    assert "1 cases were dispatched." in page
    assert holders(database, ours[:1]) == [people["team_lead"]]
    assert pool_badge(lead) == 0


def test_placements_received_with_extension_and_early_recall(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placement = placed_with_east(world)
    people = east_people(world)
    ids = case_ids(database, 2)
    dispatch(world, ids, people["collector"])
    manager = signed_in(eager_app, world.east.admin_email)
    collector = signed_in(eager_app, world.east.emails["collector"])

    listing = manager.get("/agency/placements").get_data(as_text=True)
    assert f"/agency/placements/{placement.id}" in listing and "Org bank" in listing
    assert f"/agency/placements/{placement.id}" not in manager.get("/agency/placements?tab=ended").get_data(
        as_text=True
    )
    url = f"/agency/placements/{placement.id}"
    page = manager.get(url).get_data(as_text=True)
    assert "2026" in page and "2027-03-31" in page and "300 / 300" in page
    assert loan(database, ids[0]) in page
    seen: set[str] = set()  # the placement's cases in keyset pages of 50
    next_url: str | None = url
    while next_url:
        html = manager.get(next_url).get_data(as_text=True)
        seen |= set(re.findall(r'href="/agency/cases/(\d+)"', html))
        following = re.search(r'href="(/agency/placements/\d+\?cursor=\d+)"', html)
        next_url = following.group(1) if following else None
    assert len(seen) == 300

    # an extension: the date must be later; the owner decides; then the end date has moved
    token = csrf_token(manager, url)
    refused = manager.post(
        f"{url}/extend", data={"csrf_token": token, "ends_on": "2027-03-01", "reason": "more time"}
    ).get_data(as_text=True)
    assert "The new end date must be after the current one." in refused
    no_reason = manager.post(f"{url}/extend", data={"csrf_token": token, "ends_on": "2027-04-30"})
    assert "Say why." in no_reason.get_data(as_text=True)
    asked = manager.post(
        f"{url}/extend",
        data={"csrf_token": token, "ends_on": "2027-04-30", "reason": "debtors promised to pay in April"},
    )
    assert asked.status_code == 302 and "side=outbox" in asked.headers["Location"]
    assert "Extend to 2027-04-30" in manager.get("/agency/approvals?side=outbox").get_data(as_text=True)
    bank = signed_in(eager_app, world.bank.admin_email)
    inbox = bank.get("/asset/approvals").get_data(as_text=True)
    assert "Extend to 2027-04-30 (was 2027-03-31)" in inbox and "Org east" in inbox
    approval_id = database.scalar("SELECT id FROM approvals WHERE kind = 'placement.extend'")
    decided = bank.post(
        f"/asset/approvals/{approval_id}",
        data={
            "csrf_token": csrf_token(bank, f"/asset/approvals/{approval_id}"),
            "approve": "1",
            "note": "ok",
        },
    )
    assert decided.status_code == 302
    ends_on = database.scalar("SELECT ends_on FROM placements WHERE id = :i", i=placement.id)
    assert ends_on == dt.date(2027, 4, 30)
    assert "2027-04-30" in manager.get(url).get_data(as_text=True)

    # an early recall of one case: once the owner agrees, the collector loses it (404)
    asked = manager.post(
        f"{url}/recall",
        data={"csrf_token": token, "case_id": [ids[0]], "reason": "debtor moved abroad", "submit": "1"},
    )
    assert asked.status_code == 302
    approval_id = database.scalar("SELECT id FROM approvals WHERE kind = 'placement.recall'")
    assert "Recall 1 cases early" in bank.get("/asset/approvals").get_data(as_text=True)
    assert collector.get(f"/workbench/cases/{ids[0]}").status_code == 200  # until the owner decides
    bank.post(
        f"/asset/approvals/{approval_id}",
        data={"csrf_token": csrf_token(bank, f"/asset/approvals/{approval_id}"), "approve": "1"},
    )
    assert database.scalar("SELECT agency_org_id FROM cases WHERE id = :i", i=ids[0]) is None
    assert collector.get(f"/workbench/cases/{ids[0]}").status_code == 404
    assert loan(database, ids[0]) not in collector.get("/workbench/cases").get_data(as_text=True)
    assert manager.get(f"/agency/cases/{ids[0]}").status_code == 404
    assert "300 / 299" in manager.get(url).get_data(as_text=True)
    assert collector.get(f"/workbench/cases/{ids[1]}").status_code == 200


def test_foreign_and_missing_ids_are_404(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placement = placed_with_east(world)
    people = east_people(world)
    ids = case_ids(database, 2)
    dispatch(world, ids, people["collector"])
    east = signed_in(eager_app, world.east.admin_email)
    for url in (f"/agency/cases/{ids[0]}", f"/agency/placements/{placement.id}"):
        assert east.get(url).status_code == 200  # positive control
    gets = [
        f"/agency/cases/{ids[0]}",
        f"/agency/placements/{placement.id}",
        f"/workbench/cases/{ids[0]}",
    ]
    posts = [
        (f"/agency/placements/{placement.id}/extend", {"ends_on": "2027-05-01", "reason": "x"}),
        (f"/agency/placements/{placement.id}/recall", {"reason": "x", "submit": "1"}),
        (f"/agency/collectors/{people['collector']}/cap", {"cap": "0"}),
    ]
    holding = (
        "SELECT c.id, h.assignee_user_id, c.agency_org_id FROM cases c "
        "LEFT JOIN case_holders h ON h.case_id = c.id ORDER BY c.id"
    )
    before = database.rows(holding)
    approvals_before = database.scalar("SELECT count(*) FROM approvals")
    for email in (world.west.admin_email, world.lender.admin_email):
        c = signed_in(eager_app, email)
        token = csrf_token(c, "/profile")
        for url in gets:
            assert c.get(url).status_code == 404, (email, url)
        for url, data in posts:
            assert c.post(url, data={"csrf_token": token, **data}).status_code == 404, (email, url)
    # ids that do not exist: the same answer for east's own manager
    for url in (
        f"/agency/cases/{MISSING}",
        f"/agency/placements/{MISSING}",
        f"/workbench/cases/{MISSING}",
    ):
        assert east.get(url).status_code == 404, url
    token = csrf_token(east, "/profile")
    capped = east.post(f"/agency/collectors/{MISSING}/cap", data={"csrf_token": token, "cap": "1"})
    assert capped.status_code == 404
    # a bulk move names cases in its body: another agency's manager moves nothing
    west = signed_in(eager_app, world.west.admin_email)
    page = move(west, "transfer", ids, user_id=world.west.users["collector"], reason="x")
    assert "Not among your cases" in page or "not one of your collectors" in page
    page = move(west, "unassign", ids, reason="x")
    assert "Not among your cases" in page
    assert database.rows(holding) == before
    assert database.scalar("SELECT count(*) FROM approvals") == approvals_before
    assert database.scalar("SELECT case_cap FROM users WHERE id = :i", i=people["collector"]) is None
    # west's own lists show nothing of east's
    west_list = west.get("/agency/cases").get_data(as_text=True)
    assert loan(database, ids[0]) not in west_list and "Org bank" not in west_list
    assert "Org bank" not in west.get("/agency/placements?tab=all").get_data(as_text=True)


def test_a_dispatch_waits_when_the_agency_wants_dispatches_approved(
    eager_app: Flask, database: Database
) -> None:
    from arrears.tenancy import tenant

    world = build_world()
    placed_with_east(world)
    people = east_people(world)
    with tenant(world.east.org_id):
        org = db.session.get(Organisation, world.east.org_id)
        org.settings = {**(org.settings or {}), "dispatch_needs_approval": True}
        db.session.commit()
    manager = signed_in(eager_app, world.east.admin_email)
    ids = case_ids(database, 2)
    response = manager.post(
        "/agency/cases/move?back=pool",
        data={
            "csrf_token": csrf_token(manager, "/profile"),
            "case_id": ids,
            "dispatch": "1",
            "user_id": people["collector"],
        },
    )
    assert response.status_code == 302
    assert "2 cases wait for approval before they are dispatched." in manager.get(
        "/agency/cases/pool"
    ).get_data(as_text=True)
    assert holders(database, ids) == [None, None]  # nothing moves before the approval
    assert (
        database.scalar("SELECT status FROM allocation_runs WHERE level = 'dispatch'") == "pending_approval"
    )
    waiting = database.scalar(
        "SELECT count(*) FROM approvals WHERE kind = 'allocation.run' AND org_id = :o AND status = 'pending'",
        o=world.east.org_id,
    )
    assert waiting == 1
