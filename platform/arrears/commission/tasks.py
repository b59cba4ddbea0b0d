"""Periodic jobs of commission: the monthly settlement of the month just ended, and the accrual of
records between settlements."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from arrears.commission.accrual import accrue
from arrears.commission.commission import previous_period, settle
from arrears.commission.models import CommissionContract, ContractStatus
from arrears.extensions import db
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.tenancy import cross_tenant, current_org_id, tenant
from arrears.tenancy.models import Organisation

log = logging.getLogger(__name__)


# the month just ended, settled into draft statements for the owner's approval (佣金结算)
@job(
    "commission.settle-previous-month",
    periodic="settle-commission",
    cron="30 3 1 * *",
    per_tenant=True,
)
def settle_previous_month_job(job: JobContext) -> dict[str, Any]:
    """Monthly, per tenant with contracts: the month just ended."""
    payer = db.session.get(Organisation, current_org_id() or 0)
    if payer is None or not db.session.scalar(
        select(CommissionContract.id).where(CommissionContract.org_id == payer.id).limit(1)
    ):
        return {"statements": 0}
    return settle(payer, previous_period())


# commission records of newly applied and reversed repayments (佣金记录), between settlements
@job("commission.accrue", periodic="accrue-commission", every=900)
def accrue_all() -> dict[str, int]:
    """Periodic: every paying organisation's new commission records and clawbacks, each in its own
    tenant (the records pages are then current between settlements)."""
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
