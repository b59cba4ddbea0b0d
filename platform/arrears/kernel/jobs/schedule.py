"""Periodic work, declared as data. ``flask --app wsgi cron`` registers these with rq's
``CronScheduler``; each entry runs through ``run_periodic`` inside an app context.

Per-tenant periodic work (daily screening, reminders, reconciliation in later issues) is declared
with ``per_tenant=True``: the periodic run enqueues one recorded job per active tenant, so each runs
inside its own tenant with its own progress and result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from werkzeug.utils import import_string

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    name: str
    func: str
    cron: str | None = None  # crontab in the scheduler's local time
    interval: int | None = None  # seconds
    kwargs: dict[str, Any] = field(default_factory=dict)
    per_tenant: bool = False
    queue: str | None = None  # None: the first of RQ_QUEUES


SCHEDULE: list[Periodic] = [
    Periodic("sweep-jobs", "arrears.kernel.jobs.housekeeping.sweep_jobs", interval=300),
    Periodic(
        "purge-expired-sessions", "arrears.kernel.jobs.housekeeping.purge_expired_sessions", cron="17 3 * * *"
    ),
    Periodic("purge-stale-files", "arrears.kernel.jobs.housekeeping.purge_stale_files", cron="37 3 * * *"),
    # placements past their end date end (退案 at the end date); hourly, so a day ends within the hour
    Periodic(
        "end-placements", "arrears.allocation.tasks.end_placements_job", cron="5 * * * *", per_tenant=True
    ),
    # promises whose date has passed: kept, partly kept or broken (a broken one reminds its collector)
    Periodic(
        "evaluate-promises", "arrears.work.tasks.evaluate_promises_job", cron="20 1 * * *", per_tenant=True
    ),
    # received repayments that no job applied (lost with Redis, or a worker died for good)
    Periodic("drain-repayments", "arrears.payments.tasks.drain", interval=60),
    # every loan whose ledger and balances disagree, reported
    Periodic("ledger-check", "arrears.payments.tasks.ledger_check_job", cron="40 2 * * *", per_tenant=True),
    # commission records of newly applied and reversed repayments (佣金记录), between settlements
    Periodic("accrue-commission", "arrears.commission.tasks.accrue_all", interval=900),
    # the month just ended, settled into draft statements for the owner's approval (佣金结算)
    Periodic(
        "settle-commission",
        "arrears.commission.tasks.settle_previous_month_job",
        cron="30 3 1 * *",
        per_tenant=True,
    ),
    # statements the core system dropped in the owner's statement source, each reconciled once (对账)
    Periodic(
        "reconcile-statements",
        "arrears.payments.tasks_reconcile.statements_job",
        cron="10 7 * * *",
        per_tenant=True,
    ),
]


def by_name(name: str) -> Periodic:
    for entry in SCHEDULE:
        if entry.name == name:
            return entry
    raise KeyError(name)


def run_periodic(name: str) -> Any:
    """The function rq runs for a schedule entry."""
    from arrears.extensions import db
    from arrears.kernel.jobs.runner import _get_app

    entry = by_name(name)
    app = _get_app()
    with app.app_context():
        if not entry.per_tenant:
            return import_string(entry.func)(**entry.kwargs)
        from arrears.kernel.jobs.housekeeping import active_tenant_ids
        from arrears.kernel.jobs.queue import enqueue
        from arrears.tenancy import tenant
        from arrears.tenancy.models import Organisation

        ids = active_tenant_ids()
        for org_id in ids:
            org = db.session.get(Organisation, org_id)
            with tenant(org_id, org.kind if org else None):
                enqueue(entry.func, name=entry.name, kwargs=entry.kwargs, queue=entry.queue)
                db.session.commit()
        return len(ids)
