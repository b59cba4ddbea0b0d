"""What payments announces to the domains above it (``kernel.hooks``; the table is
``arrears.hooks.HOOKS``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arrears.kernel.hooks import Event


@dataclass(frozen=True)
class RepaymentsApplied(Event):
    """A chunk of the owner's repayments was applied (postings written, balances moved), in the
    applying transaction. ``claimed``: the applied rows (``repayments.Claimed``: id, case_id, amount,
    paid_at, agency_org_id, collector_user_id); ``cases``: their cases' rows as locked before the
    money moved (id, status...); ``credited_org_ids``: the organisations credited (the agencies,
    the owner for its in-house cases)."""

    owner_id: int
    claimed: Sequence[Any]
    cases: Mapping[int, Any]
    credited_org_ids: frozenset[int]


@dataclass(frozen=True)
class RepaymentReversed(Event):
    """A repayment was reversed (bounced, charged back), in the reversing transaction; ``applied``:
    its money had moved (a reversal posting put it back)."""

    repayment: Any  # payments.models.Repayment
    applied: bool
    now: dt.datetime
