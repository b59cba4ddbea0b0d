"""The job that applies an approved allocation run (see ``services.allocation``)."""

from __future__ import annotations

from typing import Any

from arrears.kernel.jobs.runner import JobContext


def apply_run_job(job: JobContext, run_id: int) -> dict[str, Any]:
    from arrears.allocation.runs import apply_run

    job.progress(10, "applying")
    run = apply_run(run_id)
    return {"run_id": run.id, "applied": run.applied_count, "skipped": run.skipped_count}


def end_placements_job(job: JobContext) -> dict[str, int]:
    """The hourly per-tenant job: placements past their end date end and their cases come back."""
    from arrears.allocation.placements import end_due

    return end_due()
