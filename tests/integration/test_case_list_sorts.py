"""The workbench's case list against PostgreSQL: every sort walked in keyset pages whose boundaries fall
inside runs of ties and of NULLs (no follow-up, no promise, never contacted), compared with the same
order computed here; the workbench filters (bucket, pending promise, follow-up due, status) and quick
search (start of a loan number, part of a name, an exact ID number through the blind index); a team
lead's team view; cursors of another sort or forged are refused."""

from __future__ import annotations

import csv
import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from arrears.cases import cases as case_service
from arrears.cases.scopes import case_scope
from arrears.errors import ValidationFailed
from arrears.tenancy import tenant
from tests.builders.cases import IMPORTS, case_ids
from tests.builders.placements import dispatch, east_people, placed_with_east
from tests.builders.tenants import World, build_world, get_user
from tests.conftest import Database, signed_in

BUSINESS_DATE = dt.date(2026, 11, 15)
_ROW = re.compile(r'href="/workbench/cases/(\d+)"')


def _sql(database: Database, sql: str, **params: Any) -> None:
    with database.owner_engine.begin() as conn:
        conn.execute(text(sql), params)


def _mine(world: World, database: Database) -> tuple[dict[str, int], list[int], list[int]]:
    """East holds bank's 300 cases; 60 dispatched to the collector (in team North, led by the team
    lead), 5 to Bob (no team). The sort keys of the collector's cases get ties and NULLs: priority
    0-2; a follow-up for three in four; a promise for one in three; never contacted one in five."""
    placed_with_east(world)
    people = east_people(world)
    mine, bobs = case_ids(database, 60), case_ids(database, 5, offset=60)
    dispatch(world, mine, people["collector"])
    dispatch(world, bobs, people["bob"])
    _sql(
        database,
        """
        UPDATE cases SET
            priority = id % 3,
            next_action_on = CASE WHEN id % 4 = 0 THEN NULL ELSE DATE '2026-11-10' + (id % 9)::int END,
            promise_due_on = CASE WHEN id % 3 = 0 THEN DATE '2026-11-12' + (id % 4)::int END,
            last_contact_at = CASE WHEN id % 5 = 0 THEN NULL
                ELSE TIMESTAMPTZ '2026-11-01 08:00+00' + ((id % 7) || ' hours')::interval END
        WHERE id = ANY(:ids)
        """,
        ids=mine,
    )
    _sql(
        database,
        "UPDATE organisations SET settings = CAST(:s AS json) WHERE id = :o",
        s=f'{{"business_date": "{BUSINESS_DATE.isoformat()}"}}',
        o=world.east.org_id,
    )
    return people, mine, bobs


def _expected(rows: list[tuple[int, Any]], sort: case_service.Sort) -> list[int]:
    """The order computed in Python: (value, id) in the sort's direction, the NULLs at their end."""
    descending = sort.direction == "desc"
    values = sorted((r for r in rows if r[1] is not None), key=lambda r: (r[1], r[0]), reverse=descending)
    nulls = sorted((r for r in rows if r[1] is None), key=lambda r: r[0], reverse=descending)
    return [r[0] for r in (nulls + values if sort.nulls_first else values + nulls)]


def _walk(user_id: int, org_id: int, f: case_service.CaseFilter, limit: int) -> list[list[int]]:
    """Every page of the user's list, as the lists of ids of each page."""
    pages: list[list[int]] = []
    cursor: str | None = None
    with tenant(org_id):
        user = get_user(user_id)
        while True:
            rows, cursor = case_service.page(user.org, f, limit=limit, cursor=cursor, scope=case_scope(user))
            pages.append([c.id for c in rows])
            if cursor is None:
                return pages


def test_every_sort_pages_through_ties_and_nulls(eager_app: Flask, database: Database) -> None:
    world = build_world()
    people, mine, _ = _mine(world, database)
    assert len(case_service.SORTS) == 12
    for key, sort in case_service.SORTS.items():
        rows = [
            (r[0], r[1])
            for r in database.rows(f"SELECT id, {sort.column.key} FROM cases WHERE id = ANY(:ids)", ids=mine)
        ]
        expected = _expected(rows, sort)
        f = case_service.CaseFilter(assignee_id=people["collector"], sort=key)
        pages = _walk(people["collector"], world.east.org_id, f, limit=7)
        walked = [i for p in pages for i in p]
        assert walked == expected, key
        assert [len(p) for p in pages] == [7] * 8 + [4], key  # 60 rows, no repeats, none lost
        if sort.column.nullable:
            # at least one page boundary falls strictly inside the run of NULLs
            values = dict(rows)
            nulls = [n for n, i in enumerate(expected) if values[i] is None]
            assert any(n % 7 == 0 and n - 1 in nulls for n in nulls), key
    # highest priority first, ties by id the same way; never contacted first for "oldest contact"
    by_priority = [
        i
        for p in _walk(
            people["collector"],
            world.east.org_id,
            case_service.CaseFilter(assignee_id=people["collector"], sort="-priority"),
            limit=50,
        )
        for i in p
    ]
    assert [i % 3 for i in by_priority[:3]] == [2, 2, 2] and by_priority[0] > by_priority[1]
    oldest = [
        i
        for p in _walk(
            people["collector"],
            world.east.org_id,
            case_service.CaseFilter(assignee_id=people["collector"], sort="last_contact"),
            limit=50,
        )
        for i in p
    ]
    assert all(i % 5 == 0 for i in oldest[:12]) and oldest[12] % 5 != 0
    newest = [
        i
        for p in _walk(
            people["collector"],
            world.east.org_id,
            case_service.CaseFilter(assignee_id=people["collector"], sort="-last_contact"),
            limit=50,
        )
        for i in p
    ]
    assert all(i % 5 == 0 for i in newest[-12:]) and newest[-13] % 5 != 0
    soonest = [
        i
        for p in _walk(
            people["collector"],
            world.east.org_id,
            case_service.CaseFilter(assignee_id=people["collector"], sort="next_action"),
            limit=50,
        )
        for i in p
    ]
    assert all(i % 4 == 0 for i in soonest[-15:]) and soonest[0] % 4 != 0


def test_cursors_of_another_sort_or_forged_are_refused(eager_app: Flask, database: Database) -> None:
    world = build_world()
    people, _, _ = _mine(world, database)
    with tenant(world.east.org_id):
        user = get_user(people["collector"])

        def cursor_of(sort: str) -> str:
            f = case_service.CaseFilter(assignee_id=user.id, sort=sort)
            _, cursor = case_service.page(user.org, f, limit=3, scope=case_scope(user))
            assert cursor
            return cursor

        nulls_first = cursor_of("last_contact")  # the first 3 are never contacted: a NULL value
        for sort, cursor in (
            ("next_action", cursor_of("-amount")),
            ("-amount", cursor_of("dpd")),
            ("priority", cursor_of("last_contact")),
            ("-dpd", nulls_first),  # NULL, but due dates are never NULL
            ("dpd", case_service._encode(["2026-11-01", "7"])),
            ("dpd", "not-a-cursor"),
        ):
            f = case_service.CaseFilter(assignee_id=user.id, sort=sort)
            with pytest.raises(ValidationFailed) as caught:
                case_service.page(user.org, f, limit=3, cursor=cursor, scope=case_scope(user))
            assert caught.value.field == "cursor", sort
        with pytest.raises(ValidationFailed) as caught:
            case_service.page(user.org, case_service.CaseFilter(sort="soonest"), scope=case_scope(user))
        assert caught.value.field == "sort"


def _listed(c: Any, url: str) -> tuple[list[int], str | None]:
    page = c.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    following = re.search(r'href="(/workbench/cases\?[^"]*cursor=[^"]+)"', html)
    return [int(i) for i in _ROW.findall(html)], following.group(1).replace(
        "&amp;", "&"
    ) if following else None


def _walk_pages(c: Any, url: str) -> list[int]:
    out: list[int] = []
    next_url: str | None = url
    while next_url:
        ids, next_url = _listed(c, next_url)
        out.extend(ids)
    return out


def _ids(database: Database, where: str, mine: list[int], **params: Any) -> set[int]:
    sql = f"SELECT id FROM cases WHERE id = ANY(:ids) AND {where}"
    return {r[0] for r in database.rows(sql, ids=mine, **params)}


def test_workbench_filters_and_quick_search(eager_app: Flask, database: Database) -> None:
    world = build_world()
    _, mine, bobs = _mine(world, database)
    # due dates across the buckets, counted to east's business date
    _sql(
        database,
        "UPDATE cases SET due_date = CAST(:d AS date) - ((id % 5) * 30)::int WHERE id = ANY(:ids)",
        d=BUSINESS_DATE.isoformat(),
        ids=mine + bobs,
    )
    collector = signed_in(eager_app, world.east.emails["collector"])

    # every filter carried to the next page: 60 open cases, 50 + 10
    first, next_url = _listed(collector, "/workbench/cases?status=open&sort=next_action")
    assert len(first) == 50 and next_url and "status=open" in next_url and "sort=next_action" in next_url
    assert sorted(_walk_pages(collector, "/workbench/cases?status=open&sort=next_action")) == sorted(mine)
    assert _walk_pages(collector, "/workbench/cases?status=closed") == []

    days = {
        "M0": "id % 5 = 0",
        "M1": "id % 5 = 1",
        "M2": "id % 5 = 2",
        "M3": "id % 5 = 3",
        "M4+": "id % 5 = 4",
    }
    for name, where in days.items():
        listed = _walk_pages(collector, f"/workbench/cases?bucket={name.replace('+', '%2B')}")
        assert set(listed) == _ids(database, where, mine) and listed, name
    bad = collector.get("/workbench/cases?bucket=M9").get_data(as_text=True)
    assert "Unknown bucket: M9" in bad and not _ROW.findall(bad)

    promised = set(_walk_pages(collector, "/workbench/cases?promise=1"))
    assert promised == _ids(database, "promise_due_on IS NOT NULL", mine) and 0 < len(promised) < 60
    due = set(_walk_pages(collector, "/workbench/cases?due=1"))
    assert due == _ids(database, "next_action_on <= :d", mine, d=BUSINESS_DATE) and 0 < len(due) < 45
    both = set(_walk_pages(collector, "/workbench/cases?due=1&promise=1&bucket=M1"))
    assert both == promised & due & _ids(database, "id % 5 = 1", mine)

    # quick search: the start of a loan number, part of a name, an exact ID number; mine only
    loans = dict(database.rows("SELECT id, loan_no FROM cases WHERE id = ANY(:ids)", ids=mine + bobs))
    prefix = loans[mine[12]][:-1]
    found = set(_walk_pages(collector, f"/workbench/cases?q={prefix}"))
    assert found == {i for i in mine if loans[i].startswith(prefix)} and 1 < len(found) < 60
    assert set(_walk_pages(collector, f"/workbench/cases?q={loans[mine[3]]}")) == {mine[3]}
    assert _walk_pages(collector, f"/workbench/cases?q={loans[bobs[0]]}") == []  # Bob's, not mine
    assert _walk_pages(collector, "/workbench/cases?q=CU%25") == []  # a wildcard is a plain character
    with open(IMPORTS / "cases_utf8_bom.csv", encoding="utf-8-sig") as source:
        people_by_loan = {row["借据号"]: row for row in csv.DictReader(source)}
    row = people_by_loan[loans[mine[7]]]
    assert mine[7] in _walk_pages(collector, f"/workbench/cases?q={row['身份证号']}")
    assert mine[7] in _walk_pages(collector, f"/workbench/cases?q={row['客户姓名']}")
    assert set(_walk_pages(collector, f"/workbench/cases?q={row['身份证号']}")) <= set(mine)


def test_a_team_lead_sees_the_teams_cases(eager_app: Flask, database: Database) -> None:
    world = build_world()
    people, mine, bobs = _mine(world, database)
    own = case_ids(database, 2, offset=100)
    dispatch(world, own, people["team_lead"])  # the lead holds two cases too
    lead = signed_in(eager_app, world.east.emails["team_lead"])
    assert sorted(_walk_pages(lead, "/workbench/cases")) == own  # my cases: the lead's own
    team = _walk_pages(lead, "/workbench/cases?view=team&sort=-priority")
    assert sorted(team) == sorted(mine + own)  # the team North's (the collector's) and own; not Bob's
    assert _listed(lead, "/workbench/cases?view=team")[1] is not None  # 62 cases: a next page
    assert sorted(_walk_pages(lead, "/workbench/cases?view=team&promise=1")) == sorted(
        _ids(database, "promise_due_on IS NOT NULL", mine + own)
    )
    # a collector's and Bob's "team" view is their own cases still
    collector = signed_in(eager_app, world.east.emails["collector"])
    assert sorted(_walk_pages(collector, "/workbench/cases?view=team")) == sorted(mine)
    bob = signed_in(eager_app, "bob@east.test.example")
    assert sorted(_walk_pages(bob, "/workbench/cases?view=team")) == sorted(bobs)
