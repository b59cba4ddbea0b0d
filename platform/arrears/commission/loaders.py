"""Scoped loaders of commission (wall 1): contracts and statements the organisation pays or is paid
under. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from arrears.auth.models import User
from arrears.commission.models import CommissionContract, CommissionStatement
from arrears.tenancy.loaders import one


def get_commission_contract_for(actor: User, contract_id: Any) -> Any:
    """A commission contract the organisation pays (owner: agencies' and incentive; agency: its
    incentive contract) or is paid under (an agency: its own contract with the owner)."""

    return one(
        CommissionContract,
        actor,
        contract_id,
        (CommissionContract.org_id == actor.org_id) | (CommissionContract.agency_org_id == actor.org_id),
    )


def get_commission_statement_for(actor: User, statement_id: Any) -> Any:
    """A statement the organisation pays or, an agency, is paid by; a collector's incentive
    statement only within its employer."""

    return one(
        CommissionStatement,
        actor,
        statement_id,
        (CommissionStatement.org_id == actor.org_id) | (CommissionStatement.agency_org_id == actor.org_id),
    )
