"""The export job of the repayment records: a large export runs in the background and lands in
storage; the job's page links its download (``asset_console.export_download``)."""

from __future__ import annotations

import tempfile
from typing import Any

from arrears.auth.models import User
from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.kernel.jobs.runner import JobContext
from arrears.payments import queries as repayment_pages
from arrears.tenancy.models import Organisation


def run_export_job(job: JobContext, filters: dict[str, Any]) -> dict[str, Any]:
    org = db.session.get(Organisation, job.tenant_id)
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    assert org is not None
    assert actor is not None
    with tempfile.TemporaryFile() as spool:
        count = repayment_pages.export_xlsx(
            actor,
            repayment_pages.filter_from(filters),
            spool,
            progress=lambda n: job.progress(50, f"{n}"),
        )
        spool.seek(0)
        key = tenant_key(org.id, "exports", f"{job.job_id}.xlsx")
        get_storage().put(key, spool.read())
    return {"count": count, "format": "xlsx", "storage_key": key, "filename": "repayments.xlsx"}
