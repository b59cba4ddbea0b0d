"""The import job: runs a stored batch inside its tenant, reporting progress."""

from __future__ import annotations

from typing import Any

from arrears.auth.models import User
from arrears.cases.imports.batches import run_batch
from arrears.cases.models import ImportBatch
from arrears.extensions import db
from arrears.integrations.storage import get_storage
from arrears.kernel.jobs.runner import JobContext


def run_import_job(job: JobContext, batch_id: int, dry_run: bool, columns: dict[str, str]) -> dict[str, Any]:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or not batch.storage_key:
        return {"error": "the import batch or its file is gone"}
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
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
