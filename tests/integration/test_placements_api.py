"""``/api/v1`` placements, strategies, runs and assignments end to end: an owner previews, a second
person approves, apply runs in a real rq worker process; the agency sees exactly what was placed
with it, masked unless the owner granted unmasking, and nothing after a recall."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from arrears.cases.imports.batches import import_cases
from arrears.extensions import db
from arrears.models import Case, Organisation, Partnership
from arrears.tenancy import tenant
from tests.builders.tenants import PASSWORD, World
from tests.conftest import SHARED, api_token

DATA = SHARED / "data" / "imports"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _checker_token(world: World) -> str:
    from arrears.orgs import roles, users

    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        role = roles.builtin_role(org, "owner_admin")
        users.create_user(
            None,
            org=org,
            email="checker@bank.test.example",
            name="Checker",
            password=PASSWORD,
            role_ids=[role.id],
        )
    return api_token("checker@bank.test.example")


def _wait_applied(client: FlaskClient, token: str, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/allocation-runs/{run_id}", headers=bearer(token)).get_json()
        if run["status"] in ("applied", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not applied: {run}")


def test_place_review_apply_and_recall_through_the_api(app: Flask, world: World, rq_worker: Any) -> None:
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        import_cases(org, DATA / "cases_utf8_bom.csv", "cases.csv", dry_run=False)
    bank, checker = api_token(world.bank.admin_email), _checker_token(world)
    east = api_token(world.east.admin_email)
    west = api_token(world.west.admin_email)
    client = app.test_client()

    # a strategy: bad rules are refused with the place of every problem, nothing written
    bad = client.post(
        "/api/v1/strategies",
        headers=bearer(bank),
        json={"name": "S", "level": "placement", "rules": [{"name": "x", "filter": {"dpd_min": "soon"}}]},
    )
    assert bad.status_code == 422
    assert "rules[0].filter.dpd_min" in bad.get_data(as_text=True)
    assert client.get("/api/v1/strategies", headers=bearer(bank)).get_json() == []
    made = client.post(
        "/api/v1/strategies",
        headers=bearer(bank),
        json={
            "name": "Big first",
            "level": "placement",
            "rules": [
                {"name": "Large", "filter": {"amount_min": "5000"}, "method": "balanced_amount"},
                {"name": "Rest", "method": "round_robin"},
            ],
        },
    )
    assert made.status_code == 201, made.get_json()
    strategy = made.get_json()
    changed = client.put(
        f"/api/v1/strategies/{strategy['id']}",
        headers=bearer(bank),
        json={
            "name": "Big first",
            "rules": [
                {"name": "Large", "filter": {"amount_min": "8000"}, "method": "balanced_amount"},
                {"name": "Rest", "method": "round_robin"},
            ],
            "note": "fewer large",
        },
    ).get_json()
    assert changed["version"] == 2
    versions = client.get(f"/api/v1/strategies/{strategy['id']}/versions", headers=bearer(bank)).get_json()
    assert versions[0]["changes"] == ["“Large”: filter amount_min 5000 → 8000"]
    assert versions[0]["created_by"] == world.bank.admin_email

    # preview: per target counts, nothing placed yet
    preview = client.post(
        "/api/v1/allocation-runs",
        headers=bearer(bank),
        json={
            "level": "placement",
            "strategy_id": strategy["id"],
            "ends_on": "2027-03-31",
            "targets": [{"id": world.east.org_id}],
        },
    )
    assert preview.status_code == 201, preview.get_json()
    run = preview.get_json()
    assert run["status"] == "previewed" and run["allocated_count"] == 300 and run["strategy_version"] == 2
    assert run["summary"]["targets"][0]["count"] == 300
    assert client.get("/api/v1/cases", headers=bearer(east)).get_json()["items"] == []
    results = client.get(f"/api/v1/allocation-runs/{run['id']}/results?limit=100", headers=bearer(bank))
    page = results.get_json()
    assert len(page["items"]) == 100 and page["next_cursor"] == page["items"][-1]["case_id"]

    # review: applying before approval is refused; the maker cannot approve their own run
    assert client.post(f"/api/v1/allocation-runs/{run['id']}/apply", headers=bearer(bank)).status_code == 409
    submitted = client.post(f"/api/v1/allocation-runs/{run['id']}/submit", headers=bearer(bank), json={})
    assert submitted.status_code == 202
    own = client.post(
        f"/api/v1/allocation-runs/{run['id']}/decision", headers=bearer(bank), json={"approve": True}
    )
    assert own.status_code == 403
    approved = client.post(
        f"/api/v1/allocation-runs/{run['id']}/decision", headers=bearer(checker), json={"approve": True}
    )
    assert approved.get_json()["status"] == "approved"

    # apply on the queue, once
    started = client.post(f"/api/v1/allocation-runs/{run['id']}/apply", headers=bearer(bank))
    assert started.status_code == 202 and started.get_json()["job_id"]
    assert client.post(f"/api/v1/allocation-runs/{run['id']}/apply", headers=bearer(bank)).status_code == 409
    done = _wait_applied(client, bank, run["id"])
    assert (done["status"], done["applied_count"], done["skipped_count"]) == ("applied", 300, 0)

    # the agency: its placement and its cases, masked (the bank did not grant unmasking)
    placements = client.get("/api/v1/placements", headers=bearer(east)).get_json()
    assert [(p["agency_org_id"], p["case_count"], p["status"]) for p in placements] == [
        (world.east.org_id, 300, "active")
    ]
    placement_id = placements[0]["id"]
    listed = client.get("/api/v1/cases?limit=500", headers=bearer(east)).get_json()["items"]
    assert len(listed) == 300
    assert all(c["debtor"]["masked"] for c in listed)
    first = listed[0]["id"]
    assert client.get(f"/api/v1/placements/{placement_id}", headers=bearer(west)).status_code == 404
    assert client.get(f"/api/v1/cases/{first}", headers=bearer(west)).status_code == 404

    # the owner grants unmasking: now the agency's manager sees it in clear (and it is audited)
    with tenant(world.bank.org_id):
        partnership = db.session.get(Partnership, world.bank_east)
        partnership.grants = [*partnership.grants, "pii.unmask"]
        db.session.commit()
    assert client.get(f"/api/v1/cases/{first}", headers=bearer(east)).get_json()["debtor"]["masked"] is False

    # an extension request from the agency goes to the owner
    asked = client.post(
        f"/api/v1/placements/{placement_id}/extension",
        headers=bearer(east),
        json={"ends_on": "2027-04-30", "reason": "promises to pay"},
    )
    assert asked.status_code == 202 and asked.get_json()["kind"] == "placement.extend"

    # recall one case: the agency loses it at once
    refused = client.post(
        f"/api/v1/placements/{placement_id}/recall", headers=bearer(bank), json={"case_ids": [first]}
    )
    assert refused.status_code == 422  # the reason is required
    recalled = client.post(
        f"/api/v1/placements/{placement_id}/recall",
        headers=bearer(bank),
        json={"case_ids": [first], "reason": "complaint"},
    )
    assert recalled.get_json() == {"moved": 1}
    assert client.get(f"/api/v1/cases/{first}", headers=bearer(east)).status_code == 404
    assert client.post(
        f"/api/v1/placements/{placement_id}/recall", headers=bearer(east), json={"reason": "x"}
    ).status_code in (403, 404)  # the agency cannot recall


def test_assignments_through_the_api(app: Flask, world: World) -> None:
    from tests.builders.placements import dispatch_to, placed_with_east

    placed_with_east(world)
    with tenant(world.bank.org_id):
        ids = db.session.scalars(select(Case.id).order_by(Case.id).limit(3)).all()
    dispatch_to(world, list(ids), "collector")
    east = api_token(world.east.admin_email)
    client = app.test_client()

    def collector_sees() -> set[int]:
        from arrears.cases.scopes import case_scope
        from arrears.models import User

        with tenant(world.east.org_id):
            db.session.expire_all()
            collector = db.session.get(User, world.east.users["collector"])
            return set(db.session.scalars(select(Case.id).where(case_scope(collector))))

    assert collector_sees() == set(ids)
    moved = client.post(
        "/api/v1/assignments/transfer",
        headers=bearer(east),
        json={"case_ids": [ids[0]], "to_user_id": world.east.users["team_lead"], "reason": "language"},
    )
    assert moved.get_json() == {"moved": 1}
    assert collector_sees() == set(ids[1:])
    log = client.get(f"/api/v1/cases/{ids[0]}/assignments", headers=bearer(east)).get_json()
    assert [e["kind"] for e in log] == ["transfer", "dispatch"]
    assert log[0]["reason"] == "language"
    west = api_token(world.west.admin_email)  # another agency: not its cases
    assert (
        client.post(
            "/api/v1/assignments/transfer",
            headers=bearer(west),
            json={"case_ids": [ids[1]], "to_user_id": world.west.users["collector"], "reason": "x"},
        ).status_code
        == 422
    )
    assert client.get(f"/api/v1/cases/{ids[1]}/assignments", headers=bearer(west)).status_code == 404
