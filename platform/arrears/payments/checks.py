"""One repayment event, checked before it is recorded: the fields it must have, a payment time that
makes sense, a loan the owner has; a bad event is refused naming its field and reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    String,
    select,
)

from arrears.cases.models import Case
from arrears.errors import ValidationFailed
from arrears.extensions import db
from arrears.kernel import clock
from arrears.kernel.db import among
from arrears.kernel.money import parse_amount

CLOCK_SKEW = dt.timedelta(minutes=5)  # a paid-at this far ahead of our clock is still accepted
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)  # before this, a payment time is a mistake


# --- one event, checked --------------------------------------------------------------------------------


@dataclass
class Event:
    """One payment event as given (``raw``), and what the checks made of it."""

    index: int
    raw: Any
    transaction_id: str = ""
    loan_no: str = ""
    amount: Decimal | None = None
    paid_at: dt.datetime | None = None
    channel: str = ""
    case_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, field_name: str, reason: str) -> None:
        self.errors.append({"field": field_name, "reason": reason})


def parse_paid_at(value: Any, zone: dt.tzinfo | None = None) -> dt.datetime:
    """An ISO 8601 date-time (a date alone is midnight; no zone: the owner's zone), or ValueError
    (also for a time that has no UTC equivalent, such as 0001-01-01 east of Greenwich)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            moment = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(0))
    else:
        raise ValueError("empty")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or clock.zone())
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("out of range") from None


def check_event(index: int, raw: Any, now: dt.datetime) -> Event:  # noqa: C901
    """The checks of one event that need no database: every problem named by field and reason."""
    event = Event(index=index, raw=raw)
    if not isinstance(raw, dict):
        event.error("item", _("Each item is an object with transaction_id, loan_no, amount and paid_at."))
        return event
    txn = raw.get("transaction_id")
    if not isinstance(txn, (str, int)) or isinstance(txn, bool) or not str(txn).strip():
        event.error("transaction_id", _("The transaction id is missing."))
    elif len(str(txn).strip()) > 64:
        event.error("transaction_id", _("The transaction id is longer than 64 characters."))
    else:
        event.transaction_id = str(txn).strip()
    loan = raw.get("loan_no")
    if not isinstance(loan, (str, int)) or isinstance(loan, bool) or not str(loan).strip():
        event.error("loan_no", _("The loan number is missing."))
    else:
        event.loan_no = str(loan).strip()
    amount = raw.get("amount")
    if amount is None or amount == "":
        event.error("amount", _("The amount is missing."))
    else:
        if isinstance(amount, float):  # only from a caller that parsed JSON itself
            amount = repr(amount)
        try:
            event.amount = parse_amount(amount, "amount")
        except ValidationFailed as exc:
            event.error("amount", str(exc.message))
    paid = raw.get("paid_at")
    try:
        event.paid_at = parse_paid_at(paid)
    except (ValueError, TypeError):
        event.error(
            "paid_at", _("Give the payment time as an ISO 8601 date-time, e.g. 2026-11-02T10:30:00+08:00.")
        )
    else:
        if event.paid_at > now + CLOCK_SKEW:
            event.error("paid_at", _("The payment time is in the future."))
        elif event.paid_at < EARLIEST:  # as a statement's line (payments.reconcile): one rule
            event.error("paid_at", _("The payment time is before 1990: a number misread as a date?"))
    channel = raw.get("channel") or ""
    if not isinstance(channel, str) or len(channel) > 64:
        event.error("channel", _("The channel is text of at most 64 characters."))
    else:
        event.channel = channel.strip()
    return event


def case_ids_by_loan(org_id: int, loan_nos: Iterable[str], page: int = 10_000) -> dict[str, int]:
    """The owner's cases by loan number (those it has), looked up a page of numbers at a time."""
    numbers = sorted(set(loan_nos))
    found: dict[str, int] = {}
    for start in range(0, len(numbers), page):
        found.update(
            db.session.execute(
                select(Case.loan_no, Case.id).where(
                    Case.org_id == org_id, among(Case.loan_no, numbers[start : start + page], String())
                )
            ).all()
        )
    return found


def find_loans(org_id: int, events: list[Event]) -> None:
    """Name each event's case by loan number (the owner's); an unknown loan is the event's error."""
    found = case_ids_by_loan(org_id, (e.loan_no for e in events if e.loan_no))
    for event in events:
        if event.loan_no and not event.errors:
            event.case_id = found.get(event.loan_no)
            if event.case_id is None:
                event.error("loan_no", _("No loan %(loan)s among the owner's cases.", loan=event.loan_no))
