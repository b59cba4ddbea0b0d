"""What collection work announces to the domains above it (``kernel.hooks``; the table is
``arrears.hooks.HOOKS``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from arrears.kernel.hooks import Event


@dataclass(frozen=True)
class RepaymentReported(Event):
    """A collector's repayment application (还款申请) was approved at its last level: the money it
    reports becomes a repayment waiting for the owner's audit (``payments``), in the deciding
    transaction. Required: an approved report must never go nowhere."""

    required: ClassVar[bool] = True

    application_id: int
    org_id: int
    case_id: int
    amount: Decimal
    paid_on: dt.date | None
    channel: str
    agency_org_id: int | None
    requested_by_id: int
    decider_id: int


@dataclass(frozen=True)
class PromisesSettled(Event):
    """Promises to pay of these organisations were settled (kept, partly kept, broken) by the
    daily evaluation or by hand: the figures built on them moved."""

    org_ids: tuple[int, ...]
