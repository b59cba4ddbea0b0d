"""Case import against the real files in ../shared/data/imports (each with its .expect.json), plus
idempotence, updates with history, atomicity, refusals of hostile or wrong files, the CLI."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from flask import Flask
from sqlalchemy import text

from arrears.cases.imports import engine
from arrears.cases.imports.batches import import_cases
from arrears.extensions import db
from arrears.models import Organisation
from arrears.tenancy import tenant
from tests.builders.tenants import World
from tests.conftest import SHARED, Database, cli_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = SHARED / "data" / "imports"
CASE_FILES = sorted(p for p in DATA.glob("cases_*") if not p.name.endswith(".json"))


def _org(world: World) -> Organisation:
    return db.session.get(Organisation, world.bank.org_id)


def _import(
    world: World,
    path: pathlib.Path | None = None,
    *,
    data: bytes | None = None,
    name: str = "",
    dry_run: bool = False,
):  # type: ignore[no-untyped-def]
    raw = data if data is not None else path.read_bytes()  # type: ignore[union-attr]
    return import_cases(_org(world), raw, name or (path.name if path else "upload.xlsx"), dry_run=dry_run)


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_shared_files_match_their_expectations(
    app: Flask, world: World, database: Database, path: pathlib.Path
) -> None:
    expect = json.loads(path.with_name(path.name + ".expect.json").read_text())
    for dry_run in (True, False):
        _, report, refused = _import(world, path, dry_run=dry_run)
        assert refused is None, refused
        body = report.as_dict()
        assert body["valid_rows"] == expect["valid_rows"], body
        assert body["rejected"] == expect["rejected_rows"], body["errors"][:5]
        if "header_row" in expect:
            assert body["header_row"] == expect["header_row"]
        if "summary_rows" in expect:
            assert body["summary_rows"] == expect["summary_rows"]
        if "encoding" in expect:
            assert body["encoding"] == expect["encoding"]
        if "total_outstanding" in expect:
            assert Decimal(str(body["total_outstanding"])) == Decimal(str(expect["total_outstanding"]))
        if "bad_rows" in expect:
            reasons: dict[str, list[str]] = {}
            for error in body["errors"]:
                reasons.setdefault(str(error["row"]), []).append(error["reason"])
            assert set(reasons) == set(expect["bad_rows"])
            for row, reason in expect["bad_rows"].items():
                assert reason in reasons[row], (row, reason, reasons[row])
        cases = database.scalar("SELECT count(*) FROM cases WHERE org_id = :o", o=world.bank.org_id)
        assert cases == (0 if dry_run else expect["valid_rows"])
    for loan_no in expect.get("loan_nos_sample", []):
        assert database.scalar("SELECT count(*) FROM cases WHERE loan_no = :l", l=loan_no) == 1


def test_reimport_changes_nothing_and_updates_record_history(
    app: Flask, world: World, database: Database
) -> None:
    path = DATA / "cases_lender_en.xlsx"
    _import(world, path)
    counts = {
        t: database.scalar(f"SELECT count(*) FROM {t}")
        for t in ("cases", "debtors", "debtor_contacts", "case_events")
    }
    _, report, _ = _import(world, path)
    assert (report.imported, report.updated, report.unchanged) == (0, 0, 1000)
    assert {t: database.scalar(f"SELECT count(*) FROM {t}") for t in counts} == counts

    wb = openpyxl.load_workbook(path)
    ws = wb.active
    ws["J2"] = 999.99  # principal of LN202611000001
    ws["O3"] = "新产品"  # product of LN202611000002
    buffer = io.BytesIO()
    wb.save(buffer)
    _, report, _ = _import(world, data=buffer.getvalue(), name="updated.xlsx")
    assert (report.imported, report.updated, report.unchanged) == (0, 2, 998)
    changes = dict(
        database.rows(
            "SELECT c.loan_no, e.changes::text FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE e.kind = 'updated'"
        )
    )
    assert json.loads(changes["LN202611000001"]) == {
        "principal": ["322.83", "999.99"],
        "outstanding": ["351.67", "1028.83"],
    }
    assert json.loads(changes["LN202611000002"]) == {"product": ["车贷", "新产品"]}
    assert database.scalar("SELECT principal FROM cases WHERE loan_no = 'LN202611000001'") == Decimal(
        "999.99"
    )


def test_a_failure_mid_commit_writes_nothing(
    app: Flask, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHUNK", 100)
    original = engine._Writer._cases
    calls = {"n": 0}

    def flaky(self, rows, debtor_ids):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        return original(self, rows, debtor_ids)

    monkeypatch.setattr(engine._Writer, "_cases", flaky)
    with pytest.raises(RuntimeError):
        _import(world, DATA / "cases_lender_en.xlsx")
    for table in ("cases", "debtors", "debtor_contacts", "case_events"):
        assert database.scalar(f"SELECT count(*) FROM {table}") == 0, table
    assert database.scalar("SELECT status FROM import_batches") == "failed"


def test_personal_data_is_encrypted_and_found_by_blind_index(
    app: Flask, world: World, database: Database
) -> None:
    _import(world, DATA / "cases_lender_en.xlsx")
    raw = database.rows("SELECT id_number, mobile, email, home_address FROM debtors LIMIT 5")
    for row in raw:
        for value in row:
            assert value is None or (value.startswith("g1.") and "5101" not in value)
    from sqlalchemy import select

    from arrears.models import Debtor
    from arrears.security.pii import keyring

    with tenant(world.bank.org_id):
        found = db.session.scalar(
            select(Debtor).where(Debtor.id_number_bidx == keyring().blind_index("id", "510107197208077827"))
        )
        assert found is not None and found.name == "何艳涵" and found.mobile == "13576042997"
    contacts = database.rows("SELECT phone FROM debtor_contacts LIMIT 3")
    assert all(c[0].startswith("g1.") for c in contacts)


def _xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_messy_cells_are_normalised(app: Flask, world: World, database: Database) -> None:
    data = _xlsx_bytes(
        [
            ["合同编号", "姓名", "证件号码", "手机", "放款日期", "到期日期", "剩余本金", "利息", "备注"],
            [
                "\u00a0 M-001 ",
                "李 四",
                "11010519491231002x",
                "+86 138-0013-8000",
                "2024年3月5日",
                "20240405",
                "¥1,234.50元",
                "１２.５",
                "x",
            ],
            ["M-002", "王五", "110101199003076536", "１３８００１３８００１", 45000, "2024/3/5", "0", "", ""],
            ["合计", None, None, None, None, None, None, None, None],
        ]
    )
    _, report, refused = _import(world, data=data, name="messy.xlsx")
    assert refused is None and report.rejected == 0 and report.valid_rows == 2, report.as_dict()["errors"]
    assert report.summary_rows == 1 and report.unmapped_columns == ["备注"]
    row = database.rows(
        "SELECT loan_no, principal, interest, loan_date, due_date FROM cases ORDER BY loan_no"
    )
    assert tuple(row[0])[:3] == ("M-001", Decimal("1234.50"), Decimal("12.50"))
    assert str(row[0][3]) == "2024-03-05" and str(row[0][4]) == "2024-04-05"
    assert str(row[1][3]) == "2023-03-15"  # Excel serial 45000


@pytest.mark.parametrize(
    ("data", "name", "phrase"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls", "save it as .xlsx"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "photo.png", "neither a spreadsheet"),
        (b"", "empty.csv", "empty"),
        (b"just,some,words\n1,2,3\n", "nothing.csv", "no header row"),
        (b"PK\x03\x04broken", "broken.xlsx", "not a valid .xlsx"),
    ],
    ids=["xls", "png", "empty", "no-header", "broken-zip"],
)
def test_unreadable_files_are_refused_with_what_to_do(
    app: Flask, world: World, data: bytes, name: str, phrase: str
) -> None:
    _, report, refused = _import(world, data=data, name=name)
    assert report is None and refused is not None and phrase in refused


def test_zip_bomb_and_xml_entities_are_refused(app: Flask, world: World) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", "<a>" + "0" * 50_000_000 + "</a>")
    _, report, refused = _import(world, data=bomb.getvalue(), name="bomb.xlsx")
    assert report is None and "zip bomb" in (refused or "")

    evil = io.BytesIO(_xlsx_bytes([["借据号", "姓名", "身份证号"]]))
    out = io.BytesIO()
    with zipfile.ZipFile(evil) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                doctype = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>'
                content = (
                    content.replace(b"?>", b"?>" + doctype, 1) if b"?>" in content else doctype + content
                )
            dst.writestr(item, content)
    _, report, refused = _import(world, data=out.getvalue(), name="evil.xlsx")
    assert report is None and "entities" in (refused or "")


def test_missing_required_columns_are_named(app: Flask, world: World) -> None:
    data = _xlsx_bytes([["借据号", "客户姓名", "手机号码", "产品"], ["A1", "张三", "13800138000", "x"]])
    _, report, refused = _import(world, data=data, name="partial.xlsx")
    assert report is None and "ID number" in (refused or "") and "Due date" in (refused or "")


def test_cli_import_prints_the_report_and_exits_by_readability(
    app: Flask, world: World, database: Database, tmp_path: pathlib.Path
) -> None:
    env = cli_env(app, database)
    cmd = [sys.executable, "-m", "flask", "--app", "wsgi", "cases", "import", "--org", "bank"]
    ok = subprocess.run(
        [*cmd, str(DATA / "cases_with_errors.xlsx"), "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    body = json.loads(ok.stdout)
    assert (body["valid_rows"], body["rejected"]) == (13, 27)
    assert {"row", "column", "value", "reason"} == set(body["errors"][0])
    bad = tmp_path / "old.xls"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    refused = subprocess.run(
        [*cmd, str(bad), "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 2 and "xlsx" in json.loads(refused.stdout)["error"]["message"]


def test_export_streams_masked_unless_unmasked_and_is_audited(
    app: Flask, world: World, database: Database, tmp_path: pathlib.Path
) -> None:
    from arrears.cases.cases import CaseFilter
    from arrears.cases.exports import export_cases

    _import(world, DATA / "cases_lender_en.xlsx")
    org = _org(world)
    out = tmp_path / "cases.xlsx"
    with tenant(org.id, org.kind), open(out, "wb") as stream:
        assert export_cases(None, org, CaseFilter(sort="-amount"), "xlsx", stream) == 1000
    rows = list(openpyxl.load_workbook(out, read_only=True).active.iter_rows(values_only=True))
    assert len(rows) == 1001 and rows[0][0] == "Loan number"
    amounts = [r[15] for r in rows[1:]]
    assert amounts == sorted(amounts, reverse=True)
    assert all("*" in r[2] for r in rows[1:])  # ID numbers masked
    csv_out = tmp_path / "cases.csv"
    with tenant(org.id, org.kind), open(csv_out, "wb") as stream:
        export_cases(None, org, CaseFilter(dpd_min=400, sort="-dpd"), "csv", stream, unmask=True)
    text = csv_out.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    lines = text.decode("utf-8-sig").splitlines()
    assert len(lines) > 1 and "*" not in lines[1].split(",")[2]
    audits = database.rows(
        "SELECT details::text FROM audit_events WHERE action = 'cases.exported' ORDER BY id"
    )
    assert len(audits) == 2 and '"unmasked": true' in audits[1][0]


def test_key_rotation_re_encrypts_and_old_rows_still_read(
    app: Flask, world: World, database: Database
) -> None:
    from cryptography.fernet import Fernet
    from sqlalchemy import select

    from arrears.models import Debtor
    from arrears.security.pii import Keyring
    from arrears.security.rotation import rotate_all

    _import(world, DATA / "cases_utf8_bom.csv")
    old, index_key = app.config["PII_KEYS"], app.config["PII_INDEX_KEY"]
    new = Fernet.generate_key().decode()
    app.extensions["arrears.pii"] = Keyring([new, old], index_key)  # new key first, old still readable
    with tenant(world.bank.org_id):
        db.session.expire_all()
        first = db.session.scalar(select(Debtor).order_by(Debtor.id).limit(1))
        assert first.id_number and len(first.id_number) == 18
    counts = rotate_all()
    assert counts["debtors"] == 300 and counts["debtor_contacts"] > 0
    assert rotate_all()["debtors"] == 0  # idempotent
    app.extensions["arrears.pii"] = Keyring([new], index_key)  # the old key is gone
    with tenant(world.bank.org_id):
        db.session.expire_all()
        names = {d.id_number for d in db.session.scalars(select(Debtor))}
        assert len(names) == 300 and all(len(n) == 18 for n in names)


def _valid_id(first17: str) -> str:
    from arrears.cases.imports.normalize import _CHECK, _WEIGHTS

    return first17 + _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def _loans_csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    """借据号, 客户姓名, 身份证号, 家庭地址 plus fixed loan columns."""
    lines = ["借据号,客户姓名,身份证号,手机号码,家庭地址,到期日,本金"]
    for loan_no, name, id_number, address in rows:
        lines.append(f"{loan_no},{name},{id_number},13800138000,{address},2026-01-05,1000")
    return ("\n".join(lines) + "\n").encode()


def test_a_debtor_with_loans_in_several_chunks_stays_one_debtor(
    app: Flask, world: World, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CHUNK", 2)  # each debtor's loans fall into different chunks
    a, b = _valid_id("11010119900307123"), _valid_id("31010419851111456")
    rows = [
        ("L1", "张三", a, "北京市朝阳区一号"),
        ("L2", "李四", b, "上海市徐汇区二号"),
        ("L3", "张三", a, "北京市朝阳区一号"),
        ("L4", "李四", b, "上海市徐汇区二号"),
        ("L5", "张三", a, "北京市朝阳区一号"),
    ]
    _, report, _ = _import(world, data=_loans_csv(rows), name="loans.csv")
    assert (report.imported, report.rejected) == (5, 0)
    assert database.scalar("SELECT count(*) FROM debtors") == 2
    by_debtor = database.rows(
        "SELECT d.name, count(*) FROM cases c JOIN debtors d ON d.id = c.debtor_id GROUP BY d.name ORDER BY 1"
    )
    assert [tuple(r) for r in by_debtor] == [("张三", 3), ("李四", 2)]

    # The next month's file: 张三 moved (his last row says so); 李四 unchanged; one new loan.
    moved = [*rows[:4], ("L5", "张三", a, "北京市海淀区新址"), ("L6", "李四", b, "上海市徐汇区二号")]
    _, report, _ = _import(world, data=_loans_csv(moved), name="loans.csv")
    assert (report.imported, report.updated, report.unchanged) == (1, 1, 4)
    assert database.scalar("SELECT count(*) FROM debtors") == 2
    with tenant(world.bank.org_id):
        from sqlalchemy import select

        from arrears.models import Debtor

        db.session.expire_all()
        zhang = db.session.scalar(select(Debtor).where(Debtor.name == "张三"))
        assert zhang.home_address == "北京市海淀区新址"


def test_the_database_refuses_a_case_whose_debtor_is_another_tenants(
    app: Flask, world: World, database: Database
) -> None:
    """The tenant-pinned key (org_id, debtor_id) -> debtors (org_id, id): even a writer that escapes
    both the ORM criteria and row-level security (the owner role) cannot link across tenants."""
    from sqlalchemy.exc import IntegrityError

    _import(world, DATA / "cases_utf8_bom.csv")
    debtor_id = database.scalar("SELECT min(id) FROM debtors")
    other = world.lender.org_id
    with (
        pytest.raises(IntegrityError, match="fk_cases_org_id_debtors"),
        database.owner_engine.begin() as conn,
    ):
        conn.execute(
            text(
                "INSERT INTO cases (org_id, debtor_id, loan_no, product, due_date, principal, interest, "
                "penalty, fee, outstanding, currency, flags, status, province, city, region, tags, "
                "priority, extra, row_hash, created_at, updated_at) VALUES (:org, :debtor, 'X1', '', "
                "'2026-01-01', 1, 0, 0, 0, 1, 'CNY', '{}', 'new', '', '', '', '[]', 0, '{}', '', now(), "
                "now())"
            ),
            {"org": other, "debtor": debtor_id},
        )
