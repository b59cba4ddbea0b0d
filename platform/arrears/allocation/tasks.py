"""Periodic jobs of the allocation."""

from __future__ import annotations

from arrears.allocation.placements import end_due
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext


# placements past their end date end (退案 at the end date); hourly, so a day ends within the hour
@job("allocation.end-placements", periodic="end-placements", cron="5 * * * *", per_tenant=True)
def end_placements_job(job: JobContext) -> dict[str, int]:
    """The hourly per-tenant job: placements past their end date end and their cases come back."""
    return end_due()
