"""Asset console: import with mapping confirmation and saved templates, report and rejected rows,
case list with filters and export, case detail with audited reveal and edit history, debtor search."""

from __future__ import annotations

import io
import pathlib

import openpyxl
from flask import Flask

from tests.builders.pages import submit_mapping, upload_cases
from tests.conftest import SHARED, Database, csrf_token, signed_in

DATA = SHARED / "data" / "imports"


def test_upload_confirm_check_then_import(eager_app: Flask, database: Database) -> None:
    from tests.builders.tenants import build_world

    world = build_world()
    c = signed_in(eager_app, world.bank.admin_email)
    uploaded = upload_cases(c, (DATA / "cases_with_errors.xlsx").read_bytes(), "cases_with_errors.xlsx")
    assert uploaded.status_code == 302 and "/mapping" in uploaded.headers["Location"]
    mapping_url = uploaded.headers["Location"]
    page = c.get(mapping_url).get_data(as_text=True)
    assert "Loan No" in page and "ER202611000001" in page  # headers and first rows shown
    checked = submit_mapping(c, mapping_url, "check", save_as="Lender template")
    assert checked.status_code == 302
    report = c.get(checked.headers["Location"]).get_data(as_text=True)
    assert "check only: nothing was written" in report and "duplicate loan number in file" in report
    assert database.scalar("SELECT count(*) FROM cases") == 0
    assert database.scalar("SELECT name FROM import_mappings") == "Lender template"
    batch_id = database.scalar("SELECT id FROM import_batches")
    errors = c.get(f"/asset/imports/{batch_id}/errors.xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(errors.data)).active.iter_rows(values_only=True))
    assert len(rows) == 28 and rows[0][1] == "Loan No" and "loan number missing" in rows[1][-1]
    # personal data in the stored report is masked; the clear rows are encrypted
    stored = database.scalar("SELECT report::text FROM import_batches")
    assert "3.70102199112114e+17" not in stored and "37010219" not in stored
    assert database.scalar("SELECT details FROM import_batches").startswith("g1.")
    staff = signed_in(eager_app, world.bank.emails["owner_staff"])
    masked = list(
        openpyxl.load_workbook(
            io.BytesIO(staff.get(f"/asset/imports/{batch_id}/errors.xlsx").data)
        ).active.iter_rows(values_only=True)
    )
    assert masked[1][3].startswith("370") and "*" in masked[1][3]  # ID number column, masked
    assert rows[1][3] == "370102199401261782"  # the admin's download was in clear (and logged)
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'pii.unmasked'") == 1
    imported = submit_mapping(c, mapping_url, "import")
    c.get(imported.headers["Location"])
    assert database.scalar("SELECT count(*) FROM cases") == 13
    # the saved template is offered at the next upload
    assert "Lender template" in c.get("/asset/imports").get_data(as_text=True)


def test_case_list_detail_reveal_edit_and_search(eager_app: Flask, database: Database) -> None:
    from arrears.cases.imports.batches import import_cases
    from arrears.extensions import db
    from arrears.models import Organisation
    from tests.builders.tenants import build_world

    world = build_world()
    import_cases(
        db.session.get(Organisation, world.bank.org_id),
        (DATA / "cases_lender_en.xlsx").read_bytes(),
        "l.xlsx",
        dry_run=False,
    )
    staff = signed_in(eager_app, world.bank.emails["owner_staff"])
    listing = staff.get("/asset/cases?sort=-amount").get_data(as_text=True)
    assert ("LN2026110" in listing and "何艳涵" not in listing and "何*涵" in listing) or "*" in listing
    assert staff.get("/asset/cases/export?format=csv").status_code == 403  # staff may not export
    case_id = database.scalar("SELECT id FROM cases WHERE loan_no = 'LN202611000001'")
    detail = staff.get(f"/asset/cases/{case_id}").get_data(as_text=True)
    assert "510***********7827" in detail and "Show personal data in clear" not in detail

    admin = signed_in(eager_app, world.bank.admin_email)
    token = csrf_token(admin, f"/asset/cases/{case_id}")
    revealed = admin.post(f"/asset/cases/{case_id}/reveal", data={"csrf_token": token}).get_data(as_text=True)
    assert "510107197208077827" in revealed
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'pii.unmasked'") == 1
    edit = admin.post(
        f"/asset/cases/{case_id}/edit",
        data={"csrf_token": token, "status": "active", "priority": "5", "tags": "vip，重点"},
    )
    assert edit.status_code == 302
    history = admin.get(f"/asset/cases/{case_id}").get_data(as_text=True)
    assert "edited" in history and "vip" in history
    assert database.scalar("SELECT status FROM cases WHERE id = :i", i=case_id) == "active"
    export = admin.get("/asset/cases/export?format=xlsx&dpd_min=600")
    rows = list(openpyxl.load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    assert len(rows) > 1 and all(r[9] >= 600 for r in rows[1:])
    found = admin.get("/asset/debtors?q=510107197208077827").get_data(as_text=True)
    assert "何*涵" in found
    assert "何*涵" in admin.get("/asset/debtors?q=135 7604 2997").get_data(as_text=True)


def test_face_image_upload_and_audited_view(
    eager_app: Flask, database: Database, tmp_path: pathlib.Path
) -> None:
    from arrears.cases.imports.batches import import_cases
    from arrears.extensions import db
    from arrears.models import Organisation
    from tests.builders.tenants import build_world

    eager_app.config["MEDIA_ROOT"] = str(tmp_path / "media")
    eager_app.extensions.pop("arrears.storage", None)
    world = build_world()
    import_cases(
        db.session.get(Organisation, world.bank.org_id),
        (DATA / "cases_utf8_bom.csv").read_bytes(),
        "u.csv",
        dry_run=False,
    )
    debtor_id = database.scalar("SELECT min(id) FROM debtors")
    admin = signed_in(eager_app, world.bank.admin_email)
    url = f"/asset/debtors/{debtor_id}/face"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    token = csrf_token(admin, f"/asset/debtors/{debtor_id}")
    bad = admin.post(
        url,
        data={"csrf_token": token, "face": (io.BytesIO(b"GIF89a"), "x.png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Upload a JPEG or PNG image." in bad.get_data(as_text=True)
    ok = admin.post(
        url,
        data={"csrf_token": token, "face": (io.BytesIO(png), "face.png")},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 302
    stored = list((tmp_path / "media" / "tenants" / str(world.bank.org_id) / "faces").iterdir())
    assert len(stored) == 1 and stored[0].read_bytes() == png
    key = database.scalar("SELECT face_image_key FROM debtors WHERE id = :i", i=debtor_id)
    assert key.startswith("g1.")  # the storage key itself is encrypted at rest
    image = admin.get(url)
    assert image.status_code == 200 and image.data == png and image.mimetype == "image/png"
    assert database.scalar("SELECT count(*) FROM audit_events WHERE action = 'pii.face_viewed'") == 1
    staff = signed_in(eager_app, world.bank.emails["owner_staff"])
    assert staff.get(url).status_code == 403


def test_large_exports_run_as_a_job_and_download_from_storage(
    eager_app: Flask, database: Database, tmp_path: pathlib.Path
) -> None:
    from arrears.cases.imports.batches import import_cases
    from arrears.extensions import db
    from arrears.models import Organisation
    from tests.builders.tenants import build_world

    eager_app.config["EXPORT_INLINE_MAX"] = 100
    world = build_world()
    import_cases(
        db.session.get(Organisation, world.bank.org_id),
        (DATA / "cases_gbk.csv").read_bytes(),
        "g.csv",
        dry_run=False,
    )
    admin = signed_in(eager_app, world.bank.admin_email)
    started = admin.get("/asset/cases/export?format=xlsx")
    assert started.status_code == 302 and "/asset/jobs/" in started.headers["Location"]
    page = admin.get(started.headers["Location"]).get_data(as_text=True)
    assert "Download the export" in page
    job_id = started.headers["Location"].rsplit("/", 1)[1]
    download = admin.get(f"/asset/exports/{job_id}/download")
    rows = list(openpyxl.load_workbook(io.BytesIO(download.data)).active.iter_rows(values_only=True))
    assert len(rows) == 301
    other = signed_in(eager_app, world.lender.admin_email)
    assert other.get(f"/asset/exports/{job_id}/download").status_code == 404


def test_old_uploads_and_exports_are_purged(eager_app: Flask, database: Database) -> None:
    from arrears.cases.imports.batches import new_batch
    from arrears.extensions import db
    from arrears.integrations.storage import StorageNotFound, get_storage
    from arrears.kernel.jobs.housekeeping import purge_stale_files
    from arrears.models import Organisation
    from arrears.tenancy import tenant
    from tests.builders.tenants import build_world

    world = build_world()
    org = db.session.get(Organisation, world.bank.org_id)
    with tenant(org.id, org.kind):
        batch = new_batch(org, b"a,b\n", "x.csv", actor=None, dry_run=True, store=True)
        key = batch.storage_key
    assert get_storage().get(key) == b"a,b\n"
    assert purge_stale_files(keep_days=7) == {"imports": 0, "exports": 0}
    with database.owner_engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("UPDATE import_batches SET created_at = now() - interval '8 days'"))
    assert purge_stale_files(keep_days=7) == {"imports": 1, "exports": 0}
    try:
        get_storage().get(key)
        raise AssertionError("the file is still there")
    except StorageNotFound:
        pass
    assert database.scalar("SELECT storage_key FROM import_batches") is None
