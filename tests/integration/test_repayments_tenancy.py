"""Repayments across tenants, through the API: an owner's token cannot post or read another owner's
repayments (404 for the repayment, its reversal and audit, the case's repayments and ledger; the
other owner's loan numbers are unknown loans); an agency sees only the repayments credited to it
(and cannot reverse, audit or post); its collector only those credited to them; an agency not
partnered with the owner sees nothing. Nothing an outsider sends changes anything."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Case, Organisation, Repayment
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.cases import make_cases
from tests.builders.payments import apply_all, post_repayments
from tests.builders.placements import dispatch_objects, placement_objects
from tests.builders.tenants import World, other_collector
from tests.conftest import Database, api_token

TABLES = ("repayments", "ledger_postings", "idempotency_keys", "cases", "promises", "jobs")


def snapshot(database: Database) -> dict[str, Any]:
    return {t: database.rows(f"SELECT * FROM {t} ORDER BY 1") for t in TABLES}


def test_repayments_are_seen_only_by_their_owner_and_the_agency_and_collector_credited(
    app: Flask, world: World, database: Database
) -> None:
    case_ids = make_cases(world, 2)  # RP-0 placed with east and dispatched to its collector; RP-1 not
    placement_objects(world, case_ids[0])
    dispatch_objects(world, case_ids[0])
    client = app.test_client()
    tokens = {
        "bank": api_token(world.bank.admin_email),
        "bank_staff": api_token(world.bank.emails["owner_staff"]),
        "lender": api_token(world.lender.admin_email),
        "east": api_token(world.east.admin_email),
        "east_lead": api_token(world.east.emails["team_lead"]),
        "collector": api_token(world.east.emails["collector"]),
        "west": api_token(world.west.admin_email),
    }
    now = dt.datetime.now(dt.UTC).isoformat()
    answer = post_repayments(
        client,
        tokens["bank"],
        [
            {"transaction_id": "T-EAST", "loan_no": "RP-0", "amount": "5.00", "paid_at": now},
            {"transaction_id": "T-BANK", "loan_no": "RP-1", "amount": "6.00", "paid_at": now},
        ],
    ).get_json()
    assert answer["accepted"] == 2
    rid = {i["transaction_id"]: i["repayment_id"] for i in answer["items"]}
    apply_all(world)
    with tenant(world.bank.org_id):
        credited = db.session.get(Repayment, rid["T-EAST"])
        assert (credited.agency_org_id, credited.collector_user_id) == (
            world.east.org_id,
            world.east.users["collector"],
        )
        assert db.session.get(Repayment, rid["T-BANK"]).agency_org_id is None
    # the lender has its own loan and payment, with the same transaction id as one of bank's
    with tenant(world.lender.org_id):
        from arrears.auth.sessions import get_user_by_email
        from arrears.cases.imports.batches import upsert_records

        upsert_records(
            get_user_by_email(world.lender.admin_email),
            [
                {
                    "loan_no": "LN-0",
                    "name": "借款人",
                    "id_number": "110101199003076536",
                    "due_date": "2026-01-01",
                    "principal": "100",
                }
            ],
        )
        lender_case = db.session.scalar(select(Case.id).where(Case.loan_no == "LN-0"))
    lender_answer = post_repayments(
        client,
        tokens["lender"],
        [
            {"transaction_id": "T-EAST", "loan_no": "LN-0", "amount": "1.00", "paid_at": now},
            {"transaction_id": "X-1", "loan_no": "RP-0", "amount": "1.00", "paid_at": now},  # bank's loan
        ],
    ).get_json()
    assert [i["status"] for i in lender_answer["items"]] == ["accepted", "rejected"]
    assert lender_answer["items"][1]["errors"][0]["field"] == "loan_no"
    lender_rid = lender_answer["items"][0]["repayment_id"]
    with tenant(world.lender.org_id):
        org = db.session.get(Organisation, world.lender.org_id)
        while repayments.apply_received(org)["applied"]:
            pass

    def get(who: str, url: str) -> Any:
        return client.get(url, headers={"Authorization": f"Bearer {tokens[who]}"})

    def send(who: str, url: str, body: dict[str, Any]) -> Any:
        return client.post(url, json=body, headers={"Authorization": f"Bearer {tokens[who]}"})

    def listed(who: str, query: str = "") -> set[int]:
        response = get(who, f"/api/v1/repayments{query}")
        assert response.status_code == 200, (who, response.get_data(as_text=True))
        return {i["id"] for i in response.get_json()["items"]}

    before = snapshot(database)
    placed, own = case_ids
    # the other owner: 404 for everything of bank's, reads and writes
    for who in ("lender", "west"):
        for repayment_id in rid.values():
            assert get(who, f"/api/v1/repayments/{repayment_id}").status_code == 404
            assert (
                send(who, f"/api/v1/repayments/{repayment_id}/reversal", {"reason": "x"}).status_code == 404
            )
            assert (
                send(
                    who, f"/api/v1/repayments/{repayment_id}/audit", {"decision": "reject", "note": "x"}
                ).status_code
                == 404
            )
        for case_id in case_ids:
            assert get(who, f"/api/v1/cases/{case_id}/repayments").status_code == 404
            assert get(who, f"/api/v1/cases/{case_id}/ledger").status_code == 404
            manual = send(who, f"/api/v1/cases/{case_id}/repayments", {"amount": "1", "paid_at": now})
            assert manual.status_code == 404
    assert listed("lender") == {lender_rid}
    assert listed("lender", "?loan_no=RP-0") == set()
    assert listed("lender", "?transaction_id=T-EAST") == {lender_rid}
    assert listed("west") == set()
    assert listed("west", f"?agency_id={world.east.org_id}") == set()
    # bank does not see the lender's either
    assert get("bank", f"/api/v1/repayments/{lender_rid}").status_code == 404
    assert get("bank", f"/api/v1/cases/{lender_case}/ledger").status_code == 404
    assert listed("bank") == set(rid.values())

    # the agency: what is credited to it, read only
    assert listed("east") == {rid["T-EAST"]}
    assert listed("east_lead") == {rid["T-EAST"]}
    assert get("east", f"/api/v1/repayments/{rid['T-EAST']}").status_code == 200
    assert get("east", f"/api/v1/repayments/{rid['T-BANK']}").status_code == 404
    assert [r["id"] for r in get("east", f"/api/v1/cases/{placed}/repayments").get_json()] == [rid["T-EAST"]]
    assert get("east", f"/api/v1/cases/{own}/repayments").status_code == 404
    assert get("east", f"/api/v1/cases/{own}/ledger").status_code == 404
    east_ledger = get("east", f"/api/v1/cases/{placed}/ledger")
    assert east_ledger.status_code == 200
    assert {p["repayment_id"] for p in east_ledger.get_json()} == {rid["T-EAST"]}  # not the owner's opening
    assert send("east", f"/api/v1/repayments/{rid['T-EAST']}/reversal", {"reason": "x"}).status_code == 403
    assert (
        send(
            "east", f"/api/v1/repayments/{rid['T-EAST']}/audit", {"decision": "reject", "note": "x"}
        ).status_code
        == 403
    )
    assert (
        send("east", f"/api/v1/cases/{placed}/repayments", {"amount": "1", "paid_at": now}).status_code == 403
    )
    batch = post_repayments(
        client, tokens["east"], [{"transaction_id": "E", "loan_no": "RP-0", "amount": "1", "paid_at": now}]
    )
    assert batch.status_code == 403
    # the collector credited: their own; another collector of east: nothing
    assert listed("collector") == {rid["T-EAST"]}
    assert get("collector", f"/api/v1/repayments/{rid['T-EAST']}").status_code == 200
    assert get("collector", f"/api/v1/cases/{placed}/ledger").status_code == 403  # no repayments.view
    # the owner's staff read but do not reverse
    assert listed("bank_staff") == set(rid.values())
    assert (
        send("bank_staff", f"/api/v1/repayments/{rid['T-BANK']}/reversal", {"reason": "x"}).status_code == 403
    )
    assert snapshot(database) == before, "an outsider's request changed something"

    # the owner itself reverses; the agency then sees it reversed, still only its own
    assert (
        send("bank", f"/api/v1/repayments/{rid['T-EAST']}/reversal", {"reason": "bounced"}).status_code == 200
    )
    assert get("east", f"/api/v1/repayments/{rid['T-EAST']}").get_json()["status"] == "reversed"
    assert listed("east", "?status=reversed") == {rid["T-EAST"]}
    assert listed("west", "?status=reversed") == set()


def test_another_collector_of_the_agency_sees_nothing_of_a_colleagues_repayments(
    app: Flask, world: World
) -> None:
    case_ids = make_cases(world, 1)
    placement_objects(world, case_ids[0])
    dispatch_objects(world, case_ids[0])
    other = api_token(other_collector(world))
    answer = post_repayments(
        app.test_client(),
        api_token(world.bank.admin_email),
        [
            {
                "transaction_id": "T1",
                "loan_no": "RP-0",
                "amount": "5",
                "paid_at": dt.datetime.now(dt.UTC).isoformat(),
            }
        ],
    ).get_json()
    apply_all(world)
    rid = answer["items"][0]["repayment_id"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {other}"}
    assert client.get(f"/api/v1/repayments/{rid}", headers=headers).status_code == 404
    assert client.get("/api/v1/repayments", headers=headers).get_json()["items"] == []
    assert client.get(f"/api/v1/cases/{case_ids[0]}/repayments", headers=headers).status_code == 404
