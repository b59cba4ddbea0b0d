"""Case imports as use cases: the console upload, the CLI and the background job share this."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.cases.imports.engine import ImportAborted, Report, rows_table, run_import, run_table
from arrears.cases.imports.reader import Limits
from arrears.cases.models import ImportBatch, ImportMapping, ImportStatus
from arrears.errors import NotFound, ValidationFailed
from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.kernel import audit
from arrears.kernel.jobs.housekeeping import retained_files
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.security import masking
from arrears.tenancy import cross_tenant, tenant
from arrears.tenancy.models import Organisation, OrgKind

log = logging.getLogger(__name__)


def limits() -> Limits:
    return Limits(
        max_bytes=int(current_app.config["IMPORT_MAX_MB"]) * 1024 * 1024,
        max_rows=int(current_app.config["IMPORT_MAX_ROWS"]),
    )


def owner_by_slug(slug: str) -> Organisation:
    with cross_tenant("CLI finds the asset owner it imports for"):
        org = db.session.scalar(select(Organisation).where(Organisation.slug == (slug or "").strip().lower()))
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("No asset owner has the short name %(slug)s.", slug=slug))
    return org


def mapping_columns(name: str | None) -> dict[str, str] | None:
    """``None`` or "auto": recognise the headers; otherwise the owner's saved mapping of that name."""
    if not name or name == "auto":
        return None
    saved = db.session.scalar(select(ImportMapping).where(ImportMapping.name == name))
    if saved is None:
        raise ValidationFailed(_("No saved mapping is called %(name)s.", name=name), field="mapping")
    return dict(saved.columns)


def new_batch(
    org: Organisation,
    data: bytes | Path,
    filename: str,
    *,
    actor: User | None,
    dry_run: bool,
    store: bool = False,
) -> ImportBatch:
    """Record an uploaded file, given as bytes or as a path (kept in storage when ``store``, for the
    console's mapping step and for the job that runs it). Call inside the owner's tenant."""
    if isinstance(data, bytes):
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    else:
        with data.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        size = data.stat().st_size
    batch = ImportBatch(
        org_id=org.id,
        filename=Path(filename).name[:255] or "upload",
        sha256=digest,
        size=size,
        dry_run=dry_run,
        status=ImportStatus.QUEUED,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(batch)
    db.session.flush()
    if store:
        batch.storage_key = tenant_key(org.id, "imports", f"{batch.id}-{batch.sha256[:16]}.bin")
        get_storage().put(batch.storage_key, data if isinstance(data, bytes) else data.read_bytes())
    db.session.commit()
    return batch


def run_batch(
    batch: ImportBatch,
    data: bytes | Path,
    *,
    dry_run: bool,
    actor: User | None = None,
    columns: dict[str, str] | None = None,
    mapping: str | None = None,
    progress: Any = None,
) -> tuple[Report | None, str | None]:
    """Run the import of a recorded batch (its file as bytes or, lighter, as a path): all valid rows in
    one transaction, or none. Returns the report, or ``None`` and the reason when the file was
    refused. Call inside the owner's tenant."""
    org_id = batch.org_id
    batch_id, filename = batch.id, batch.filename
    batch.status, batch.dry_run = ImportStatus.RUNNING, dry_run
    db.session.commit()
    try:
        chosen = columns if columns else mapping_columns(mapping)
        report = run_import(
            org_id,
            data,
            filename,
            dry_run=dry_run,
            columns=chosen,
            batch_id=batch_id,
            actor_id=actor.id if actor else None,
            limits=limits(),
            progress=progress,
        )
    except (ImportAborted, ValidationFailed) as exc:
        db.session.rollback()
        reason = exc.reason if isinstance(exc, ImportAborted) else str(exc.message)
        _finish(batch_id, ImportStatus.FAILED, {"refused": reason}, actor, filename, dry_run)
        return None, reason
    except Exception:
        db.session.rollback()
        _finish(
            batch_id,
            ImportStatus.FAILED,
            {"error": "the import failed; nothing was written"},
            actor,
            filename,
            dry_run,
        )
        raise
    if dry_run:
        db.session.rollback()
    summary = report.as_dict()
    batch = db.session.get(ImportBatch, batch_id) or batch
    batch.mapping = summary["mapping"]
    batch.report = {**summary, "errors": masked_errors(summary["errors"], summary["mapping"])}
    batch.details = json.dumps(
        {
            "errors": summary["errors"],
            "headers": report.headers,
            "rejected_originals": rejected_originals(report),
        },
        ensure_ascii=False,
        default=str,
    )
    batch.status = ImportStatus.DONE
    audit.record(
        "cases.import_checked" if dry_run else "cases.imported",
        actor=actor,
        org_id=org_id,
        actor_email="" if actor else "cli",
        target=batch,
        details={
            k: summary[k] for k in ("file", "rows_read", "imported", "updated", "unchanged", "rejected")
        },
    )
    db.session.commit()
    return report, None


def masked_errors(errors: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """Errors as anyone may see them: values of personal-data columns masked."""

    field_of = {header: key for key, header in mapping.items()}
    return [{**e, "value": masking.cell(field_of.get(e["column"]), e["value"])} for e in errors]


def batch_details(actor: User, batch: ImportBatch) -> dict[str, Any]:
    """The clear errors and rejected rows of a batch, for users who may see personal data; audited."""

    require(actor, "pii.unmask")
    with transaction():
        audit.record("pii.unmasked", actor=actor, target=batch, details={"channel": "import report"})
    return json.loads(batch.details) if batch.details else {}


MAX_KEPT_REJECTED = 5000


def rejected_originals(report: Report) -> list[list[Any]]:
    """The rejected rows as they were in the file (capped), for the downloadable error workbook."""
    out = []
    for number, cells in sorted(report.rejected_rows.items())[:MAX_KEPT_REJECTED]:
        out.append([number, *[_jsonable(c) for c in cells]])
    return out


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def import_cases(
    org: Organisation,
    data: bytes | Path,
    filename: str,
    *,
    dry_run: bool,
    actor: User | None = None,
    mapping: str | None = None,
    columns: dict[str, str] | None = None,
    progress: Any = None,
) -> tuple[ImportBatch, Report | None, str | None]:
    """Import ``data`` (bytes, or a path: then the file is read from disk, not held in memory) for
    ``org`` at once (the CLI, tests): record the batch, then run it."""
    with tenant(org.id, org.kind, actor.id if actor else None):
        batch = new_batch(org, data, filename, actor=actor, dry_run=dry_run)
        report, refused = run_batch(
            batch, data, dry_run=dry_run, actor=actor, columns=columns, mapping=mapping, progress=progress
        )
        return batch, report, refused


def save_mapping(actor: User, name: str, columns: dict[str, str]) -> ImportMapping:

    require(actor, "cases.import")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(_("Give the mapping a name (up to 120 characters)."), field="mapping_name")
    with transaction():
        saved = db.session.scalar(select(ImportMapping).where(ImportMapping.name == name))
        if saved is None:
            saved = ImportMapping(name=name, created_by_id=actor.id)
            db.session.add(saved)
        saved.columns = {k: v for k, v in columns.items() if v}
        audit.record("cases.mapping_saved", actor=actor, target=saved, details={"name": name})
    return saved


def saved_mappings() -> list[ImportMapping]:
    return list(db.session.scalars(select(ImportMapping).order_by(ImportMapping.name)))


def start_batch_job(actor: User, batch: ImportBatch, *, dry_run: bool, columns: dict[str, str]) -> str:
    """Run a stored batch as a job (a progress bar in the console; inline when there is no Redis)."""

    with transaction():
        record = enqueue(
            run_import_job,
            name=f"import {batch.filename}",
            kwargs={"batch_id": batch.id, "dry_run": dry_run, "columns": columns},
            created_by=actor,
            retries=0,
        )
        batch.job_id = record.id
        batch.status = ImportStatus.QUEUED
    return record.id


def _finish(
    batch_id: int,
    status: ImportStatus,
    report: dict[str, Any],
    actor: User | None,
    filename: str,
    dry_run: bool,
) -> None:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is not None:
        batch.status, batch.report = status, report
        audit.record(
            "cases.import_refused",
            actor=actor,
            actor_email="" if actor else "cli",
            target=batch,
            details={"file": filename, "dry_run": dry_run, **report},
        )
        db.session.commit()


MAX_API_ITEMS = 1000


def upsert_records(actor: User, items: list[dict[str, Any]], *, dry_run: bool = False) -> dict[str, Any]:
    """The data interface (M-N1): a batch of case records, keyed like the import columns, upserted by
    loan number with the import's validation; one result per item. One transaction."""

    require(actor, "cases.import")
    if not isinstance(items, list) or not items:
        raise ValidationFailed(_("Send a non-empty list of items."), field="items")
    if len(items) > MAX_API_ITEMS:
        raise ValidationFailed(_("At most %(n)d items per request.", n=MAX_API_ITEMS), field="items")
    if not all(isinstance(item, dict) for item in items):
        raise ValidationFailed(_("Every item must be an object."), field="items")
    try:
        report = run_table(
            actor.org_id, rows_table(items), "api", dry_run=dry_run, actor_id=actor.id, track_rows=True
        )
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    errors: dict[int, list[dict[str, Any]]] = {}
    for error in report.errors:
        errors.setdefault(error.row, []).append(
            {"field": error.column, "value": error.as_dict()["value"], "reason": error.reason}
        )
    results = [
        {
            "index": i - 1,
            "loan_no": str(items[i - 1].get("loan_no") or "") or None,
            "status": (report.row_status or {}).get(i, "skipped"),
            "errors": errors.get(i, []),
        }
        for i in range(1, len(items) + 1)
    ]
    with transaction():  # the writes (unless a dry run) and their audit row commit together
        audit.record(
            "cases.upserted_by_api",
            actor=actor,
            details={
                "items": len(items),
                "imported": report.imported,
                "updated": report.updated,
                "rejected": report.rejected,
                "dry_run": dry_run,
            },
        )
    return {
        "imported": report.imported,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "items": results,
    }


@job("cases.import")
def run_import_job(job: JobContext, batch_id: int, dry_run: bool, columns: dict[str, str]) -> dict[str, Any]:
    """Run the stored batch ``batch_id`` inside its tenant, reporting progress."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or not batch.storage_key:
        return {"error": "the import batch or its file is gone"}
    actor = started_by(job)
    expected = max(1, batch.size // 200)  # rough rows estimate for the progress bar

    def progress(rows: int, _unit: str) -> None:
        job.progress(min(95, int(rows * 100 / expected)), f"{rows} rows")

    with get_storage().local_copy(batch.storage_key) as path:  # read from disk, not held in memory
        report, refused = run_batch(
            batch, path, dry_run=dry_run, actor=actor, columns=columns or None, progress=progress
        )
    if report is None:
        return {"batch_id": batch_id, "refused": refused}
    return {
        "batch_id": batch_id,
        "imported": report.imported,
        "updated": report.updated,
        "rejected": report.rejected,
    }


@retained_files("imports")
def purge_uploads(cutoff: dt.datetime) -> int:
    """The uploaded files of the batches created before ``cutoff`` (the batches stay)."""
    storage = get_storage()
    purged = 0
    for batch in db.session.scalars(
        select(ImportBatch).where(ImportBatch.storage_key.is_not(None), ImportBatch.created_at < cutoff)
    ):
        storage.delete(batch.storage_key or "")
        batch.storage_key = None
        purged += 1
    return purged
