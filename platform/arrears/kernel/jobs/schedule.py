"""Periodic work. Each entry is declared on the job it runs (``registry.job(..., periodic=...)``);
``flask --app wsgi cron`` registers them with rq's ``CronScheduler``, and each runs through
``run_periodic`` inside the worker's application.

Per-tenant periodic work (``per_tenant=True``) records one job per active tenant, so each runs inside
its own tenant with its own progress and result.
"""

from __future__ import annotations

import logging
from typing import Any

from arrears.extensions import db
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import SCHEDULE, Periodic, by_name
from arrears.kernel.jobs.runner import current_app_for_jobs
from arrears.tenancy import cross_tenant, tenant
from arrears.tenancy.models import Organisation, OrgStatus

__all__ = ["SCHEDULE", "Periodic", "active_tenant_ids", "by_name", "run_periodic"]

log = logging.getLogger(__name__)


def active_tenant_ids() -> list[int]:
    with cross_tenant("scheduler: list tenants to fan a periodic job out to"):
        active = db.select(Organisation.id).where(Organisation.status == OrgStatus.ACTIVE)
        return list(db.session.scalars(active))


def run_periodic(name: str) -> Any:
    """The function rq runs for a schedule entry."""
    entry = by_name(name)
    with current_app_for_jobs().app_context():
        if not entry.per_tenant:
            return entry.func(**entry.kwargs)
        ids = active_tenant_ids()
        for org_id in ids:
            org = db.session.get(Organisation, org_id)
            with tenant(org_id, org.kind if org else None):
                enqueue(entry.func, name=entry.name, kwargs=entry.kwargs, queue=entry.queue)
                db.session.commit()
        return len(ids)
