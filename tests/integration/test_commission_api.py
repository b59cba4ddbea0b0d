"""``/api/v1/commission`` end to end with tokens: the owner sets up a contract, the period is settled
by its job, the statement adjusted, approved by another person and paid; errors name their field;
an agency reads only its own statements and records; another owner sees nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from arrears.extensions import db
from arrears.kernel.jobs.runner import run
from arrears.models import JobRecord, JobStatus
from arrears.tenancy import tenant
from tests.builders.commission import RATES, at, bank_checker, pay, place
from tests.builders.tenants import World, make_tenant, partner
from tests.conftest import api_token

BASE = "/api/v1/commission"


def _auth(email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token(email)}"}


def _settled(client: FlaskClient, headers: dict[str, str], org_id: int, period: str) -> dict[str, Any]:
    """Queue the settlement through the API, then run its job here (eagerly, in its tenant)."""
    queued = client.post(f"{BASE}/settlements", json={"period": period}, headers=headers)
    assert queued.status_code == 202, queued.get_data(as_text=True)
    body = queued.get_json()
    assert body["period"] == period and body["job_id"]
    run(body["job_id"], org_id)
    with tenant(org_id):
        job = db.session.get(JobRecord, body["job_id"], populate_existing=True)
        assert job.status == JobStatus.FINISHED, job.error
        return dict(job.result)


def test_owner_contract_settlement_adjustment_approval_and_payment(app: Flask, world: World) -> None:
    cases = place(world, ["M1", "M2"], world.east.org_id)
    client = app.test_client()
    owner = _auth(world.bank.admin_email)
    with tenant(world.bank.org_id):
        checker = _auth(bank_checker(world).email)

    made = client.post(
        f"{BASE}/contracts",
        json={
            "kind": "agency",
            "name": "East 2026",
            "agency_org_id": world.east.org_id,
            "effective_from": "2026-01-01",
            "rates": RATES,
            "tier_basis": "collected",
            "tiers": [{"threshold": "1000", "bonus_rate": "0.01"}],
            "min_amount": "50.00",
        },
        headers=owner,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    contract = made.get_json()
    assert (contract["kind"], contract["status"], contract["agency_org_id"]) == (
        "agency",
        "active",
        world.east.org_id,
    )
    assert [v["number"] for v in contract["versions"]] == [1]
    assert contract["versions"][0]["rates"]["M2"] == "0.120000"
    assert contract["versions"][0]["min_amount"] == "50.00"
    # a second version, read back newest first
    added = client.post(
        f"{BASE}/contracts/{contract['id']}/versions",
        json={
            "effective_from": "2026-10-15",
            "rates": {**RATES, "M1": "10%"},
            "tier_basis": "collected",
            "tiers": [{"threshold": "1000", "bonus_rate": "0.01"}],
            "min_amount": "50.00",
        },
        headers=owner,
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    assert added.get_json()["number"] == 2
    one = client.get(f"{BASE}/contracts/{contract['id']}", headers=owner).get_json()
    assert [v["number"] for v in one["versions"]] == [2, 1]
    assert [c["id"] for c in client.get(f"{BASE}/contracts", headers=owner).get_json()] == [contract["id"]]

    pay(
        world,
        [
            (cases[0], Decimal("1000.05"), at(dt.date(2026, 10, 5))),  # v1, M1 8 %: 80.00
            (cases[1], Decimal("200.00"), at(dt.date(2026, 10, 20))),  # v2, M2 12 %: 24.00
        ],
    )
    result = _settled(client, owner, world.bank.org_id, "2026-10")
    # 104.00 + tier 1 % of 1,200.05 (12.00)
    assert (result["statements"], result["net"]) == (1, "116.00")

    listed = client.get(f"{BASE}/statements?period=2026-10", headers=owner).get_json()
    assert listed["total"] == 1 and listed["page"] == 1
    statement = listed["items"][0]
    assert (statement["status"], statement["net"], statement["payee_key"]) == (
        "draft",
        "116.00",
        f"agency:{world.east.org_id}",
    )
    sid = statement["id"]
    detail = client.get(f"{BASE}/statements/{sid}", headers=owner).get_json()
    assert [(line["bucket"], line["count"], line["commission"]) for line in detail["lines"]] == [
        ("M1", 1, "80.00"),
        ("M2", 1, "24.00"),
    ]
    assert [(a["kind"], a["amount"]) for a in detail["adjustment_lines"]] == [("tier", "12.00")]
    assert isinstance(detail["net"], str) and isinstance(detail["base_amount"], str)

    records = client.get(f"{BASE}/records?period=2026-10&bucket=M2", headers=owner).get_json()
    assert [(r["bucket"], r["rate"], r["commission"], r["statement_id"]) for r in records["items"]] == [
        ("M2", "0.120000", "24.00", sid)
    ]
    assert client.get(f"{BASE}/records?unsettled=1", headers=owner).get_json()["total"] == 0
    paged = client.get(f"{BASE}/records?limit=1&page=2", headers=owner).get_json()
    assert (paged["total"], paged["pages"], len(paged["items"])) == (2, 2, 1)

    # a deduction, as a string; a number for money is refused naming the field
    floated = client.post(
        f"{BASE}/statements/{sid}/adjustments", json={"amount": -6.5, "reason": "x"}, headers=owner
    )
    assert floated.status_code == 422 and floated.get_json()["error"]["field"] == "amount"
    adjusted = client.post(
        f"{BASE}/statements/{sid}/adjustments",
        json={"amount": "-6.00", "reason": "late report"},
        headers=owner,
    )
    assert adjusted.status_code == 201, adjusted.get_data(as_text=True)
    assert adjusted.get_json()["net"] == "110.00"
    assert {a["kind"] for a in adjusted.get_json()["adjustment_lines"]} == {"tier", "manual"}

    # paid before approval: a conflict; who adjusted does not approve
    early = client.post(f"{BASE}/statements/{sid}/paid", json={"reference": "W1"}, headers=checker)
    assert early.status_code == 409
    assert client.post(f"{BASE}/statements/{sid}/approve", json={}, headers=owner).status_code == 403
    approved = client.post(f"{BASE}/statements/{sid}/approve", headers=checker)  # no body needed
    assert approved.status_code == 200, approved.get_data(as_text=True)
    assert approved.get_json()["status"] == "approved" and approved.get_json()["approved_at"]
    again = client.post(f"{BASE}/statements/{sid}/approve", json={"note": "again"}, headers=checker)
    assert again.status_code == 409
    # closed: no adjustment, and a re-run leaves it alone
    closed = client.post(
        f"{BASE}/statements/{sid}/adjustments", json={"amount": "1.00", "reason": "x"}, headers=owner
    )
    assert closed.status_code == 409
    assert _settled(client, owner, world.bank.org_id, "2026-10")["closed"] == 1
    missing_ref = client.post(f"{BASE}/statements/{sid}/paid", json={"reference": " "}, headers=checker)
    assert missing_ref.status_code == 422 and missing_ref.get_json()["error"]["field"] == "reference"
    paid = client.post(f"{BASE}/statements/{sid}/paid", json={"reference": "WIRE-1"}, headers=checker)
    assert paid.status_code == 200, paid.get_data(as_text=True)
    assert (paid.get_json()["status"], paid.get_json()["paid_reference"], paid.get_json()["net"]) == (
        "paid",
        "WIRE-1",
        "110.00",
    )
    assert client.get(f"{BASE}/statements?status=paid", headers=owner).get_json()["total"] == 1
    assert client.get(f"{BASE}/statements?status=draft", headers=owner).get_json()["total"] == 0

    # ending the contract
    ended = client.post(f"{BASE}/contracts/{contract['id']}/end", headers=owner)
    assert ended.status_code == 200 and ended.get_json()["status"] == "ended"


def test_errors_name_their_field(app: Flask, world: World) -> None:
    client = app.test_client()
    owner = _auth(world.bank.admin_email)
    base = {
        "kind": "agency",
        "name": "East",
        "agency_org_id": world.east.org_id,
        "effective_from": "2026-01-01",
    }
    for body, field in [
        ({**base, "rates": {**RATES, "M2": "1.5"}}, "rates.M2"),
        ({**base, "rates": {**RATES, "M2": 0.12}}, "rates.M2"),  # a JSON number: refused
        ({**base, "rates": {k: v for k, v in RATES.items() if k != "M2"}}, "rates.M2"),
        ({**base, "rates": RATES, "effective_from": "2026-02-30"}, "effective_from"),
        ({**base, "rates": RATES, "min_amount": "x"}, "min_amount"),
        ({**base, "rates": RATES, "kind": "bonus"}, "kind"),
        ({**base, "rates": RATES, "agency_org_id": world.west.org_id}, "agency_org_id"),  # no partner
    ]:
        answer = client.post(f"{BASE}/contracts", json=body, headers=owner)
        assert answer.status_code == 422, (body, answer.get_data(as_text=True))
        assert answer.get_json()["error"]["field"] == field, (body, answer.get_json())
    missing = client.post(f"{BASE}/contracts", json={"kind": "agency"}, headers=owner)
    assert missing.status_code == 422 and "rates" in missing.get_json()["error"]["details"]
    assert client.post(f"{BASE}/contracts", json={**base, "rates": RATES}, headers=owner).status_code == 201
    assert client.post(f"{BASE}/contracts", json={**base, "rates": RATES}, headers=owner).status_code == 409
    for url, field in [
        ("/records?period=2026-13", "period"),
        ("/records?kind=bonus", "kind"),
        ("/records?bucket=M9", "bucket"),
        ("/records?agency_id=x", "agency_id"),
        ("/statements?status=open", "status"),
        ("/statements?period=soon", "period"),
    ]:
        answer = client.get(BASE + url, headers=owner)
        assert answer.status_code == 422 and answer.get_json()["error"]["field"] == field, url
    for period, status in (("2026-13", 422), ("2099-01", 422)):
        answer = client.post(f"{BASE}/settlements", json={"period": period}, headers=owner)
        assert answer.status_code == status and answer.get_json()["error"]["field"] == "period"
    # a collector may not manage commission
    collector = _auth(world.east.emails["collector"])
    assert client.get(f"{BASE}/statements", headers=collector).status_code == 403


def test_an_agency_sees_its_own_and_another_owner_nothing(app: Flask, world: World) -> None:
    north = make_tenant("agency", "north")
    partner(world.bank, north)
    east_cases = place(world, ["M1"], world.east.org_id)
    north_cases = place(world, ["M3"], north.org_id)
    client = app.test_client()
    owner = _auth(world.bank.admin_email)
    ids = {}
    for agency in (world.east, north):
        made = client.post(
            f"{BASE}/contracts",
            json={
                "kind": "agency",
                "name": f"contract {agency.slug}",
                "agency_org_id": agency.org_id,
                "effective_from": "2026-01-01",
                "rates": RATES,
            },
            headers=owner,
        )
        assert made.status_code == 201
        ids[agency.slug] = made.get_json()["id"]
    incentive = client.post(
        f"{BASE}/contracts",
        json={"kind": "incentive", "name": "in-house", "effective_from": "2026-01-01", "rates": RATES},
        headers=owner,
    )
    assert incentive.status_code == 201, incentive.get_data(as_text=True)
    incentive_id = incentive.get_json()["id"]
    pay(
        world,
        [
            (east_cases[0], Decimal("100.00"), at(dt.date(2026, 10, 5))),
            (north_cases[0], Decimal("100.00"), at(dt.date(2026, 10, 6))),
        ],
    )
    assert _settled(client, owner, world.bank.org_id, "2026-10")["statements"] == 2
    statements = {
        s["agency_org_id"]: s["id"]
        for s in client.get(f"{BASE}/statements", headers=owner).get_json()["items"]
    }
    assert set(statements) == {world.east.org_id, north.org_id}

    east = _auth(world.east.admin_email)
    seen = client.get(f"{BASE}/statements", headers=east).get_json()
    assert [s["agency_org_id"] for s in seen["items"]] == [world.east.org_id]
    records = client.get(f"{BASE}/records", headers=east).get_json()["items"]
    assert [(r["agency_org_id"], r["commission"]) for r in records] == [(world.east.org_id, "8.00")]
    assert client.get(f"{BASE}/statements/{statements[world.east.org_id]}", headers=east).status_code == 200
    assert [c["id"] for c in client.get(f"{BASE}/contracts", headers=east).get_json()] == [ids["east"]]
    assert client.get(f"{BASE}/contracts/{ids['east']}", headers=east).status_code == 200
    # north's statement and contract, the owner's incentive: 404 like a missing id
    for url in (
        f"/statements/{statements[north.org_id]}",
        f"/contracts/{ids['north']}",
        f"/contracts/{incentive_id}",
        f"/statements/{max(statements.values()) + 1000}",
    ):
        assert client.get(BASE + url, headers=east).status_code == 404, url
    # east reads its statement but never acts on it (the payer does)
    sid = statements[world.east.org_id]
    assert client.post(f"{BASE}/statements/{sid}/approve", json={}, headers=east).status_code == 403
    assert client.post(f"{BASE}/contracts/{ids['east']}/end", headers=east).status_code == 403
    assert (
        client.post(
            f"{BASE}/contracts/{ids['east']}/versions",
            json={"effective_from": "2026-01-01", "rates": RATES},
            headers=east,
        ).status_code
        == 403
    )
    # another owner: nothing in the lists, 404 on every id before its body is read
    lender = _auth(world.lender.admin_email)
    assert client.get(f"{BASE}/statements", headers=lender).get_json()["items"] == []
    assert client.get(f"{BASE}/records", headers=lender).get_json()["items"] == []
    assert client.get(f"{BASE}/contracts", headers=lender).get_json() == []
    for url, method in (
        (f"/statements/{sid}", "GET"),
        (f"/statements/{sid}/approve", "POST"),
        (f"/statements/{sid}/paid", "POST"),
        (f"/statements/{sid}/adjustments", "POST"),
        (f"/contracts/{ids['east']}", "GET"),
        (f"/contracts/{ids['east']}/versions", "POST"),
        (f"/contracts/{ids['east']}/end", "POST"),
        (f"/contracts/{incentive_id}", "GET"),
    ):
        answer = client.open(BASE + url, method=method, json={}, headers=lender)
        assert answer.status_code == 404, (url, method, answer.status_code)
