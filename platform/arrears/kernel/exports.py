"""One export-to-storage job for every large export.

A domain declares what it writes with ``@exporter("kind")``: a function
``write(job, filters, fmt, out, **options) -> int`` that checks its actor, writes the file to
``out`` and returns how many rows it wrote. ``start(write, ...)`` records the job; the job spools
the file, stores it under ``tenants/<org>/exports/<job id>.<fmt>`` and keeps the key in its result,
which the console's download reads. ``purge`` removes the files of old exports (the job records
stay, marked ``expired``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Callable
from typing import IO, Any

from sqlalchemy import select

from arrears.extensions import db
from arrears.integrations.storage import get_storage, tenant_key
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.queue import Starter, enqueue
from arrears.kernel.jobs.registry import job, name_of
from arrears.kernel.jobs.runner import JobContext

Writer = Callable[..., int]

_WRITERS: dict[str, tuple[Writer, str | None]] = {}
_KIND_ATTR = "__export_kind__"


def exporter(kind: str, *, filename: str | None = None) -> Callable[[Writer], Writer]:
    """Register ``write`` as the export ``kind``; ``filename`` (with ``{fmt}``) names the download
    (the console's default otherwise)."""

    def register(write: Writer) -> Writer:
        _WRITERS[kind] = (write, filename)
        setattr(write, _KIND_ATTR, kind)
        return write

    return register


def start(
    write: Writer,
    *,
    name: str,
    filters: dict[str, Any],
    created_by: Starter,
    fmt: str = "xlsx",
    retries: int = 1,
    **options: Any,
) -> JobRecord:
    """Record the export job of ``write`` (an ``@exporter``) in the caller's transaction."""
    kind = getattr(write, _KIND_ATTR, None)
    if kind is None:
        raise ValueError(f"{write!r} is not an exporter: decorate it with @exporter(kind)")
    return enqueue(
        export_job,
        name=name,
        kwargs={"kind": kind, "filters": filters, "fmt": fmt, **options},
        created_by=created_by,
        retries=retries,
    )


@job("exports.to-storage")
def export_job(
    job: JobContext, kind: str, filters: dict[str, Any], fmt: str = "xlsx", **options: Any
) -> dict[str, Any]:
    """Write the export ``kind`` to storage; the job's page links its download."""
    write, filename = _WRITERS[kind]
    spool: IO[bytes]
    with tempfile.TemporaryFile() as spool:
        count = write(job, filters, fmt, spool, **options)
        spool.seek(0)
        key = tenant_key(job.tenant_id, "exports", f"{job.job_id}.{fmt}")
        get_storage().put(key, spool.read())
    result: dict[str, Any] = {"count": count, "format": fmt, "storage_key": key}
    if filename is not None:
        result["filename"] = filename.format(fmt=fmt)
    return result


def is_export(record: JobRecord) -> bool:
    """Whether ``record`` is an export job (its result may hold a file to download)."""
    return record.func == name_of(export_job)


def purge(cutoff: dt.datetime) -> int:
    """Delete the files of the exports recorded before ``cutoff``, in the tenants the caller sees
    (the housekeeping's cross-tenant block); returns how many."""
    storage = get_storage()
    purged = 0
    for record in db.session.scalars(
        select(JobRecord).where(JobRecord.func == name_of(export_job), JobRecord.created_at < cutoff)
    ):
        key = (record.result or {}).get("storage_key")
        if key:
            storage.delete(key)
            record.result = {k: v for k, v in (record.result or {}).items() if k != "storage_key"} | {
                "expired": True
            }
            purged += 1
    return purged
