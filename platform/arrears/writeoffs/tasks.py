"""Jobs of the write-off (``services.writeoffs``): registering an approved batch in the ledger, and
the export of a large ledger."""

from __future__ import annotations

import tempfile
from typing import Any

from arrears.kernel.jobs.runner import JobContext


def register_job(job: JobContext, approval_id: int) -> dict[str, Any]:
    """Register the approved batch ``approval_id``, a chunk per transaction, reporting progress.
    Idempotent: delivered twice, or retried from the start after its worker died, it writes each
    line once (a proposal leaves ``pending`` only in the transaction that writes its line)."""
    from arrears.writeoffs.writeoffs import register_approved

    def progress(done: int, total: int) -> None:
        job.progress(min(99, done * 100 // max(total, 1)), f"{done}/{total}")

    return register_approved(int(approval_id), progress=progress)


def run_export_job(job: JobContext, filters: dict[str, Any]) -> dict[str, Any]:
    """The ledger's export in the background; the job's page links its download."""
    from arrears.auth.models import User
    from arrears.extensions import db
    from arrears.integrations.storage import get_storage, tenant_key
    from arrears.tenancy.models import Organisation
    from arrears.writeoffs import writeoffs

    org = db.session.get(Organisation, job.tenant_id)
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    assert org is not None
    assert actor is not None
    with tempfile.TemporaryFile() as spool:
        count = writeoffs.export_xlsx(
            actor, writeoffs.filter_from(filters), spool, progress=lambda n: job.progress(50, f"{n}")
        )
        spool.seek(0)
        key = tenant_key(org.id, "exports", f"{job.job_id}.xlsx")
        get_storage().put(key, spool.read())
    return {"count": count, "format": "xlsx", "storage_key": key, "filename": "write-offs.xlsx"}
