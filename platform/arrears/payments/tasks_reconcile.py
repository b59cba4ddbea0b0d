"""Jobs of the reconciliation (``services.reconcile``): one statement reconciled in the background
(the console's upload, or a file of the core system's drop), and the daily look at the drop."""

from __future__ import annotations

import logging
from typing import Any

from arrears.kernel.jobs.runner import JobContext

log = logging.getLogger(__name__)


def _owner() -> Any:
    from arrears.extensions import db
    from arrears.tenancy import current_org_id
    from arrears.tenancy.models import Organisation

    return db.session.get(Organisation, current_org_id() or 0)


def reconcile_job(
    job: JobContext,
    storage_key: str,
    filename: str,
    origin: str = "upload",
    sha256: str | None = None,
) -> dict[str, Any]:
    """Reconcile the statement stored under ``storage_key``; the full result and its workbook go to
    storage, the job record keeps the figures and their keys. Delivered again after it finished
    its work (a worker died before the record was closed), it returns the stored result: what it
    applied is reported as applied, not as matched, and nothing is applied twice either way."""
    import json

    from arrears.auth.models import User
    from arrears.extensions import db
    from arrears.integrations.storage import StorageNotFound, get_storage
    from arrears.payments import reconcile
    from arrears.tenancy.models import OrgKind

    org = _owner()
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        return {"refused": "only an asset owner reconciles statements"}
    storage = get_storage()
    json_key, xlsx_key = reconcile.result_keys(org.id, job.job_id)
    keys = {"result_key": json_key, "xlsx_key": xlsx_key, "source_key": storage_key, "origin": origin}
    if storage.exists(json_key) and storage.exists(xlsx_key):
        return {**reconcile.summary_of(json.loads(storage.get(json_key))), **keys}
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    try:
        with storage.local_copy(storage_key) as path:
            result = reconcile.reconcile(
                org, path, filename, actor=actor, progress=job.progress, via=f"job:{origin}"
            )
    except StorageNotFound:
        return {"file": filename, "refused": "the statement file is gone", **keys, "result_key": None}
    except reconcile.StatementRefused as exc:
        if origin == "source":
            reconcile.mark_done(org.id, storage_key, job.job_id)  # a file we cannot read: once is enough
        return {"file": filename, "refused": exc.reason, **keys, "result_key": None, "xlsx_key": None}
    reconcile.store_result(org.id, job.job_id, result)
    if origin == "source":
        reconcile.mark_done(org.id, storage_key, job.job_id)
    return {**reconcile.summary_of(result), **keys}


def statements_job(job: JobContext) -> dict[str, Any]:
    """Daily, per owner: when a statement source is configured, every new file the core system
    dropped there gets a reconciliation job (each file once)."""
    from arrears.payments import reconcile
    from arrears.tenancy.models import OrgKind

    org = _owner()
    if org is None or org.kind != OrgKind.ASSET_OWNER or reconcile.source_prefix(org) is None:
        return {"configured": False, "queued": 0}
    keys = reconcile.queue_new_statements(org)
    if keys:
        log.info("statement source of tenant %s: %d new file(s) to reconcile", org.id, len(keys))
    return {
        "configured": True,
        "folder": reconcile.source_folder(org),
        "queued": len(keys),
        "files": keys[:100],
    }
