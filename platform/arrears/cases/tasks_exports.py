"""The export job: large case exports run in the background and land in storage."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from typing import Any

from arrears.auth.models import User
from arrears.cases.cases import CaseFilter
from arrears.cases.exports import export_cases
from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.kernel.jobs.runner import JobContext
from arrears.tenancy.models import Organisation


def run_export_job(job: JobContext, filters: dict[str, Any], fmt: str, unmask: bool) -> dict[str, Any]:
    org = db.session.get(Organisation, job.tenant_id)
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    assert org is not None
    values = dict(filters)
    for key in ("amount_min", "amount_max"):
        if values.get(key) is not None:
            values[key] = Decimal(values[key])
    f = CaseFilter(**values)
    with tempfile.TemporaryFile() as spool:
        count = export_cases(
            actor, org, f, fmt, spool, unmask=unmask, progress=lambda n: job.progress(50, f"{n}")
        )
        spool.seek(0)
        key = tenant_key(org.id, "exports", f"{job.job_id}.{fmt}")
        get_storage().put(key, spool.read())
    return {"count": count, "format": fmt, "storage_key": key}
