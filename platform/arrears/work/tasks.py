"""Daily jobs of the collection work (see ``services.notes``)."""

from __future__ import annotations

from arrears.kernel.jobs.runner import JobContext


def evaluate_promises_job(job: JobContext) -> dict[str, int]:
    """Per tenant, daily: pending promises whose date has passed are kept, partly kept or broken; a
    broken one reminds its collector and shows on the workbench home page."""
    from arrears.extensions import db
    from arrears.tenancy import current_org_id
    from arrears.tenancy.models import Organisation
    from arrears.work.notes import evaluate_promises

    org = db.session.get(Organisation, current_org_id() or 0)
    if org is None:
        return {"evaluated": 0, "broken": 0}
    return evaluate_promises(org)
