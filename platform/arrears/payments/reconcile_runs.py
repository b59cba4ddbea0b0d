"""Reconciliations in the background: a statement the console uploads, or a file the core system drops in
the owner's statement source, reconciled by a job (each dropped file once); the history of the runs
and their stored results."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.columns import utcnow
from arrears.errors import NotFound, ValidationFailed
from arrears.extensions import db
from arrears.integrations.storage import StorageNotFound, get_storage, tenant_key
from arrears.kernel import audit
from arrears.kernel.jobs.models import JobRecord, JobStatus
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.orgs.loaders import get_job_for
from arrears.payments.reconcile import (
    DEFAULT_PREFIX,
    JOB,
    RESERVED_FOLDERS,
    StatementRefused,
    open_statement,
    reconcile,
    summary_of,
    workbook_bytes,
)
from arrears.tenancy import current_org_id
from arrears.tenancy.models import Organisation, OrgKind

# --- background work: the console's uploads, the core system's drop -------------------------------------


def result_keys(org_id: int, job_id: str) -> tuple[str, str]:
    """Where a reconciliation job keeps its full result (.json) and its workbook (.xlsx)."""

    return (
        tenant_key(org_id, "reconciliations", f"{job_id}.json"),
        tenant_key(org_id, "reconciliations", f"{job_id}.xlsx"),
    )


def store_result(org_id: int, job_id: str, result: dict[str, Any]) -> dict[str, str]:

    json_key, xlsx_key = result_keys(org_id, job_id)
    storage = get_storage()
    storage.put(
        json_key,
        json.dumps(result, ensure_ascii=False, default=str).encode(),
        "application/json",
    )
    storage.put(
        xlsx_key,
        workbook_bytes(result),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    return {"result_key": json_key, "xlsx_key": xlsx_key}


def load_result(job: JobRecord) -> dict[str, Any] | None:
    """The full result of a finished reconciliation job, from storage (None when there is none)."""

    key = (job.result or {}).get("result_key")
    if not key:
        return None
    try:
        data: dict[str, Any] = json.loads(get_storage().get(key))
    except StorageNotFound:
        return None
    return data


def start_upload(actor: User, data: bytes, filename: str) -> JobRecord:
    """The console: keep the uploaded statement and reconcile it as a job (a progress bar; inline
    without Redis). The file is checked first (readable, a header, the required columns)."""

    require(actor, "repayments.audit")
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    try:
        open_statement(data, filename)
    except StatementRefused as exc:
        raise ValidationFailed(_("The statement cannot be read: %(reason)s", reason=exc.reason), field="file")
    name = Path(filename or "statement").name[:200] or "statement"
    digest = hashlib.sha256(data).hexdigest()
    key = tenant_key(actor.org_id, "reconciliations", f"upload-{uuid.uuid4().hex}.bin")
    get_storage().put(key, data)
    with transaction():
        record = enqueue(
            reconcile_job,
            name=f"reconcile {name}",
            kwargs={"storage_key": key, "filename": name, "sha256": digest, "origin": "upload"},
            created_by=actor,
            retries=1,
        )
        audit.record(
            "repayments.reconcile_started",
            actor=actor,
            target_type="job",
            target_id=record.id,
            details={"file": name, "sha256": digest},
        )
    return record


def history() -> Any:
    """The reconciliation jobs of the current tenant, newest first (a statement to paginate)."""
    return select(JobRecord).where(JobRecord.func == JOB).order_by(JobRecord.created_at.desc())


def job_for(actor: User, job_id: Any) -> JobRecord:

    record = get_job_for(actor, job_id)
    if record.func != JOB:
        raise NotFound(_("Not found."))
    return record


# --- the core system's drop ------------------------------------------------------------------------------


def clean_prefix(raw: Any) -> str:
    """A folder under the tenant's storage, as ``a/b/`` (ValidationFailed when it could leave it)."""
    text = str(raw or "").strip().strip("/")
    parts = [p for p in text.split("/")] if text else []
    if not parts or any(
        not p or p.startswith(".") or ".." in p or "\\" in p or "\x00" in p or len(p) > 100 for p in parts
    ):
        raise ValidationFailed(_("Give a folder name such as statements/."), field="prefix")
    if parts[0] in RESERVED_FOLDERS:
        raise ValidationFailed(_("That folder is the platform's own: choose another."), field="prefix")
    return "/".join(parts) + "/"


def source_prefix(org: Organisation) -> str | None:
    """The folder the core system drops statements into (under ``tenants/<id>/``), if configured."""
    conf = (org.settings or {}).get("statement_source")
    if not isinstance(conf, dict):
        return None
    try:
        return clean_prefix(conf.get("prefix") or DEFAULT_PREFIX)
    except ValidationFailed:
        return None


def set_statement_source(actor: User, prefix: str | None) -> str | None:
    """The owner's admin turns the daily reconciliation of the core system's drop on (a folder) or
    off (``None``)."""
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    require(actor, "org.settings.manage")
    cleaned = clean_prefix(prefix) if prefix is not None else None
    with transaction():
        org = db.session.get(Organisation, actor.org_id)
        assert org is not None
        settings = dict(org.settings or {})
        if cleaned is None:
            settings.pop("statement_source", None)
        else:
            settings["statement_source"] = {"prefix": cleaned}
        org.settings = settings
        audit.record("org.statement_source", actor=actor, details={"prefix": cleaned})
    return cleaned


def source_folder(org: Organisation) -> str | None:

    prefix = source_prefix(org)
    if prefix is None:
        return None
    return tenant_key(org.id, *prefix.strip("/").split("/")) + "/"


def done_key(org_id: int, source_key: str) -> str:
    """The marker a reconciled file of the drop leaves (so it is reconciled once)."""

    digest = hashlib.sha256(source_key.encode()).hexdigest()[:40]
    return tenant_key(org_id, "reconciliations", "done", f"{digest}.json")


STATEMENT_SUFFIXES = (".xlsx", ".csv", ".txt")


def new_statements(org: Organisation) -> list[str]:
    """Files of the drop not reconciled yet, nor being reconciled now."""

    folder = source_folder(org)
    if folder is None:
        return []
    storage = get_storage()
    running = {
        (record.kwargs or {}).get("storage_key")
        for record in db.session.scalars(
            select(JobRecord).where(
                JobRecord.func == JOB, JobRecord.status.in_((JobStatus.QUEUED, JobStatus.STARTED))
            )
        )
    }
    return [
        key
        for key in storage.keys(folder)
        if key.lower().endswith(STATEMENT_SUFFIXES)
        and key not in running
        and not storage.exists(done_key(org.id, key))
    ]


def queue_new_statements(org: Organisation) -> list[str]:
    """Queue a reconciliation job for every new file of the drop (each recorded with its job)."""

    keys = new_statements(org)
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        with transaction():
            enqueue(
                reconcile_job,
                name=f"reconcile {name}",
                kwargs={"storage_key": key, "filename": name, "origin": "source"},
                retries=1,
            )
    return keys


def mark_done(org_id: int, source_key: str, job_id: str) -> None:
    get_storage().put(
        done_key(org_id, source_key),
        json.dumps({"source_key": source_key, "job_id": job_id, "at": utcnow().isoformat()}).encode(),
        "application/json",
    )


@job(JOB)
def reconcile_job(
    job: JobContext,
    storage_key: str,
    filename: str,
    origin: str = "upload",
    sha256: str | None = None,
) -> dict[str, Any]:
    """Reconcile the statement stored under ``storage_key``; the full result and its workbook go to
    storage, the job record keeps the figures and their keys. Delivered again after it finished
    its work (a worker died before the record was closed), it returns the stored result: what it
    applied is reported as applied, not as matched, and nothing is applied twice either way."""
    org = db.session.get(Organisation, current_org_id() or 0)
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        return {"refused": "only an asset owner reconciles statements"}
    storage = get_storage()
    json_key, xlsx_key = result_keys(org.id, job.job_id)
    keys = {"result_key": json_key, "xlsx_key": xlsx_key, "source_key": storage_key, "origin": origin}
    if storage.exists(json_key) and storage.exists(xlsx_key):
        return {**summary_of(json.loads(storage.get(json_key))), **keys}
    actor = started_by(job)
    try:
        with storage.local_copy(storage_key) as path:
            result = reconcile(org, path, filename, actor=actor, progress=job.progress, via=f"job:{origin}")
    except StorageNotFound:
        return {"file": filename, "refused": "the statement file is gone", **keys, "result_key": None}
    except StatementRefused as exc:
        if origin == "source":
            mark_done(org.id, storage_key, job.job_id)  # a file we cannot read: once is enough
        return {"file": filename, "refused": exc.reason, **keys, "result_key": None, "xlsx_key": None}
    store_result(org.id, job.job_id, result)
    if origin == "source":
        mark_done(org.id, storage_key, job.job_id)
    return {**summary_of(result), **keys}
