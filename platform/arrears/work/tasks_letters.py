"""The bulk letters job: one letter per selected case, the cases left out reported with the reason."""

from __future__ import annotations

from typing import Any

from arrears.auth.models import User
from arrears.extensions import db
from arrears.kernel.jobs.runner import JobContext
from arrears.work import letters


def run_bulk_letters(job: JobContext, case_ids: list[int], template_id: int) -> dict[str, Any]:
    actor = db.session.get(User, job.created_by_id) if job.created_by_id else None
    if actor is None or not actor.is_active:
        return {
            "generated": 0,
            "letters": [],
            "skipped": [{"case_id": c, "reason": "not_found"} for c in case_ids],
        }
    return letters.run_bulk(
        actor, job.job_id, [int(c) for c in case_ids], int(template_id), progress=job.progress
    )
