"""Case imports as use cases: the console upload, the CLI and the background job share this."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.errors import NotFound, ValidationFailed
from arrears.extensions import db
from arrears.imports.engine import ImportAborted, Report, run_import
from arrears.imports.reader import Limits
from arrears.models import ImportBatch, ImportMapping, ImportStatus, Organisation, OrgKind, User
from arrears.services import audit
from arrears.tenancy import cross_tenant, tenant

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


def import_cases(
    org: Organisation,
    data: bytes,
    filename: str,
    *,
    dry_run: bool,
    actor: User | None = None,
    mapping: str | None = None,
    columns: dict[str, str] | None = None,
    progress: Any = None,
) -> tuple[ImportBatch, Report | None, str | None]:
    """Import ``data`` for ``org``. Returns the batch, the report (``None`` when the file was refused)
    and the refusal reason. All valid rows are written in one transaction, or none."""
    with tenant(org.id, org.kind, actor.id if actor else None):
        batch = ImportBatch(
            org_id=org.id,
            filename=Path(filename).name[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            dry_run=dry_run,
            status=ImportStatus.RUNNING,
            created_by_id=actor.id if actor else None,
        )
        db.session.add(batch)
        db.session.commit()
        try:
            chosen = columns if columns else mapping_columns(mapping)
            report = run_import(
                org.id,
                data,
                batch.filename,
                dry_run=dry_run,
                columns=chosen,
                batch_id=batch.id,
                actor_id=actor.id if actor else None,
                limits=limits(),
                progress=progress,
            )
        except (ImportAborted, ValidationFailed) as exc:
            db.session.rollback()
            reason = exc.reason if isinstance(exc, ImportAborted) else str(exc.message)
            _finish(batch.id, ImportStatus.FAILED, {"refused": reason}, actor, filename, dry_run)
            return batch, None, reason
        except Exception:
            db.session.rollback()
            _finish(
                batch.id,
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
        batch = db.session.get(ImportBatch, batch.id) or batch
        batch.mapping = summary["mapping"]
        batch.report = summary
        batch.status = ImportStatus.DONE
        audit.record(
            "cases.import_checked" if dry_run else "cases.imported",
            actor=actor,
            org_id=org.id,
            actor_email="" if actor else "cli",
            target=batch,
            details={
                k: summary[k] for k in ("file", "rows_read", "imported", "updated", "unchanged", "rejected")
            },
        )
        db.session.commit()
        return batch, report, None


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
    from arrears.auth.principal import require
    from arrears.imports.engine import rows_table, run_table
    from arrears.services.unit import transaction

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
