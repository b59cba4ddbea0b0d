"""What the attack run sent, refused where it enters (web.guards, web.params): integers beyond 64
bits in paths, query strings and bodies, amounts beyond NUMERIC(18,2), NUL in text, JSON nested a
thousand deep. Each answer is a 4xx naming the parameter or the JSON path, never a 500, and nothing
is written."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.builders.tenants import World
from tests.conftest import Database, api_token, signed_in

HUGE = "99999999999999999999"


@pytest.fixture
def api(app: Flask, world: World) -> Any:
    headers = {"Authorization": f"Bearer {api_token(world.bank.admin_email)}"}
    client = app.test_client()

    class Api:
        def get(self, url: str) -> Any:
            return client.get(f"/api/v1{url}", headers=headers)

        def post(self, url: str, body: Any = None, data: str | None = None) -> Any:
            if data is not None:
                return client.post(
                    f"/api/v1{url}", data=data, headers=headers, content_type="application/json"
                )
            return client.post(f"/api/v1{url}", json=body, headers=headers)

    return Api()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (f"/cases?dpd_min={HUGE}", "dpd_min"),
        (f"/cases?dpd_max=-{HUGE}", "dpd_max"),
        ("/cases?amount_min=1e999999", "amount_min"),
        ("/cases?amount_max=NaN", "amount_max"),
        (f"/cases?limit={HUGE}", "limit"),
        (f"/repayments?before={HUGE}", "before"),
        (f"/repayments?agency_id={HUGE}", "agency_id"),
        ("/repayments?paid_from=99999-01-01", "paid_from"),
        (f"/writeoffs?agency_id={HUGE}", "agency_id"),
        (f"/writeoffs/proposals?approval_id={HUGE}", "approval_id"),
        (f"/commission/records?agency_id={HUGE}", "agency_id"),
    ],
)
def test_numbers_and_dates_out_of_range_in_query_strings(api: Any, url: str, field: str) -> None:
    answer = api.get(url)
    assert answer.status_code == 422, (url, answer.status_code, answer.get_data(as_text=True)[:300])
    assert answer.get_json()["error"]["field"] == field


@pytest.mark.parametrize("url", ["/cases?q=%00", "/cases?product=a%00b", "/repayments?loan_no=%00"])
def test_nul_in_a_query_parameter(api: Any, url: str) -> None:
    answer = api.get(url)
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] in {"q", "product", "loan_no"}


def test_ids_beyond_64_bits_in_paths_name_no_object(api: Any, app: Flask, world: World) -> None:
    for url in (f"/cases/{HUGE}", f"/cases/{HUGE}/repayments", f"/cases/{HUGE}/notes", f"/cases/{2**63}"):
        assert api.get(url).status_code == 404, url
    assert api.get(f"/cases/{2**63 - 1}").status_code == 404  # the largest id there can be: no such case
    page = signed_in(app, world.bank.admin_email)
    assert page.get(f"/asset/cases/{HUGE}").status_code == 404
    assert page.get("/asset/cases?q=%00").status_code == 400


def test_hostile_json_bodies_are_refused_and_write_nothing(api: Any, database: Database) -> None:
    deep = api.post("/cases", data="[" * 1000 + "]" * 1000)
    assert deep.status_code == 400 and deep.get_json()["error"]["code"] == "malformed_json"
    nul = api.post("/cases", {"items": [{"loan_no": "NUL\u0000", "debtor": {"name": "x"}}]})
    assert nul.status_code == 422 and nul.get_json()["error"]["field"] == "items[0].loan_no"
    huge = api.post("/allocation-runs", {"case_ids": [18446744073709551616], "level": "owner"})
    assert huge.status_code == 422 and huge.get_json()["error"]["field"] == "case_ids[0]"
    # the repayments batch judges each item itself: that one is rejected, naming its amount
    item = '{"transaction_id": "T1", "loan_no": "L1", "paid_at": "2026-11-01", "amount": 1e999999}'
    infinite = api.post("/repayments", data='{"items": [' + item + "]}")
    assert infinite.status_code == 202, infinite.get_data(as_text=True)[:300]
    rejected = infinite.get_json()["items"][0]
    assert rejected["status"] == "rejected" and "amount" in {e["field"] for e in rejected["errors"]}
    assert database.scalar("SELECT count(*) FROM cases") == 0
    assert database.scalar("SELECT count(*) FROM repayments") == 0


def test_search_terms_are_taken_literally(api: Any, app: Flask, world: World) -> None:
    from arrears.cases.imports.batches import import_cases
    from arrears.extensions import db
    from arrears.models import Organisation
    from tests.conftest import SHARED

    org = db.session.get(Organisation, world.bank.org_id)
    data = (SHARED / "data" / "imports" / "cases_utf8_bom.csv").read_bytes()
    _, report, _ = import_cases(org, data, "cases.csv", dry_run=False)
    assert report is not None and report.imported > 0
    everything = api.get("/cases?limit=500").get_json()["items"]
    assert len(everything) > 1
    for wildcard in ("%", "_", "%%", "\\"):
        found = api.get(f"/cases?q={wildcard}").get_json()
        assert found["items"] == [], wildcard  # no name holds a percent sign: nothing, not everything


def test_a_wrong_method_says_which_are_allowed(api: Any, app: Flask, world: World) -> None:
    answer = api.post("/me", {})
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    assert answer.get_json()["error"]["code"] == "method_not_allowed"
    page = signed_in(app, world.bank.admin_email).delete("/asset/cases")
    assert page.status_code == 405 and "GET" in page.headers["Allow"]


def test_a_run_naming_the_200000_cases_its_schema_allows(api: Any, database: Database) -> None:
    """PostgreSQL takes at most 65,535 parameters: the ids go as one array."""
    ids = list(range(1, 200_001))
    answer = api.post("/allocation-runs", {"level": "dispatch", "case_ids": ids, "rules": []})
    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["case_count"] == 0  # none of them is the owner's: nothing to dispatch
