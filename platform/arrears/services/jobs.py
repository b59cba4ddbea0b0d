"""Starting jobs from the consoles and reading their status."""

from __future__ import annotations

from typing import Any

from arrears.auth.principal import require
from arrears.models import JobRecord, User
from arrears.services import audit
from arrears.services.unit import transaction
from arrears.tasks.queue import enqueue


def start_census(actor: User) -> JobRecord:
    """A harmless job anyone with the jobs page can start: it counts what the tenant can see."""
    require(actor, "org.jobs.view")
    with transaction():
        record = enqueue("arrears.tasks.builtin.tenant_census", name="tenant census", created_by=actor)
        audit.record(
            "job.started", actor=actor, target_type="job", target_id=record.id, details={"name": record.name}
        )
    return record


def status(record: JobRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "status": record.status.value,
        "progress": record.progress,
        "message": record.message,
        "done": record.status.done,
    }
