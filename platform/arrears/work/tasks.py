"""Periodic jobs of the collection work."""

from __future__ import annotations

from arrears.extensions import db
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.tenancy import current_org_id
from arrears.tenancy.models import Organisation
from arrears.work.notes import evaluate_promises


# promises whose date has passed: kept, partly kept or broken (a broken one reminds its collector)
@job("work.evaluate-promises", periodic="evaluate-promises", cron="20 1 * * *", per_tenant=True)
def evaluate_promises_job(job: JobContext) -> dict[str, int]:
    """Per tenant, daily: pending promises whose date has passed are kept, partly kept or broken; a
    broken one reminds its collector and shows on the workbench home page."""
    org = db.session.get(Organisation, current_org_id() or 0)
    if org is None:
        return {"evaluated": 0, "broken": 0}
    return evaluate_promises(org)
