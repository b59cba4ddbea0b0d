"""Starting jobs from the consoles and reading their status."""

from __future__ import annotations

from typing import Any, TypeVar

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.kernel import audit
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.transaction import transaction

T = TypeVar("T")


def start_census(actor: User) -> JobRecord:
    """A harmless job anyone with the jobs page can start: it counts what the tenant can see."""
    require(actor, "org.jobs.view")
    with transaction():
        record = enqueue(
            "arrears.kernel.jobs.housekeeping.tenant_census", name="tenant census", created_by=actor
        )
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


def filter_args(f: Any) -> dict[str, Any]:
    """A filter dataclass as a job's JSON arguments (dates as ISO strings)."""
    import datetime as dt

    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in vars(f).items()}


def filter_of(cls: type[T], values: dict[str, Any], dates: tuple[str, ...]) -> T:
    """The filter dataclass ``cls`` back from a job's JSON arguments (``dates``: its date fields);
    keys it does not know are ignored."""
    import dataclasses
    import datetime as dt

    out = dict(values)
    for key in dates:
        if out.get(key):
            out[key] = dt.date.fromisoformat(str(out[key]))
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in out.items() if k in known})
