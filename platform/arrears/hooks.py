"""Who reacts to what: the one table of the hooks that carry an effect up the domains
(``kernel.hooks``; cosmicpython's ``EVENT_HANDLERS``).

A domain imports only the domains below it. When something that happens in a lower domain must
change an upper one, the lower domain emits an event (``<domain>/events.py``) and the upper domain
reacts here, in the same transaction. Reading this table tells every such effect:

* a collector's approved repayment application becomes a repayment waiting for the owner's audit;
* applied and reversed repayments recover (and give back) written-off money, and move the honour
  roll;
* settled promises move the honour roll.

The application factory installs it (``kernel.hooks.install``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from arrears.kernel.hooks import Event
from arrears.payments import collector_reports
from arrears.payments.events import RepaymentReversed, RepaymentsApplied
from arrears.reports import desk
from arrears.work.events import PromisesSettled, RepaymentReported
from arrears.writeoffs import recoveries

HOOKS: dict[type[Event], Sequence[Callable[[Any], Any]]] = {
    RepaymentReported: [collector_reports.record_report],
    RepaymentsApplied: [recoveries.on_repayments_applied, desk.on_repayments_applied],
    RepaymentReversed: [recoveries.on_repayment_reversed, desk.on_repayment_reversed],
    PromisesSettled: [desk.on_promises_settled],
}
