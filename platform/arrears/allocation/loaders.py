"""Scoped loaders of allocation (wall 1): placements (the owner's, or the agency's own), runs and
strategies of the reader's organisation. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from arrears.allocation.models import AllocationRun, AllocationStrategy, Placement
from arrears.auth.models import User
from arrears.tenancy.loaders import one


def get_placement_for(actor: User, placement_id: Any) -> Placement:
    """The owner opens its placements; an agency the ones made with it."""
    return one(
        Placement,
        actor,
        placement_id,
        (Placement.org_id == actor.org_id) | (Placement.agency_org_id == actor.org_id),
    )


def get_run_for(actor: User, run_id: Any) -> AllocationRun:
    return one(AllocationRun, actor, run_id, AllocationRun.org_id == actor.org_id)


def get_strategy_for(actor: User, strategy_id: Any) -> AllocationStrategy:
    return one(AllocationStrategy, actor, strategy_id, AllocationStrategy.org_id == actor.org_id)
