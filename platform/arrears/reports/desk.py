"""The collector's workbench (催收员工作台) in figures: what is on my desk today, how my month goes,
and the organisation's honour roll (光荣榜).

"Recovered" is the money of the repayments credited to a collector (``Repayment.collector_user_id``:
who held the case when it was paid, ``payments.repayments``), applied (status ``confirmed``), counted
in the period of their payment time (``paid_at``); a reversed repayment no longer counts, and a
collector's report counts once, through the core record that carries its money. A promise confirmed
by hand settles the promise only: it is no money of the lender's.

Every figure is one set-based statement over the organisation: the honour roll and my rank are read
in one query with window functions, never a query per collector.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import Numeric, and_, cast, func, select

from arrears.allocation.assignments import OPEN
from arrears.auth.models import RolePermission, User, UserRole, UserStatus
from arrears.cases.models import Case, CaseHolder
from arrears.cases.scopes import assigned_to, case_scope, held_by
from arrears.columns import utcnow
from arrears.extensions import db
from arrears.kernel import clock
from arrears.kernel.clock import business_date
from arrears.kernel.jobs.queue import redis_connection
from arrears.kernel.transaction import on_commit
from arrears.payments.events import RepaymentReversed, RepaymentsApplied
from arrears.payments.models import Repayment, RepaymentStatus
from arrears.tenancy.models import OrgKind
from arrears.work import notes
from arrears.work.events import PromisesSettled
from arrears.work.models import CollectionNote, Promise, PromiseStatus

ROLL_SIZE = 10
BROKEN_DAYS = 7


@dataclass(frozen=True)
class Periods:
    today: dt.date
    month_start: dt.datetime  # UTC instants of the business day's midnight
    week_start: dt.datetime
    broken_since: dt.date


def periods(actor: User) -> Periods:
    """This month and this week (from Monday) of the organisation's business date, as UTC instants."""
    today = business_date(actor.org)
    zone = clock.zone()

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)

    return Periods(
        today=today,
        month_start=midnight(today.replace(day=1)),
        week_start=midnight(today - dt.timedelta(days=today.weekday())),
        broken_since=today - dt.timedelta(days=BROKEN_DAYS),
    )


# --- the honour roll --------------------------------------------------------------------------------

ROLL_TTL_S = 300


def _workers() -> Any:
    return (
        select(UserRole.user_id)
        .join(RolePermission, RolePermission.role_id == UserRole.role_id)
        .where(RolePermission.permission == "workbench.use")
    )


def _recovered(actor: User, p: Periods) -> Any:
    """What each collector of the reader's organisation recovered this month and this week: the
    applied repayments credited to them, by payment time. The organisation's own (an agency: those
    credited to it; an owner: those of its in-house cases), so the index on the crediting
    organisation and the payment time answers it."""
    since = min(p.month_start, p.week_start)
    if actor.org.kind == OrgKind.AGENCY:
        holding = Repayment.agency_org_id == actor.org_id
    else:
        holding = and_(Repayment.org_id == actor.org_id, Repayment.agency_org_id.is_(None))
    return (
        select(
            Repayment.collector_user_id.label("uid"),
            func.sum(Repayment.amount).filter(Repayment.paid_at >= p.month_start).label("month"),
            func.sum(Repayment.amount).filter(Repayment.paid_at >= p.week_start).label("week"),
        )
        .where(
            holding,
            Repayment.status == RepaymentStatus.CONFIRMED,
            Repayment.paid_at >= since,
            Repayment.collector_user_id.is_not(None),
        )
        .group_by(Repayment.collector_user_id)
    )


def board(actor: User, p: Periods | None = None) -> list[dict[str, Any]]:
    """The organisation's collectors (active users who may use the workbench) with what they recovered
    this month and this week, the outstanding of the open cases they hold, the recovery rates and
    their places. One statement over the organisation (window functions, never a query per
    collector); only the rows on a top 10 are returned."""
    p = p or periods(actor)
    people = (
        select(User.id.label("uid"), User.name.label("name"))
        .where(User.org_id == actor.org_id, User.status == UserStatus.ACTIVE, User.id.in_(_workers()))
        .cte("people")
    )
    recovered = _recovered(actor, p).cte("recovered")
    held = (
        select(CaseHolder.assignee_user_id.label("uid"), func.sum(Case.outstanding).label("held"))
        .join(Case, Case.id == CaseHolder.case_id)
        .where(held_by(actor.org_id, actor.org.kind), Case.status.in_(OPEN))
        .group_by(CaseHolder.assignee_user_id)
        .cte("held")
    )
    month = func.coalesce(recovered.c.month, 0)
    week = func.coalesce(recovered.c.week, 0)
    outstanding = func.coalesce(held.c.held, 0)

    def rate(amount: Any) -> Any:
        # recovered / (recovered + outstanding still held): none for a collector with neither
        return func.round(cast(amount, Numeric) / func.nullif(amount + outstanding, 0), 4)

    figures = (
        select(
            people.c.uid,
            people.c.name,
            month.label("month"),
            week.label("week"),
            outstanding.label("held"),
            rate(month).label("month_rate"),
            rate(week).label("week_rate"),
        )
        .select_from(people)
        .outerjoin(recovered, recovered.c.uid == people.c.uid)
        .outerjoin(held, held.c.uid == people.c.uid)
        .cte("figures")
    )
    f = figures.c

    def place(column: Any) -> Any:  # the honour roll's order: ties by name
        return func.row_number().over(order_by=(column.desc().nulls_last(), f.name, f.uid))

    ranked = select(
        f.uid,
        f.name,
        f.month,
        f.week,
        f.held,
        f.month_rate,
        f.week_rate,
        place(f.month).label("top_month"),
        place(f.week).label("top_week"),
        place(f.month_rate).label("top_month_rate"),
        place(f.week_rate).label("top_week_rate"),
    ).subquery()
    r = ranked.c
    rows = db.session.execute(
        select(ranked).where(
            (r.top_month <= ROLL_SIZE)
            | (r.top_week <= ROLL_SIZE)
            | (r.top_month_rate <= ROLL_SIZE)
            | (r.top_week_rate <= ROLL_SIZE)
        )
    ).mappings()
    return [dict(row) for row in rows]


def honour_roll(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The top 10 by amount and by rate, for the month and the week, from ``board``'s rows; a
    collector who recovered nothing in the period is not on that period's roll."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for period in ("month", "week"):
        earned = [row for row in rows if row[period] and row[period] > 0]
        out[period] = {
            "amount": sorted(
                (row for row in earned if row[f"top_{period}"] <= ROLL_SIZE),
                key=lambda row: row[f"top_{period}"],
            ),
            "rate": sorted(
                (
                    row
                    for row in earned
                    if row[f"{period}_rate"] is not None and row[f"top_{period}_rate"] <= ROLL_SIZE
                ),
                key=lambda row: row[f"top_{period}_rate"],
            ),
        }
    return out


def _month_amounts(actor: User, p: Periods) -> list[Decimal]:
    """What every collector of the organisation recovered this month, largest first (for ranks)."""
    recovered = _recovered(actor, p).subquery()
    stmt = (
        select(recovered.c.month)
        .join(User, User.id == recovered.c.uid)
        .where(User.org_id == actor.org_id, User.status == UserStatus.ACTIVE, recovered.c.month > 0)
        .order_by(recovered.c.month.desc())
    )
    return [Decimal(v) for v in db.session.scalars(stmt)]


def _roll_key(conn: Any, org_id: int, p: Periods) -> str:
    """The cache key of the organisation's roll: its day and its generation, which ``forget_roll``
    moves on (one INCR, whatever the number of cached days; no scan of the key space)."""
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    generation = int(conn.get(f"{prefix}:honour-roll-gen:{org_id}") or 0)
    return f"{prefix}:honour-roll:{org_id}:{generation}:{p.today.isoformat()}"


def roll_for(actor: User, p: Periods | None = None) -> dict[str, Any]:
    """The organisation's honour roll and the month's amounts (for ranks), computed at most every
    ``ROLL_TTL_S`` seconds per organisation when Redis is there (a tenant of a million cases needs a
    scan of its open cases for the rates); applying or reversing a repayment forgets it
    (``forget_roll``)."""

    p = p or periods(actor)
    conn = redis_connection()
    key = None
    if conn is not None:
        try:
            key = _roll_key(conn, actor.org_id, p)
            cached = conn.get(key)
        except RedisError:
            cached = None
        if cached:
            return _decode_roll(json.loads(cached))
    data = {
        "roll": honour_roll(board(actor, p)),
        "amounts": _month_amounts(actor, p),
        "collectors": collector_count(actor),
        "at": utcnow(),
    }
    if conn is not None and key is not None:
        with contextlib.suppress(RedisError):
            conn.set(key, json.dumps(data, default=str), ex=ROLL_TTL_S)
    return data


def _decode_roll(data: dict[str, Any]) -> dict[str, Any]:
    money = ("month", "week", "held", "month_rate", "week_rate")
    for lists in data["roll"].values():
        for rows in lists.values():
            for row in rows:
                for k in money:
                    row[k] = Decimal(row[k]) if row.get(k) is not None else None
    data["amounts"] = [Decimal(v) for v in data["amounts"]]
    data["at"] = dt.datetime.fromisoformat(data["at"])
    return data


def forget_roll(org_ids: Any) -> None:
    """Drop the cached honour rolls of these organisations (after money was recovered)."""

    conn = redis_connection()
    if conn is None:
        return
    prefix = current_app.config["REDIS_KEY_PREFIX"]
    with contextlib.suppress(RedisError), conn.pipeline(transaction=False) as pipe:
        for org_id in {int(o) for o in org_ids if o}:
            pipe.incr(f"{prefix}:honour-roll-gen:{org_id}")  # the cached rolls expire on their own
        pipe.execute()


def on_repayments_applied(event: RepaymentsApplied) -> None:
    """Money was recovered: the credited organisations' rolls are forgotten once it commits."""
    on_commit(lambda: forget_roll(event.credited_org_ids))


def on_repayment_reversed(event: RepaymentReversed) -> None:
    repayment = event.repayment
    org_ids = [repayment.agency_org_id or repayment.org_id]
    on_commit(lambda: forget_roll(org_ids))


def on_promises_settled(event: PromisesSettled) -> None:
    on_commit(lambda: forget_roll(event.org_ids))


# --- my figures -------------------------------------------------------------------------------------


def home_figures(actor: User) -> dict[str, Any]:
    """My desk: open cases and what they hold, promises due today, reminders due, promises broken in
    the last 7 days, the repayments credited to me this month, my contact rate this month,
    my rank among the organisation's collectors, and the honour roll."""
    p = periods(actor)
    mine = and_(case_scope(actor), assigned_to(actor.id))
    open_cases, held = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Case.outstanding), 0)).where(mine, Case.status.in_(OPEN))
    ).one()
    promises = db.session.execute(
        select(
            func.count().filter(Promise.status == PromiseStatus.PENDING, Promise.due_on == p.today),
            func.count().filter(
                Promise.status == PromiseStatus.BROKEN,
                Promise.due_on >= p.broken_since,
                Promise.due_on <= p.today,
            ),
        )
        .join(Case, Case.id == Promise.case_id)
        .where(Promise.collector_user_id == actor.id, mine)
    ).one()
    contacts = db.session.execute(
        select(func.count(), func.count().filter(CollectionNote.contacted.is_(True))).where(
            CollectionNote.author_user_id == actor.id, CollectionNote.created_at >= p.month_start
        )
    ).one()
    recovered = _recovered(actor, p).where(Repayment.collector_user_id == actor.id).subquery()
    month = Decimal(db.session.scalar(select(recovered.c.month)) or 0)
    roll = roll_for(actor, p)
    return {
        "today": p.today,
        "open_cases": int(open_cases or 0),
        "held": Decimal(held or 0),
        "promises_due_today": int(promises[0]),
        "reminders_due": notes.due_count(actor),
        "broken_recently": int(promises[1]),
        "broken_days": BROKEN_DAYS,
        "confirmed_month": month.quantize(Decimal("0.01")),
        "notes_month": int(contacts[0]),
        "contact_rate": (Decimal(contacts[1]) / Decimal(contacts[0])).quantize(Decimal("0.001"))
        if contacts[0]
        else None,
        # ties share a rank; a collector who recovered nothing ranks after all who did
        "rank": 1 + sum(1 for amount in roll["amounts"] if amount > month),
        "collectors": int(roll["collectors"]),
        "roll": roll["roll"],
        "roll_at": roll["at"],
    }


def collector_count(actor: User) -> int:
    return int(
        db.session.scalar(
            select(func.count()).where(
                User.org_id == actor.org_id, User.status == UserStatus.ACTIVE, User.id.in_(_workers())
            )
        )
        or 0
    )


def promises_due_today(actor: User) -> list[tuple[Promise, str]]:
    """My pending promises due today, with the case's loan number."""
    p = periods(actor)
    stmt = notes.pending_promises(actor, due_on=p.today, status=PromiseStatus.PENDING)
    return list(db.session.execute(stmt.add_columns(Case.loan_no).order_by(Promise.id)).all())


def broken_recently(actor: User) -> list[tuple[Promise, str]]:
    """My promises broken in the last 7 days (their date fell in them), newest first."""
    p = periods(actor)
    stmt = notes.pending_promises(actor, status=PromiseStatus.BROKEN).where(
        Promise.due_on >= p.broken_since, Promise.due_on <= p.today
    )
    return list(
        db.session.execute(stmt.add_columns(Case.loan_no).order_by(Promise.due_on.desc(), Promise.id)).all()
    )


__all__ = [
    "Periods",
    "board",
    "broken_recently",
    "home_figures",
    "honour_roll",
    "periods",
    "promises_due_today",
]
