"""Jobs of commission (``services.commission``): the settlement of a period for the tenant it runs
in, the monthly settlement of the month just ended, and the periodic accrual of records."""

from __future__ import annotations

import logging
from typing import Any

from arrears.kernel.jobs.runner import JobContext

log = logging.getLogger(__name__)


def _payer() -> Any:
    from arrears.extensions import db
    from arrears.tenancy import current_org_id
    from arrears.tenancy.models import Organisation

    return db.session.get(Organisation, current_org_id() or 0)


def settle_job(job: JobContext, period: str) -> dict[str, Any]:
    """Build (or rebuild) the tenant's draft statements of ``period``. Delivered twice or retried
    after a crash, it gives the same statements: records are bound once, drafts are rebuilt whole,
    closed statements are never touched."""
    from arrears.commission.commission import settle

    payer = _payer()
    if payer is None:
        return {"statements": 0}
    job.progress(10, "accruing")
    return settle(payer, period, actor_id=job.created_by_id)


def settle_previous_month_job(job: JobContext) -> dict[str, Any]:
    """Monthly, per tenant with contracts: the month just ended."""
    from sqlalchemy import select

    from arrears.commission.commission import previous_period, settle
    from arrears.commission.models import CommissionContract
    from arrears.extensions import db

    payer = _payer()
    if payer is None or not db.session.scalar(
        select(CommissionContract.id).where(CommissionContract.org_id == payer.id).limit(1)
    ):
        return {"statements": 0}
    return settle(payer, previous_period())


def accrue_all() -> dict[str, int]:
    """Periodic: every paying organisation's new commission records and clawbacks, each in its own
    tenant (the records pages are then current between settlements)."""
    from sqlalchemy import select

    from arrears.commission.commission import accrue
    from arrears.commission.models import CommissionContract, ContractStatus
    from arrears.extensions import db
    from arrears.tenancy import cross_tenant, tenant
    from arrears.tenancy.models import Organisation

    with cross_tenant("the periodic accrual finds the organisations paying commission"):
        payer_ids = sorted(
            set(
                db.session.scalars(
                    select(CommissionContract.org_id).where(
                        CommissionContract.status == ContractStatus.ACTIVE
                    )
                )
            )
        )
        db.session.commit()
    written = 0
    for org_id in payer_ids:
        with tenant(org_id):
            org = db.session.get(Organisation, org_id)
            if org is None:
                continue
            try:
                counts = accrue(org)
            except Exception:  # one tenant's failure must not stop the others'
                log.exception("commission accrual failed for tenant %s", org_id)
                db.session.rollback()
                continue
            written += counts["commission"] + counts["clawback"]
    return {"tenants": len(payer_ids), "records": written}
