"""Reconciliation (对账, M-P5) against PostgreSQL: the shared statement reproduces its expect.json;
statements made here (CSV in GBK and in UTF-8 with BOM, .xlsx with English headers below title
rows, rows with every kind of error) are read with row, field and reason; reconcile sorts the
statement against what the core system sent over the API (matched, applied now, amount or loan
differs, in the platform only, duplicates, unknown loans, invalid), applies what was missing and
applies nothing twice when run again; the import feeds the rows as events; the CLI; the daily look
at the core system's drop; the console page."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib
import subprocess
import sys
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import func, select

from arrears.cases.imports.batches import import_cases
from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.models import (
    Case,
    JobRecord,
    JobStatus,
    Organisation,
    Posting,
    PostingKind,
    Repayment,
    RepaymentSource,
    RepaymentStatus,
    User,
)
from arrears.payments import ledger_check, reconcile, reconcile_runs
from arrears.tenancy import tenant
from tests.builders.tenants import World, build_world
from tests.conftest import SHARED, Database, api_token, cli_env, csrf_token, signed_in

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = SHARED / "data" / "imports"
STATEMENT = DATA / "repayments_statement.xlsx"
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
EXPECT = json.loads(STATEMENT.with_name(STATEMENT.name + ".expect.json").read_text())


def owner(world: World) -> Organisation:
    org = db.session.get(Organisation, world.lender.org_id)
    assert org is not None
    return org


def lender_cases(world: World) -> None:
    """The loans the shared statement applies to (cases_lender_en.xlsx, through the case import)."""
    _, report, refused = import_cases(
        owner(world), (DATA / "cases_lender_en.xlsx").read_bytes(), "cases_lender_en.xlsx", dry_run=False
    )
    assert refused is None and report is not None and report.imported == 1000


def statement_rows() -> list[tuple[Any, ...]]:
    sheet = openpyxl.load_workbook(STATEMENT, read_only=True).active
    assert sheet is not None
    return [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)]


def loan_numbers(world: World, n: int) -> list[str]:
    with tenant(world.lender.org_id):
        return list(db.session.scalars(select(Case.loan_no).order_by(Case.loan_no).limit(n)))


def counts(world: World) -> tuple[int, int]:
    """Repayments of the lender, payment postings of the lender."""
    with tenant(world.lender.org_id):
        repayments = db.session.scalar(select(func.count()).select_from(Repayment))
        postings = db.session.scalar(
            select(func.count()).select_from(Posting).where(Posting.kind == PostingKind.PAYMENT)
        )
        return int(repayments or 0), int(postings or 0)


def nothing_lost(result: dict[str, Any]) -> None:
    """Every data row of the statement is in exactly one category (blank and summary rows apart)."""
    rows = [
        r["row"]
        for c in ("matched", "applied", "mismatched", "duplicates", "unknown_loans", "invalid")
        for r in result["rows"][c]
    ]
    assert len(rows) == len(set(rows)) == result["rows_read"]
    assert all(r["row"] is None for r in result["rows"]["platform_only"])


def by_row(result: dict[str, Any]) -> dict[int, dict[str, str]]:
    """Invalid rows: {row: {field: reason}}."""
    return {r["row"]: {e["field"]: e["reason"] for e in r["errors"]} for r in result["rows"]["invalid"]}


def test_shared_statement_reproduces_its_expectations(app: Flask, world: World) -> None:
    lender_cases(world)
    result = reconcile.reconcile(owner(world), STATEMENT, STATEMENT.name)
    assert result["transactions"] == EXPECT["transactions"] == 401
    assert result["duplicate_deliveries"] == EXPECT["duplicate_deliveries"] == 1
    assert result["unknown_loans"] == EXPECT["unknown_loans"] == 1
    assert Decimal(result["total_amount_unique"]) == Decimal(str(EXPECT["total_amount_unique"]))
    assert (result["rows_read"], result["header_row"], result["invalid_rows"]) == (402, 1, 0)
    assert result["period"] == {"from": "2026-10-28", "to": "2026-11-01"}
    nothing_lost(result)
    summary = {c: f["count"] for c, f in result["summary"].items()}
    assert summary == {
        "matched": 0,
        "applied": 400,
        "mismatched": 0,
        "platform_only": 0,
        "duplicates": 1,
        "unknown_loans": 1,
        "invalid": 0,
    }
    # every figure is a Decimal written as text, and the categories add up to the whole
    assert result["summary"]["unknown_loans"]["amount"] == "50.00"
    assert Decimal(result["summary"]["applied"]["amount"]) + Decimal("50.00") == Decimal("370197.28")
    assert result["rows"]["duplicates"][0]["row"] == 402
    assert result["rows"]["duplicates"][0]["transaction_id"] == "TXN20261101000010"
    assert result["rows"]["duplicates"][0]["differs"] == []
    assert result["rows"]["unknown_loans"][0]["loan_no"] == "LN000000000000"
    # applied at once: one payment posting each, the ledger agrees with the balances
    assert result["pending_apply"] == 0
    assert counts(world) == (400, 400)
    with tenant(world.lender.org_id):
        statuses = set(db.session.scalars(select(Repayment.status).distinct()))
        assert statuses == {RepaymentStatus.CONFIRMED}
        assert set(db.session.scalars(select(Repayment.source).distinct())) == {RepaymentSource.STATEMENT}
        assert ledger_check.disagreements(world.lender.org_id) == []
    # the figures survive JSON (Decimal never float)
    assert json.loads(json.dumps(result))["total_amount_unique"] == "370197.28"


def _post(client: Any, token: str, items: list[dict[str, Any]]) -> Any:
    response = client.post(
        "/api/v1/repayments",
        data=json.dumps({"items": items}),
        headers={"Authorization": f"Bearer {token}"},
        content_type="application/json",
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()


def test_reconcile_against_the_api_then_again_applies_nothing_twice(app: Flask, world: World) -> None:
    lender_cases(world)
    rows = statement_rows()
    token = api_token(world.lender.admin_email)
    client = app.test_client()
    same = [
        {
            "transaction_id": r[0],
            "loan_no": r[1],
            "amount": str(Decimal(repr(r[3]))),
            "paid_at": r[2].replace(" ", "T") + "+08:00",
            "channel": r[4],
        }
        for r in rows[:5]
    ]
    other_amount = {**same[0], "transaction_id": rows[5][0], "loan_no": rows[5][1], "amount": "1.00"}
    other_loan = {
        "transaction_id": rows[6][0],
        "loan_no": rows[7][1],
        "amount": str(Decimal(repr(rows[6][3]))),
        "paid_at": "2026-10-30T09:00:00+08:00",
    }
    only_here = [
        {"transaction_id": "CORE-ONLY-1", "loan_no": rows[8][1], "amount": "12.34", "paid_at": "2026-10-28"},
        {
            "transaction_id": "CORE-ONLY-2",
            "loan_no": rows[9][1],
            "amount": "56.78",
            "paid_at": "2026-11-01T23:59:00+08:00",
        },
    ]
    outside = {
        "transaction_id": "CORE-LATER",
        "loan_no": rows[9][1],
        "amount": "9.99",
        "paid_at": "2026-11-02T00:00:00+08:00",
    }
    body = _post(client, token, [*same, other_amount, other_loan, *only_here, outside])
    assert body["accepted"] == 10
    with tenant(world.lender.org_id):
        reconcile.apply_now(owner(world))
    # a core record the owner reversed (a chargeback) is no payment for the statement's day
    with tenant(world.lender.org_id):
        from arrears.payments import repayments

        admin = db.session.get(User, world.lender.admin_id)
        assert admin is not None
        for txn in ("CORE-ONLY-2", rows[4][0]):
            reversed_row = db.session.scalar(select(Repayment).where(Repayment.external_id == txn))
            assert reversed_row is not None
            repayments.reverse(admin, reversed_row, "bounced")
    before = counts(world)

    first = reconcile.reconcile(owner(world), STATEMENT, STATEMENT.name)
    summary = {c: f["count"] for c, f in first["summary"].items()}
    assert summary == {
        "matched": 4,
        "applied": 393,
        "mismatched": 3,
        "platform_only": 1,
        "duplicates": 1,
        "unknown_loans": 1,
        "invalid": 0,
    }
    assert first["transactions"] == 401
    mismatched = {r["transaction_id"]: r for r in first["rows"]["mismatched"]}
    assert mismatched[rows[5][0]]["differs"] == ["amount"]
    assert mismatched[rows[5][0]]["platform_amount"] == "1.00"
    assert mismatched[rows[5][0]]["amount"] == str(Decimal(repr(rows[5][3])))
    assert mismatched[rows[6][0]]["differs"] == ["loan_no"]
    assert mismatched[rows[6][0]]["platform_loan_no"] == rows[7][1]
    # paid says the statement, reversed says the platform: reported, not applied again
    assert mismatched[rows[4][0]]["differs"] == ["status"]
    assert mismatched[rows[4][0]]["platform_status"] == "reversed"
    nothing_lost(first)
    only = first["rows"]["platform_only"]
    assert [r["transaction_id"] for r in only] == ["CORE-ONLY-1"]
    assert only[0]["amount"] == "12.34" and only[0]["platform_status"] == "confirmed"
    assert first["summary"]["platform_only"]["amount"] == "12.34"
    assert {r["platform_status"] for r in first["rows"]["matched"]} == {"confirmed"}
    after_first = counts(world)
    assert after_first == (before[0] + 393, before[1] + 393)
    # the mismatched ones were not applied again: still the API's amount on the loan
    with tenant(world.lender.org_id):
        row = db.session.scalar(select(Repayment).where(Repayment.external_id == rows[5][0]))
        assert row is not None and row.amount == Decimal("1.00") and row.source == RepaymentSource.API

    again = reconcile.reconcile(owner(world), STATEMENT, STATEMENT.name)
    summary = {c: f["count"] for c, f in again["summary"].items()}
    assert summary["applied"] == 0 and summary["matched"] == 397
    assert summary["mismatched"] == 3 and summary["platform_only"] == 1
    assert counts(world) == after_first
    with tenant(world.lender.org_id):
        assert ledger_check.disagreements(world.lender.org_id) == []
        twice = db.session.execute(
            select(Posting.repayment_id)
            .where(Posting.kind == PostingKind.PAYMENT)
            .group_by(Posting.repayment_id)
            .having(func.count() > 1)
        ).all()
        assert twice == []


# --- files made here ---------------------------------------------------------------------------------------


def _csv(rows: list[list[Any]], encoding: str) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def test_gbk_csv_with_title_rows_blank_and_summary_rows_and_extra_columns(app: Flask, world: World) -> None:
    lender_cases(world)
    loans = loan_numbers(world, 4)
    rows: list[list[Any]] = [
        ["某某消费金融 还款对账单 2026-10-30", "", "", "", "", ""],
        ["", "", "", "", "", ""],
        ["序号", "交易流水号", "借据号", "还款日期", "还款金额(元)", "支付渠道", "备注"],
        [1, "G-1", loans[0], "2026/10/30 09:15", "1,234.50", "银行卡代扣", "正常"],
        [2, "G-2", loans[1], "2026年10月30日 10时05分", "￥88.00", "支付宝", ""],
        ["", "", "", "", "", "", ""],
        [3, "G-3", loans[2], "20261030", "100元", "微信支付", ""],
        [4, "G-4", loans[3], "2026-10-30T12:00:00+08:00", "７７.７", "对公转账", ""],
        ["合计", "", "", "", "1500.20", "", ""],
    ]
    result = reconcile.reconcile(owner(world), _csv(rows, "gbk"), "statement-gbk.csv")
    assert (result["format"], result["encoding"], result["header_row"]) == ("csv", "gbk", 3)
    assert result["columns"]["amount"] == "还款金额(元)" and result["columns"]["channel"] == "支付渠道"
    assert (result["rows_read"], result["blank_rows"], result["summary_rows"]) == (4, 1, 1)
    assert result["summary"]["applied"]["count"] == 4
    assert result["total_amount_unique"] == "1500.20"
    assert result["period"] == {"from": "2026-10-30", "to": "2026-10-30"}
    applied = {r["transaction_id"]: r for r in result["rows"]["applied"]}
    assert applied["G-1"]["paid_at"] == "2026-10-30T09:15:00+08:00"
    assert applied["G-2"]["paid_at"] == "2026-10-30T10:05:00+08:00"
    assert applied["G-3"]["paid_at"] == "2026-10-30T00:00:00+08:00"
    assert applied["G-4"]["amount"] == "77.70" and applied["G-2"]["channel"] == "支付宝"
    assert {r["row"] for r in result["rows"]["applied"]} == {4, 5, 7, 8}
    nothing_lost(result)


def test_utf8_bom_csv_with_english_headers_in_another_order(app: Flask, world: World) -> None:
    lender_cases(world)
    loans = loan_numbers(world, 2)
    rows = [
        ["Amount", "Payment Date", "Loan No", "Transaction ID", "Channel", "Branch"],
        ["10.10", "2026-10-29 08:00:00", loans[0], "U-1", "alipay", "Shanghai"],
        ["20.20", "29/10/2026 09:30", loans[1], "U-2", "", "Beijing"],
        ["20.20", "29/10/2026 09:30", loans[1], "U-2", "", "Beijing"],
    ]
    result = reconcile.reconcile(owner(world), _csv(rows, "utf-8-sig"), "statement-bom.csv")
    assert result["encoding"] == "utf-8-sig"
    assert result["transactions"] == 2 and result["duplicate_deliveries"] == 1
    assert result["summary"]["applied"]["amount"] == "30.30"
    assert result["rows"]["applied"][1]["paid_at"] == "2026-10-29T09:30:00+08:00"


def _xlsx(rows: list[list[Any]], formats: dict[str, str] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Repayments"
    for row in rows:
        sheet.append(row)
    for cell, fmt in (formats or {}).items():
        sheet[cell].number_format = fmt
    notes = workbook.create_sheet("Notes")
    notes.append(["This sheet explains the statement"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_english_headers_excel_dates_and_number_cells(app: Flask, world: World) -> None:
    lender_cases(world)
    loans = loan_numbers(world, 5)
    rows: list[list[Any]] = [
        ["Core system statement", None, None, None, None],
        ["Generated 2026-10-31", None, None, None, None],
        ["Txn No", "Loan Number", "Paid On", "Amount (CNY)", "Payment Method"],
        ["X-1", loans[0], dt.datetime(2026, 10, 31, 10, 10), 252.49, "card"],
        ["X-2", loans[1], dt.date(2026, 10, 31), 1960, "transfer"],
        [20261031000003, loans[2], 46326.5, 0.1 + 0.2, None],  # a serial day number; float noise
        ["X-4", loans[3], "2026-10-31 23:59", "1,000.00", None],
        [None, None, None, None, None],
        ["X-5", loans[4], dt.datetime(2026, 10, 31, 9, 9, 59, 999000), 5, None],
    ]
    result = reconcile.reconcile(owner(world), _xlsx(rows), "core-statement.xlsx")
    assert (result["format"], result["sheet"], result["header_row"]) == ("xlsx", "Repayments", 3)
    assert result["invalid_rows"] == 0, result["rows"]["invalid"]
    applied = {r["transaction_id"]: r for r in result["rows"]["applied"]}
    assert set(applied) == {"X-1", "X-2", "20261031000003", "X-4", "X-5"}
    assert applied["X-1"]["amount"] == "252.49" and applied["X-2"]["amount"] == "1960.00"
    assert applied["20261031000003"]["amount"] == "0.30"
    assert applied["20261031000003"]["paid_at"] == "2026-10-31T12:00:00+08:00"
    assert applied["X-5"]["paid_at"] == "2026-10-31T09:10:00+08:00"
    assert result["total_amount_unique"] == "3217.79"


def test_rows_with_errors_are_reported_with_row_field_and_reason(app: Flask, world: World) -> None:
    lender_cases(world)
    loans = loan_numbers(world, 3)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    rows: list[list[Any]] = [
        ["交易流水号", "借据号", "还款时间", "还款金额", "还款渠道"],
        ["E-1", loans[0], "2026-10-29 10:00", "abc", ""],  # 2: bad amount
        ["E-2", loans[0], "2026-10-29 10:00", 12.345, ""],  # 3: three decimals (a number cell)
        ["E-3", loans[0], "2026-10-29 10:00", "1.005", ""],  # 4: three decimals (text)
        ["E-4", loans[0], future, "10", ""],  # 5: in the future
        [None, loans[0], "2026-10-29 10:00", "10", ""],  # 6: no transaction id
        ["E-6", None, "2026-10-29 10:00", "10", ""],  # 7: no loan number
        ["E-7", loans[1], "yesterday", "10", ""],  # 8: not a date
        ["E-8", loans[1], "2026-02-30 10:00", "10", ""],  # 9: impossible date
        ["E-9", loans[1], "2026-10-29 10:00", "-5", ""],  # 10: negative
        ["E-10", loans[1], "2026-10-29 10:00", 0, ""],  # 11: zero
        [2.0261101e16, loans[1], "2026-10-29 10:00", "10", ""],  # 12: an id Excel rounded
        ["E-12", loans[2], "2026-10-29 10:00", "10.00", ""],  # 13: fine
        ["E-13", "NO-SUCH-LOAN", "2026-10-29 10:00", "10.00", ""],  # 14: unknown loan
        ["E-14", loans[2], None, None, ""],  # 15: two problems
    ]
    result = reconcile.reconcile(owner(world), _xlsx(rows), "errors.xlsx")
    problems = by_row(result)
    assert set(problems) == {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15}
    assert problems[2] == {"amount": "Not an amount: abc"}
    assert problems[3] == {"amount": "An amount has at most two decimals."}
    assert problems[4] == {"amount": "An amount has at most two decimals."}
    assert problems[5] == {"paid_at": "The payment time is in the future."}
    assert problems[6] == {"transaction_id": "The transaction id is missing."}
    assert problems[7] == {"loan_no": "The loan number is missing."}
    assert "paid_at" in problems[8] and "paid_at" in problems[9]
    assert problems[10] == problems[11] == {"amount": "The amount must be more than zero."}
    assert "transaction_id" in problems[12]
    assert set(problems[15]) == {"paid_at", "amount"}
    assert result["invalid_rows"] == 12 and result["summary"]["invalid"]["count"] == 12
    assert [r["row"] for r in result["rows"]["applied"]] == [13]
    assert [r["row"] for r in result["rows"]["unknown_loans"]] == [14]
    nothing_lost(result)
    # every bad row's cells are kept as they were
    bad = next(r for r in result["rows"]["invalid"] if r["row"] == 2)
    assert (bad["transaction_id"], bad["amount"]) == ("E-1", "abc")
    # nothing of the bad rows was written
    assert counts(world) == (1, 1)


def test_a_file_that_is_not_a_statement_is_refused(app: Flask, world: World) -> None:
    lender_cases(world)
    with pytest.raises(reconcile.StatementRefused) as refused:
        reconcile.reconcile(owner(world), (DATA / "cases_lender_en.xlsx").read_bytes(), "cases.xlsx")
    assert "header" in refused.value.reason
    no_amount = _csv([["交易流水号", "借据号", "还款时间", "渠道"], ["T", "L", "2026-10-29", "x"]], "utf-8")
    with pytest.raises(reconcile.StatementRefused) as refused:
        reconcile.reconcile(owner(world), no_amount, "no-amount.csv")
    assert "Amount" in refused.value.reason
    with pytest.raises(reconcile.StatementRefused):
        reconcile.reconcile(owner(world), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls")
    assert counts(world) == (0, 0)


def test_the_result_workbook_has_a_summary_and_a_sheet_per_category(app: Flask, world: World) -> None:
    lender_cases(world)
    result = reconcile.reconcile(owner(world), STATEMENT, STATEMENT.name)
    workbook = openpyxl.load_workbook(io.BytesIO(reconcile.workbook_bytes(result)))
    assert workbook.sheetnames == [
        "Summary",
        "Matched",
        "Applied now",
        "Amount or loan differs",
        "In the platform, not in the sta",
        "Duplicates in the file",
        "Unknown loans",
        "Invalid rows",
    ]
    summary = {row[0]: row[1:] for row in workbook["Summary"].iter_rows(values_only=True) if row and row[0]}
    assert summary["Transactions"][0] == 401
    assert summary["Applied now"][:2] == (400, 370147.28)
    assert summary["Unknown loans"][:2] == (1, 50)
    applied = list(workbook["Applied now"].iter_rows(values_only=True))
    assert len(applied) == 401
    assert applied[0][:5] == (
        "Row",
        "Transaction id",
        "Loan number",
        "Paid at",
        "Amount",
    )
    duplicates = list(workbook["Duplicates in the file"].iter_rows(values_only=True))
    assert duplicates[1][0] == 402 and duplicates[1][1] == "TXN20261101000010"


def test_import_feeds_the_rows_as_events_once(app: Flask, world: World) -> None:
    lender_cases(world)
    first = reconcile.import_statement(owner(world), STATEMENT, STATEMENT.name)
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (400, 1, 1)
    assert first["applied"] == 400 and first["applied_amount"] == "370147.28"
    rejected = next(i for i in first["items"] if i["status"] == "rejected")
    assert rejected["row"] == 403 and rejected["errors"][0]["field"] == "loan_no"
    duplicate = next(i for i in first["items"] if i["status"] == "duplicate")
    assert duplicate["row"] == 402 and duplicate["transaction_id"] == "TXN20261101000010"
    again = reconcile.import_statement(owner(world), STATEMENT, STATEMENT.name)
    assert (again["accepted"], again["duplicates"], again["rejected"], again["applied"]) == (0, 401, 1, 0)
    assert counts(world) == (400, 400)
    # the reconciliation finds them all now
    result = reconcile.reconcile(owner(world), STATEMENT, STATEMENT.name)
    assert result["summary"]["matched"]["count"] == 400 and result["summary"]["applied"]["count"] == 0


# --- the CLI ----------------------------------------------------------------------------------------------


def test_cli_reconcile_and_import_print_json_and_write_the_workbook(
    app: Flask, world: World, tmp_path: pathlib.Path
) -> None:
    lender_cases(world)
    runner = app.test_cli_runner()
    out = tmp_path / "result.xlsx"
    done = runner.invoke(
        args=["repayments", "reconcile", "--org", "lender", str(STATEMENT), "--json", "--xlsx", str(out)]
    )
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert (body["transactions"], body["duplicate_deliveries"], body["unknown_loans"]) == (401, 1, 1)
    assert body["total_amount_unique"] == "370197.28"
    # applied in the command, though Redis is configured (no worker runs here)
    assert body["summary"]["applied"]["count"] == 400 and body["pending_apply"] == 0
    assert "Summary" in openpyxl.load_workbook(out).sheetnames
    again = runner.invoke(args=["repayments", "reconcile", "--org", "lender", str(STATEMENT), "--json"])
    assert json.loads(again.output)["summary"]["matched"]["count"] == 400
    text = runner.invoke(args=["repayments", "reconcile", "--org", "lender", str(STATEMENT)])
    assert text.exit_code == 0 and "401 transactions" in text.output
    imported = runner.invoke(args=["repayments", "import", "--org", "lender", str(STATEMENT), "--json"])
    assert imported.exit_code == 0, imported.output
    body = json.loads(imported.output)
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (0, 401, 1)
    bad = tmp_path / "cases.xlsx"
    bad.write_bytes((DATA / "cases_lender_en.xlsx").read_bytes())
    refused = runner.invoke(args=["repayments", "reconcile", "--org", "lender", str(bad), "--json"])
    assert refused.exit_code == 2 and json.loads(refused.output)["error"]["code"] == "file_refused"
    nobody = runner.invoke(args=["repayments", "import", "--org", "nobody", str(STATEMENT), "--json"])
    assert nobody.exit_code == 2 and json.loads(nobody.output)["error"]["code"] == "not_found"
    assert counts(world) == (400, 400)


@pytest.mark.slow
def test_cli_without_redis_applies_inline(app: Flask, world: World, database: Database) -> None:
    lender_cases(world)
    env = cli_env(app, database)
    done = subprocess.run(
        [*FLASK, "repayments", "import", "--org", "lender", str(STATEMENT), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    body = json.loads(done.stdout)
    assert (body["accepted"], body["applied"], body["applied_amount"]) == (400, 400, "370147.28")
    assert counts(world) == (400, 400)


# --- the daily look at the core system's drop -----------------------------------------------------------


def _daily(org_id: int) -> dict[str, Any]:
    """The schedule's per-tenant entry, run for one tenant as the periodic fan-out queues it."""
    from arrears.kernel.jobs.queue import enqueue
    from arrears.kernel.jobs.schedule import by_name
    from arrears.kernel.transaction import transaction

    entry = by_name("reconcile-statements")
    with tenant(org_id, "asset_owner"):
        with transaction():
            record = enqueue(entry.func, name=entry.name, kwargs=entry.kwargs)
        done = db.session.get(JobRecord, record.id, populate_existing=True)
        assert done is not None and done.status == JobStatus.FINISHED, done and done.error
        return dict(done.result or {})


def test_statements_dropped_by_the_core_system_are_reconciled_once(eager_app: Flask) -> None:
    from arrears.kernel.jobs.schedule import by_name, run_periodic

    world = build_world()
    lender_cases(world)
    entry = by_name("reconcile-statements")
    assert entry.per_tenant and entry.cron
    run_periodic("reconcile-statements")  # the fan-out records one job per tenant
    with tenant(world.lender.org_id):
        assert db.session.scalar(select(func.count()).where(JobRecord.func == entry.job)) == 1
    # not configured: nothing is read
    assert _daily(world.lender.org_id) == {"configured": False, "queued": 0}
    with tenant(world.lender.org_id):
        admin = db.session.get(User, world.lender.admin_id)
        assert admin is not None
        with pytest.raises(Exception, match="folder"):
            reconcile_runs.set_statement_source(admin, "../elsewhere")
        assert reconcile_runs.set_statement_source(admin, "/statements") == "statements/"
    storage = get_storage()
    loans = loan_numbers(world, 1)
    storage.put(tenant_key(world.lender.org_id, "statements", "2026-10-28.xlsx"), STATEMENT.read_bytes())
    storage.put(
        tenant_key(world.lender.org_id, "statements", "2026-10-29.csv"),
        _csv([["交易流水号", "借据号", "还款时间", "还款金额"], ["D-1", loans[0], "2026-10-29", "5"]], "gbk"),
    )
    storage.put(tenant_key(world.lender.org_id, "statements", "readme.md"), b"not a statement")
    # another owner's drop is its own
    storage.put(tenant_key(world.bank.org_id, "statements", "2026-10-28.xlsx"), STATEMENT.read_bytes())
    assert _daily(world.bank.org_id) == {"configured": False, "queued": 0}
    daily = _daily(world.lender.org_id)
    assert daily["queued"] == 2 and daily["folder"] == f"tenants/{world.lender.org_id}/statements/"
    with tenant(world.lender.org_id):
        jobs = db.session.scalars(select(JobRecord).where(JobRecord.func == reconcile.JOB)).all()
        assert sorted(j.kwargs["filename"] for j in jobs) == ["2026-10-28.xlsx", "2026-10-29.csv"]
        assert {j.status for j in jobs} == {JobStatus.FINISHED}
        results = {j.kwargs["filename"]: j.result for j in jobs}
        assert results["2026-10-28.xlsx"]["transactions"] == 401
        assert results["2026-10-28.xlsx"]["summary"]["applied"]["count"] == 400
        assert results["2026-10-29.csv"]["summary"]["applied"]["count"] == 1
        assert storage.exists(results["2026-10-28.xlsx"]["xlsx_key"])
        assert "rows" not in results["2026-10-28.xlsx"]
        full = reconcile_runs.load_result(next(j for j in jobs if j.kwargs["filename"] == "2026-10-28.xlsx"))
        assert full is not None and len(full["rows"]["applied"]) == 400
    with tenant(world.bank.org_id):
        assert db.session.scalar(select(func.count()).where(JobRecord.func == reconcile.JOB)) == 0
    # the next day: each file was done once
    assert _daily(world.lender.org_id)["queued"] == 0
    with tenant(world.lender.org_id):
        assert db.session.scalar(select(func.count()).where(JobRecord.func == reconcile.JOB)) == 2
        assert counts(world) == (401, 401)


# --- the console -----------------------------------------------------------------------------------------


def test_console_page_uploads_reconciles_and_shows_the_result(eager_app: Flask) -> None:
    world = build_world()
    lender_cases(world)
    c = signed_in(eager_app, world.lender.admin_email)
    page = c.get("/asset/reconciliations")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Reconciliation" in html and 'href="/asset/reconciliations"' in html  # in the navigation
    token = csrf_token(c, "/asset/reconciliations")
    response = c.post(
        "/asset/reconciliations",
        data={"csrf_token": token, "file": (io.BytesIO(STATEMENT.read_bytes()), STATEMENT.name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    detail_url = response.headers["Location"]
    detail = c.get(detail_url)
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "370,197.28" in html and "Applied now" in html and "Unknown loans" in html
    assert "TXN20261101000000" in html  # the rows of the first category with any
    status = c.get(detail_url + "?format=json").get_json()
    assert status["done"] and status["status"] == "finished"
    unknown = c.get(detail_url + "?category=unknown_loans").get_data(as_text=True)
    assert "LN000000000000" in unknown
    second = c.get(detail_url + "?category=applied&page=5").get_data(as_text=True)
    assert "TXN20261101000399" in second
    workbook = c.get(detail_url + "/result.xlsx")
    assert workbook.status_code == 200
    assert "Summary" in openpyxl.load_workbook(io.BytesIO(workbook.data)).sheetnames
    listing = c.get("/asset/reconciliations").get_data(as_text=True)
    assert STATEMENT.name in listing
    # a file that is not a statement is refused at once
    refused = c.post(
        "/asset/reconciliations",
        data={
            "csrf_token": token,
            "file": (io.BytesIO((DATA / "cases_lender_en.xlsx").read_bytes()), "cases.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert refused.status_code == 200 and "cannot be read" in refused.get_data(as_text=True)
    # the daily source, switched on from the page
    saved = c.post(
        "/asset/reconciliations/source",
        data={"csrf_token": token, "enabled": "y", "prefix": "core/drop"},
    )
    assert saved.status_code == 302
    folder = f"tenants/{world.lender.org_id}/core/drop/"
    assert folder in c.get("/asset/reconciliations").get_data(as_text=True)
    # the staff without the audit right, and another owner, see nothing of it
    staff = signed_in(eager_app, world.lender.emails["owner_staff"])
    assert staff.get("/asset/reconciliations").status_code == 403
    job_id = detail_url.rstrip("/").rsplit("/", 1)[-1]
    other = signed_in(eager_app, world.bank.admin_email)
    assert other.get(f"/asset/reconciliations/{job_id}").status_code == 404
    assert other.get(f"/asset/reconciliations/{job_id}/result.xlsx").status_code == 404
