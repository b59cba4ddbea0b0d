"""The collector workbench's list of my cases and its minimal case page, against PostgreSQL: only the
cases assigned to me, sorted by days past due or amount, in keyset pages; a case transferred away or
recalled by the owner is gone (404) at once; nobody else's cases, whatever the id."""

from __future__ import annotations

import re
from decimal import Decimal

from flask import Flask

from arrears.allocation import assignments, placements
from arrears.extensions import db
from arrears.tenancy import tenant
from tests.builders.cases import case_ids
from tests.builders.placements import dispatch, east_people, placed_with_east
from tests.builders.tenants import build_world, get_user
from tests.conftest import Database, signed_in

MISSING = 10**9

_ROW = re.compile(r'href="/workbench/cases/(\d+)"')


def _listed(c, url: str) -> tuple[list[int], str | None]:  # type: ignore[no-untyped-def]
    """The case ids a workbench page lists, in order, and its next page's URL."""
    page = c.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    following = re.search(r'href="(/workbench/cases\?[^"]*cursor=[^"]+)"', html)
    next_url = following.group(1).replace("&amp;", "&") if following else None
    return [int(i) for i in _ROW.findall(html)], next_url


def _walk(c, url: str) -> list[int]:  # type: ignore[no-untyped-def]
    out: list[int] = []
    next_url: str | None = url
    while next_url:
        ids, next_url = _listed(c, next_url)
        out.extend(ids)
    return out


def test_my_cases_sorted_in_keyset_pages(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placed_with_east(world)
    people = east_people(world)
    mine, bobs = case_ids(database, 60), case_ids(database, 5, offset=60)
    dispatch(world, mine, people["collector"])
    dispatch(world, bobs, people["bob"])
    collector = signed_in(eager_app, world.east.emails["collector"])

    first, next_url = _listed(collector, "/workbench/cases")
    assert len(first) == 50 and next_url is not None
    by_dpd = _walk(collector, "/workbench/cases")
    assert sorted(by_dpd) == sorted(mine)  # every one of mine once, nobody else's
    expected = [
        r[0]
        for r in database.rows(
            "SELECT c.id FROM cases c JOIN case_holders h ON h.case_id = c.id WHERE h.assignee_user_id = :u "
            "ORDER BY c.due_date ASC, c.id ASC",
            u=people["collector"],
        )
    ]
    assert by_dpd == expected  # most days past due first
    by_amount = _walk(collector, "/workbench/cases?sort=-amount")
    amounts = dict(database.rows("SELECT id, outstanding FROM cases WHERE id = ANY(:ids)", ids=mine))
    assert sorted(by_amount) == sorted(mine)
    assert [amounts[i] for i in by_amount] == sorted(amounts.values(), reverse=True)
    smallest = _walk(collector, "/workbench/cases?sort=amount")
    assert [amounts[i] for i in smallest] == sorted(amounts.values())
    home = collector.get("/workbench/").get_data(as_text=True)
    assert re.search(r'id="open-cases">60<', home)
    total = sum(amounts.values(), Decimal(0))
    assert f"{total:,.2f}" in home
    # the case page: masked, mine
    case = collector.get(f"/workbench/cases/{mine[0]}").get_data(as_text=True)
    number = str(database.scalar("SELECT loan_no FROM cases WHERE id = :i", i=mine[0]))
    assert number in case and "Personal data is masked." in case
    assert "*" in case
    # nobody else's: another collector's case, a missing id, a bad cursor
    assert collector.get(f"/workbench/cases/{bobs[0]}").status_code == 404
    assert collector.get(f"/workbench/cases/{MISSING}").status_code == 404
    bad = collector.get("/workbench/cases?cursor=not-a-cursor")
    assert bad.status_code == 200 and "The cursor is not valid" in bad.get_data(as_text=True)
    # a field visitor has no workbench; another agency's collector sees none of east's cases
    assert signed_in(eager_app, world.east.emails["field_visitor"]).get("/workbench/").status_code == 404
    west = signed_in(eager_app, world.west.emails["collector"])
    assert _listed(west, "/workbench/cases")[0] == []
    assert west.get(f"/workbench/cases/{mine[0]}").status_code == 404


def test_a_case_transferred_away_or_recalled_is_gone_at_once(eager_app: Flask, database: Database) -> None:
    world = build_world()
    placed_with_east(world)
    people = east_people(world)
    ids = case_ids(database, 3)
    dispatch(world, ids, people["collector"])
    collector = signed_in(eager_app, world.east.emails["collector"])
    assert sorted(_walk(collector, "/workbench/cases")) == ids
    for case_id in ids:
        assert collector.get(f"/workbench/cases/{case_id}").status_code == 200

    with tenant(world.east.org_id):  # 转派 to Bob
        assert assignments.transfer(get_user(world.east.admin_id), ids[:1], people["bob"], "language") == 1
    assert collector.get(f"/workbench/cases/{ids[0]}").status_code == 404
    assert ids[0] not in _walk(collector, "/workbench/cases")
    bob = signed_in(eager_app, "bob@east.test.example")
    assert _walk(bob, "/workbench/cases") == ids[:1]

    with tenant(world.bank.org_id):  # the owner takes one back (退案)
        assert placements.recall_cases(get_user(world.bank.admin_id), ids[1:2], "paid at the branch") == 1
        db.session.commit()
    assert collector.get(f"/workbench/cases/{ids[1]}").status_code == 404
    assert _walk(collector, "/workbench/cases") == ids[2:]
    # the owner recalls the whole placement: the collector has nothing left
    with tenant(world.bank.org_id):
        from sqlalchemy import select

        from arrears.models import Placement

        placement = db.session.scalar(select(Placement))
        placements.recall_placement(get_user(world.bank.admin_id), placement, "contract ended")
    assert collector.get(f"/workbench/cases/{ids[2]}").status_code == 404
    assert _walk(collector, "/workbench/cases") == []
    assert _walk(bob, "/workbench/cases") == []
    assert "Cases appear here once your agency dispatches them to you." in collector.get(
        "/workbench/cases"
    ).get_data(as_text=True)
