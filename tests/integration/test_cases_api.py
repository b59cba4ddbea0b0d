"""The data interface (M-N1): batch upsert by loan number, list with filters and keyset pages,
one case; masked unless the token's user may unmask, and unmasking is audited."""

from __future__ import annotations

import datetime as dt

from flask import Flask

from arrears.extensions import db
from arrears.models import Organisation
from arrears.security import masking
from tests.builders.tenants import World
from tests.conftest import Database, api_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _item(i: int, **overrides: object) -> dict[str, object]:
    item = {
        "loan_no": f"API{i:05d}",
        "name": "张三明",
        "id_number": "110101199003076536",
        "mobile": "13812345678",
        "due_date": (dt.date(2026, 11, 1) - dt.timedelta(days=10 * i)).isoformat(),
        "principal": f"{100 * i}.50",
        "interest": 3,
        "product": "消费贷",
        "province": "北京市",
        "city": "北京市",
        "tags": "vip, 首逾",
    }
    item.update(overrides)
    return item


def _fix_business_date(world: World) -> None:
    org = db.session.get(Organisation, world.bank.org_id)
    org.settings = {**org.settings, "business_date": "2026-11-01"}
    db.session.commit()


def test_batch_upsert_reports_per_item(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    items = [_item(1), _item(2), _item(3, id_number="110101199003076537", principal="-5")]
    body = c.post("/api/v1/cases", json={"items": items}, headers=bearer(token)).get_json()
    assert (body["imported"], body["rejected"]) == (2, 1)
    assert [i["status"] for i in body["items"]] == ["imported", "imported", "rejected"]
    reasons = {e["reason"] for e in body["items"][2]["errors"]}
    assert reasons == {"ID number checksum", "negative amount"}
    again = c.post("/api/v1/cases", json={"items": items[:2]}, headers=bearer(token)).get_json()
    assert [i["status"] for i in again["items"]] == ["unchanged", "unchanged"]
    changed = c.post(
        "/api/v1/cases", json={"items": [_item(1, principal="1.00")]}, headers=bearer(token)
    ).get_json()
    assert changed["items"][0]["status"] == "updated"
    dry = c.post("/api/v1/cases?dry_run=1", json={"items": [_item(9)]}, headers=bearer(token)).get_json()
    assert dry["items"][0]["status"] == "imported"
    assert database.scalar("SELECT count(*) FROM cases") == 2
    staff = c.post(
        "/api/v1/cases",
        json={"items": [_item(5)]},
        headers=bearer(api_token(world.lender.emails["owner_staff"])),
    )
    assert staff.status_code == 200  # staff may import, into their own owner only
    assert database.scalar("SELECT count(*) FROM cases WHERE org_id = :o", o=world.lender.org_id) == 1


def test_list_filters_sorts_and_pages(app: Flask, world: World) -> None:
    _fix_business_date(world)
    c = app.test_client()
    token = api_token(world.bank.admin_email)
    c.post("/api/v1/cases", json={"items": [_item(i) for i in range(1, 13)]}, headers=bearer(token))
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/v1/cases?sort=-dpd&limit=5" + (f"&cursor={cursor}" if cursor else "")
        page = c.get(url, headers=bearer(token)).get_json()
        seen += [i["loan_no"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"API{i:05d}" for i in range(12, 0, -1)]  # most days past due first, no repeats
    first = c.get("/api/v1/cases?sort=-dpd&limit=1", headers=bearer(token)).get_json()["items"][0]
    assert first["days_past_due"] == 120 and first["bucket"] == "M4+" and first["outstanding"] == "1203.50"
    ranged = c.get("/api/v1/cases?dpd_min=31&dpd_max=60&sort=amount", headers=bearer(token)).get_json()[
        "items"
    ]
    assert [i["days_past_due"] for i in ranged] == [40, 50, 60]
    assert [
        i["loan_no"]
        for i in c.get("/api/v1/cases?amount_min=1000", headers=bearer(token)).get_json()["items"]
    ] == ["API00012", "API00011", "API00010"]
    assert len(c.get("/api/v1/cases?tag=vip", headers=bearer(token)).get_json()["items"]) == 12
    assert c.get("/api/v1/cases?tag=none", headers=bearer(token)).get_json()["items"] == []
    bad = c.get("/api/v1/cases?dpd_min=abc", headers=bearer(token))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "dpd_min"
    assert c.get("/api/v1/cases?cursor=garbage", headers=bearer(token)).status_code == 422
    by_mobile = c.get("/api/v1/cases?q=138-1234-5678", headers=bearer(token)).get_json()["items"]
    assert len(by_mobile) == 12  # found through the blind index, not by scanning


def test_masked_for_staff_clear_for_admins_and_audited(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    admin = api_token(world.bank.admin_email)
    c.post("/api/v1/cases", json={"items": [_item(1)]}, headers=bearer(admin))
    case_id = database.scalar("SELECT id FROM cases")
    staff_view = c.get(
        f"/api/v1/cases/{case_id}", headers=bearer(api_token(world.bank.emails["owner_staff"]))
    )
    debtor = staff_view.get_json()["debtor"]
    assert debtor["masked"] and debtor["name"] == "张*明" and debtor["id_number"] == "110***********6536"
    assert debtor["mobile"] == "138****5678"
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'pii.unmasked'") == 0
    clear = c.get(f"/api/v1/cases/{case_id}", headers=bearer(admin)).get_json()["debtor"]
    assert not clear["masked"] and clear["id_number"] == "110101199003076536"
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'pii.unmasked'") == 1


def test_other_tenants_get_404(app: Flask, world: World, database: Database) -> None:
    c = app.test_client()
    c.post("/api/v1/cases", json={"items": [_item(1)]}, headers=bearer(api_token(world.bank.admin_email)))
    case_id = database.scalar("SELECT id FROM cases")
    for email in (world.lender.admin_email, world.east.admin_email):
        token = api_token(email)
        assert c.get(f"/api/v1/cases/{case_id}", headers=bearer(token)).status_code == 404
        assert c.get("/api/v1/cases/999999", headers=bearer(token)).status_code == 404
    assert (
        c.get("/api/v1/cases", headers=bearer(api_token(world.lender.admin_email))).get_json()["items"] == []
    )


def test_masking_shapes() -> None:
    assert (
        masking.name("张三明") == "张*明"
        and masking.name("张三") == "张*"
        and masking.name("欧阳建国") == "欧**国"
    )
    assert masking.id_number("110101199003076536") == "110***********6536"
    assert masking.phone("13812345678") == "138****5678"
    assert masking.email("user920268@example.cn") == "u***@example.cn"
    assert masking.address("上海市上海市徐汇区中山路127号") == "上海市上海市****"
