"""The job that applies an approved allocation run (see ``services.allocation``)."""

from __future__ import annotations

from typing import Any

from arrears.tasks.runner import JobContext


def apply_run_job(job: JobContext, run_id: int) -> dict[str, Any]:
    from arrears.services.allocation import apply_run

    job.progress(10, "applying")
    run = apply_run(run_id)
    return {"run_id": run.id, "applied": run.applied_count, "skipped": run.skipped_count}
