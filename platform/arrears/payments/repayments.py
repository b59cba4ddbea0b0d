"""Repayments (还款): recorded from the core system, statements, collectors' reports and manual
entries; applied to the loans exactly once; reversed; audited by the owner.

**Exactly once.** Recording and applying are apart. ``record`` writes the events of a batch in the
request's transaction (``INSERT ... ON CONFLICT DO NOTHING`` on the owner's transaction id: the same
transaction arriving twice, or twice at once, is recorded once) and queues an apply job after the
commit. ``apply_received`` claims recorded rows with ``FOR UPDATE SKIP LOCKED``, locks their cases
in id order, and in one transaction writes the postings, the new balances and the repayment's
``confirmed`` status: a row leaves ``received`` only in the transaction that moved the money, so a
job delivered twice, or retried after its worker died (the open transaction dies with it), can
never apply a row twice, and a row is never lost (the periodic ``drain`` picks up what no job did).

**Attribution.** When a payment is applied it is credited to the agency whose placement covered the
case at the payment time (``placement_cases``) and to the collector who held the case then (the
holder row, or the assignment log for an older payment). Commission reads these.

**Promises.** A payment counts towards the case's pending promise made before it; a promise paid in
full is kept at once. The daily evaluation (``work.notes.evaluate_promises``) settles the rest:
partly kept, or broken (the case comes back into follow-up).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    DateTime,
    Numeric,
    String,
    bindparam,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from arrears.allocation.models import (
    AllocationLevel,
    AllocationResult,
    AllocationRun,
    CaseAssignment,
    PlacementCase,
    PlacementCaseStatus,
    ResultStatus,
    RunStatus,
)
from arrears.allocation.placements import release
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases import ledger
from arrears.cases.models import Case, CaseHolder, CaseStatus, Posting, PostingKind
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, clock, hooks
from arrears.kernel.clock import business_date
from arrears.kernel.db import among, insert_pages, is_postgres
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.payments.checks import Event, check_event, find_loans
from arrears.payments.events import RepaymentReversed, RepaymentsApplied
from arrears.payments.models import ORIGINS, Repayment, RepaymentSource, RepaymentStatus
from arrears.tenancy import cross_tenant, current_org_id
from arrears.tenancy.models import Organisation, OrgKind
from arrears.work.models import Promise, PromiseStatus
from arrears.work.notes import promise_verdict, refresh_sort_keys

MAX_ITEMS = 1000  # events per request
CHUNK = 2000  # rows an apply transaction claims
MATCH_WINDOW = dt.timedelta(days=3)  # a collector's report matches a core record paid this close
SOURCE_LABELS = {
    RepaymentSource.API: "core system",
    RepaymentSource.STATEMENT: "statement",
    RepaymentSource.COLLECTOR: "collector report",
    RepaymentSource.MANUAL: "manual entry",
}


# --- recording -------------------------------------------------------------------------------------------


@dataclass
class Recorded:
    items: list[dict[str, Any]]
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    job_id: str | None = None
    new_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "job_id": self.job_id,
            "items": self.items,
        }


def record(  # noqa: C901
    org: Organisation,
    raw_items: Sequence[Any],
    *,
    source: RepaymentSource,
    actor_id: int | None = None,
    enqueue_apply: bool = True,
) -> Recorded:
    """Record a batch of events for ``org`` (the owner) in the caller's transaction; one result per
    item: ``accepted`` (recorded, to be applied), ``duplicate`` (the transaction id was recorded
    before: its repayment is named, with the fields that differ), or ``rejected`` with its errors.
    A rejected item writes nothing; the others are recorded. The apply job is queued after commit."""
    now = utcnow()
    events = [check_event(i, raw, now) for i, raw in enumerate(raw_items)]
    find_loans(org.id, events)
    origin = ORIGINS[source]
    seen: dict[str, Event] = {}
    fresh: list[Event] = []
    for event in events:
        if event.errors:
            continue
        if event.transaction_id in seen:
            continue  # a second delivery in the same batch: a duplicate of the first (below)
        seen[event.transaction_id] = event
        fresh.append(event)
    inserted = _insert_events(org.id, fresh, source=source, origin=origin, actor_id=actor_id, now=now)
    known: dict[str, Any] = {}
    again = [e.transaction_id for e in events if not e.errors and e.transaction_id not in inserted]
    if again:
        for row in db.session.execute(
            select(
                Repayment.external_id, Repayment.id, Repayment.status, Repayment.amount, Repayment.case_id
            ).where(
                Repayment.org_id == org.id, Repayment.origin == origin, Repayment.external_id.in_(set(again))
            )
        ):
            known[row[0]] = row
    result = Recorded(items=[])
    claimed: set[str] = set()
    for event in events:
        item: dict[str, Any] = {"index": event.index, "transaction_id": event.transaction_id or None}
        if event.errors:
            item.update(status="rejected", errors=event.errors)
            result.rejected += 1
        elif event.transaction_id in inserted and event.transaction_id not in claimed:
            claimed.add(event.transaction_id)
            item.update(status="accepted", repayment_id=inserted[event.transaction_id])
            result.accepted += 1
            result.new_ids.append(inserted[event.transaction_id])
        else:
            found: Any = known.get(event.transaction_id)
            if found is None:  # the same id twice in this batch: the first was recorded
                first = seen[event.transaction_id]
                found = (
                    event.transaction_id,
                    inserted.get(event.transaction_id),
                    "received",
                    first.amount,
                    first.case_id,
                )
            differs = [
                name
                for name, mine, theirs in (
                    ("amount", event.amount, found[3]),
                    ("loan_no", event.case_id, found[4]),
                )
                if mine != theirs
            ]
            item.update(status="duplicate", repayment_id=found[1], recorded_status=str(found[2]))
            if differs:
                item["differs"] = differs
            result.duplicates += 1
        result.items.append(item)
    if result.accepted and enqueue_apply:
        result.job_id = queue_apply(org, actor_id=actor_id)
    return result


def _insert_events(
    org_id: int,
    events: list[Event],
    *,
    source: RepaymentSource,
    origin: str,
    actor_id: int | None,
    now: dt.datetime,
) -> dict[str, int]:
    """INSERT ... ON CONFLICT DO NOTHING: the transaction ids recorded now, with their ids.

    In the order of the transaction ids: two batches sharing ids, recorded at once, then wait for
    each other's keys in the same order, never in a cycle (in the batch's order, a batch with T1
    then T2 and another with T2 then T1 deadlock). The staging table is read in the order written."""
    if not events:
        return {}
    rows = [
        {
            "org_id": org_id,
            "case_id": e.case_id,
            "source": source.value,
            "origin": origin,
            "external_id": e.transaction_id,
            "amount": e.amount,
            "paid_at": e.paid_at,
            "channel": e.channel,
            "status": RepaymentStatus.RECEIVED.value,
            "created_by_id": actor_id,
            "note": "",
            "created_at": now,
        }
        for e in sorted(events, key=lambda e: e.transaction_id)
    ]
    table = Repayment.__table__
    out: dict[str, int] = {}
    if is_postgres():
        for rid, txn in insert_pages(
            table,
            rows,
            (table.c.id, table.c.external_id),
            conflict="ON CONFLICT (org_id, origin, external_id) DO NOTHING",
        ):
            out[txn] = rid
        return out
    for row in rows:
        stmt = (
            sqlite_insert(table)
            .values(row)
            .on_conflict_do_nothing(index_elements=["org_id", "origin", "external_id"])
            .returning(table.c.id, table.c.external_id)
        )
        for rid, txn in db.session.execute(stmt):
            out[txn] = rid
    return out


def queue_apply(org: Organisation, *, actor_id: int | None = None) -> str:
    """Queue the job that applies the owner's received repayments (after the commit)."""

    record_ = enqueue(
        apply_job,
        name="apply-repayments",
        created_by=db.session.get(User, actor_id) if actor_id else None,
        retries=5,
        retry_intervals=[0],
    )
    return record_.id


# --- applying ------------------------------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    case_id: int
    amount: Decimal
    paid_at: dt.datetime
    agency_org_id: int | None = None
    collector_user_id: int | None = None
    placement_case_id: int | None = None
    origin: str = "core"


def apply_received(org: Organisation, *, limit: int = CHUNK, pause: float = 0) -> dict[str, Any]:
    """Apply up to ``limit`` received repayments of the owner in one transaction. Returns
    ``{"claimed": n, "applied": n, "amount": "...", "closed": n}``.

    Two workers never wait for each other: each claims received rows other workers do not hold
    (``FOR UPDATE SKIP LOCKED``), then the cases of those rows that no other worker holds (``FOR NO
    KEY UPDATE SKIP LOCKED``, which the recording requests' foreign-key checks do not wait for
    either); rows of a case another worker holds stay received for a later round, so a case's
    payments are applied in their order. ``pause``: tests only (``REPAYMENTS_TEST_APPLY_PAUSE``),
    seconds to wait holding the claimed rows before moving their money, so a test can kill the
    worker inside the transaction."""
    with transaction():
        rows = db.session.execute(
            select(Repayment.id, Repayment.case_id, Repayment.amount, Repayment.paid_at, Repayment.origin)
            # a literal: the partial index of the received rows answers it, in a prepared plan too
            .where(Repayment.org_id == org.id, Repayment.status == literal_column("'received'"))
            .order_by(Repayment.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        cases = _lock_cases(sorted({r[1] for r in rows}), skip_locked=True) if rows else {}
        claimed = [Claimed(r[0], r[1], Decimal(r[2]), r[3], origin=r[4]) for r in rows if r[1] in cases]
        if pause and claimed:
            time.sleep(pause)
        outcome = _apply(org, claimed, actor_id=None, cases=cases)
    return {
        "claimed": len(rows),
        "applied": outcome.count,
        "amount": str(outcome.amount),
        "closed": len(outcome.closed),
    }


def _lock_cases(case_ids: list[int], *, skip_locked: bool = False) -> dict[int, Any]:
    """The cases' balances, locked in id order (so two lockers never deadlock). FOR NO KEY UPDATE:
    the foreign-key checks of the requests recording repayments (FOR KEY SHARE) do not wait."""
    return {
        row.id: row
        for row in db.session.execute(
            select(
                Case.id,
                Case.org_id,
                Case.principal,
                Case.interest,
                Case.penalty,
                Case.fee,
                Case.credit,
                Case.status,
                Case.agency_org_id,
            )
            .where(among(Case.id, case_ids))
            .order_by(Case.id)
            .with_for_update(key_share=True, skip_locked=skip_locked)
        )
    }


def apply_all(org: Organisation, *, pause: float = 0, max_rounds: int = 10_000) -> dict[str, Any]:
    """Apply the owner's received repayments, a chunk per transaction, until none is left that
    another worker does not hold; rows of cases another worker holds are waited for a little (about
    4 s), then left to it and to the periodic drain. Used by the apply job, the statement commands
    and the demo. ``pause``: see ``apply_received``."""
    applied, amount, closed, idle = 0, Decimal("0"), 0, 0
    for _round in range(max_rounds):
        done = apply_received(org, pause=pause)
        if not done["claimed"]:
            break  # nothing received that another worker does not hold
        if not done["applied"]:
            # every claimed row's case is held by another worker: let it finish, then try again
            idle += 1
            if idle > 200:
                break
            time.sleep(0.02)
            continue
        idle = 0
        applied += done["applied"]
        amount += Decimal(done["amount"])
        closed += done["closed"]
    return {"applied": applied, "amount": str(amount), "closed": closed}


@dataclass
class Outcome:
    count: int = 0
    amount: Decimal = ledger.ZERO
    closed: list[int] = field(default_factory=list)
    orgs: set[int] = field(default_factory=set)


def _apply(
    org: Organisation, claimed: list[Claimed], *, actor_id: int | None, cases: dict[int, Any] | None = None
) -> Outcome:
    """Move the money of claimed rows (locked by the caller, status received): postings, balances,
    attribution, promises, paid-off cases. Set-based: a few statements whatever the number of rows.
    ``cases``: their cases, locked by the caller (else locked here, waiting for other holders)."""
    outcome = Outcome()
    if not claimed:
        return outcome
    case_ids = sorted({c.case_id for c in claimed})
    if cases is None:
        cases = _lock_cases(case_ids)
    has_opening = ledger.opened(case_ids)
    postings = [ledger.opening_row(cases[i]) for i in case_ids if i not in has_opening]
    state = {i: {c: Decimal(getattr(cases[i], c)) for c in (*ledger.COMPONENTS, "credit")} for i in case_ids}
    _attribute(org, claimed)
    promises = _pending_promises(case_ids)
    now = utcnow()
    repayment_rows, promise_rows = _move_money(
        org, claimed, state, promises, postings, actor_id, now, outcome
    )
    ledger.write(postings)
    _write_rows(_case_rows(state, cases, now, outcome), repayment_rows, promise_rows)
    _match_reports(claimed)
    # a write-off recovers what was paid on its case; the honour roll moves (``arrears.hooks``)
    hooks.emit(
        RepaymentsApplied(
            owner_id=org.id, claimed=claimed, cases=cases, credited_org_ids=frozenset(outcome.orgs)
        )
    )
    # the statements above wrote past the ORM: objects of these rows in the session are stale now
    _expire({Case: set(case_ids), Promise: set(promise_rows), Repayment: {c.id for c in claimed}})
    if outcome.closed:
        _close_paid_off(org.id, outcome.closed, now)
    audit.record(
        "repayments.applied",
        org_id=org.id,
        details={"count": outcome.count, "amount": str(outcome.amount), "closed": len(outcome.closed)},
    )
    return outcome


def _move_money(
    org: Organisation,
    claimed: list[Claimed],
    state: dict[int, dict[str, Decimal]],
    promises: dict[int, list[dict[str, Any]]],
    postings: list[dict[str, Any]],
    actor_id: int | None,
    now: dt.datetime,
    outcome: Outcome,
) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
    """Each payment over its case's balance (``state``, changed in place) in the owner's order: its
    posting, the promise it counts towards; returns the repayments' and the promises' new rows."""
    order = ledger.order_of(org)
    repayment_rows: list[dict[str, Any]] = []
    promise_rows: dict[int, dict[str, Any]] = {}
    # a case's payments in the order they were paid (the ids follow the transaction ids, inserted
    # in their order so that concurrent batches never deadlock: not the order of payment)
    for item in sorted(claimed, key=lambda c: (c.paid_at, c.id)):
        balance = state[item.case_id]
        split = ledger.allocate(balance, item.amount, order)
        for component, take in split.taken.items():
            balance[component] -= take
        balance["credit"] += split.credit
        postings.append(
            ledger.posting_row(
                item.case_id,
                org.id,
                PostingKind.PAYMENT,
                {c: -v for c, v in split.taken.items()},
                credit=split.credit,
                agency_org_id=item.agency_org_id,
                repayment_id=item.id,
                actor_user_id=actor_id,
            )
        )
        promise = _promise_for(promises.get(item.case_id, []), item.paid_at)
        if promise is not None:
            promise["paid_amount"] += item.amount
            if promise["paid_amount"] >= promise["amount"]:
                promise["status"] = PromiseStatus.KEPT.value
                promise["evaluated_at"] = now
            promise_rows[promise["id"]] = promise
        repayment_rows.append(
            {
                "id": item.id,
                "status": RepaymentStatus.CONFIRMED.value,
                "applied_at": now,
                "agency_org_id": item.agency_org_id,
                "collector_user_id": item.collector_user_id,
                "placement_case_id": item.placement_case_id,
                "promise_id": promise["id"] if promise is not None else None,
            }
        )
        outcome.count += 1
        outcome.amount += item.amount
        outcome.orgs.add(item.agency_org_id or org.id)
    return repayment_rows, promise_rows


def _case_rows(
    state: dict[int, dict[str, Decimal]], cases: dict[int, Any], now: dt.datetime, outcome: Outcome
) -> list[dict[str, Any]]:
    """The cases' new balances; a case paid off closes (noted in ``outcome``)."""
    case_rows = []
    for case_id, balance in state.items():
        outstanding = sum((balance[c] for c in ledger.COMPONENTS), ledger.ZERO)
        closing = outstanding == 0 and cases[case_id].status not in (
            CaseStatus.CLOSED,
            CaseStatus.WRITTEN_OFF,
        )
        if closing:
            outcome.closed.append(case_id)
        case_rows.append(
            {
                "id": case_id,
                **{c: balance[c] for c in (*ledger.COMPONENTS, "credit")},
                "outstanding": outstanding,
                "status": CaseStatus.CLOSED.value if closing else str(cases[case_id].status.value),
                "updated_at": now,
            }
        )
    return case_rows


def _write_rows(
    case_rows: list[dict[str, Any]],
    repayment_rows: list[dict[str, Any]],
    promise_rows: dict[int, dict[str, Any]],
) -> None:
    """The cases', repayments' and promises' new rows, a statement per table."""
    _update_many(
        Case.__table__,
        case_rows,
        {
            "principal": Numeric(18, 2),
            "interest": Numeric(18, 2),
            "penalty": Numeric(18, 2),
            "fee": Numeric(18, 2),
            "credit": Numeric(18, 2),
            "outstanding": Numeric(18, 2),
            "status": String(32),
            "updated_at": DateTime(timezone=True),
        },
    )
    _update_many(
        Repayment.__table__,
        repayment_rows,
        {
            "status": String(32),
            "applied_at": DateTime(timezone=True),
            "agency_org_id": BigInteger(),
            "collector_user_id": BigInteger(),
            "placement_case_id": BigInteger(),
            "promise_id": BigInteger(),
        },
    )
    if promise_rows:
        _update_many(
            Promise.__table__,
            [
                {k: p[k] for k in ("id", "paid_amount", "status", "evaluated_at")}
                for p in promise_rows.values()
            ],
            {"paid_amount": Numeric(18, 2), "status": String(32), "evaluated_at": DateTime(timezone=True)},
        )
        refresh_sort_keys(sorted({int(str(p["case_id"])) for p in promise_rows.values()}))


def _expire(rows: dict[type, set[int]]) -> None:
    """Expire the session's objects of these rows (written by set-based statements)."""
    for obj in list(db.session.identity_map.values()):
        ids = rows.get(type(obj))
        if ids and getattr(obj, "id", None) in ids:
            db.session.expire(obj)


def _update_many(table: Any, rows: list[dict[str, Any]], types: dict[str, Any]) -> None:
    """UPDATE rows by id: on PostgreSQL one ``UPDATE ... FROM unnest(arrays)`` (one array per
    column, whatever the number of rows); executemany elsewhere."""
    if not rows:
        return
    names = list(types)
    if is_postgres():
        dialect = db.session.get_bind().dialect
        arrays = ", ".join(
            f"CAST(:{n} AS {(BigInteger() if n == 'id' else types[n]).compile(dialect=dialect)}[])"
            for n in ["id", *names]
        )
        sets = ", ".join(f"{n} = v.{n}" for n in names)
        db.session.execute(
            text(
                f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) "  # noqa: S608 (our own names)
                f"AS v(id, {', '.join(names)}) WHERE t.id = v.id"
            ),
            {n: [r[n] for r in rows] for n in ["id", *names]},
        )
        return

    stmt = update(table).where(table.c.id == bindparam("_id")).values({n: bindparam(f"_{n}") for n in names})
    db.session.connection().execute(stmt, [{f"_{k}": v for k, v in r.items()} for r in rows])


def _pending_promises(case_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in db.session.execute(
        select(
            Promise.id,
            Promise.case_id,
            Promise.amount,
            Promise.paid_amount,
            Promise.created_at,
            Promise.status,
        )
        .where(among(Promise.case_id, case_ids), Promise.status == PromiseStatus.PENDING)
        .order_by(Promise.id)
        .with_for_update()
    ):
        out[row[1]].append(
            {
                "id": row[0],
                "case_id": row[1],
                "amount": Decimal(row[2]),
                "paid_amount": Decimal(row[3]),
                "created_at": row[4],
                "status": PromiseStatus.PENDING.value,
                "evaluated_at": None,
            }
        )
    return out


def _promise_for(promises: list[dict[str, Any]], paid_at: dt.datetime) -> dict[str, Any] | None:
    """The newest pending promise made before the payment (a payment counts towards one promise)."""
    for promise in reversed(promises):
        if promise["status"] == PromiseStatus.PENDING.value and promise["created_at"] <= paid_at:
            return promise
    return None


def _attribute(org: Organisation, claimed: list[Claimed]) -> None:
    """The agency (its placement row) and the collector holding each case when it was paid."""
    case_ids = sorted({c.case_id for c in claimed})
    placements: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(
        select(
            PlacementCase.id,
            PlacementCase.case_id,
            PlacementCase.agency_org_id,
            PlacementCase.starts_on,
            PlacementCase.closed_at,
        )
        .where(
            among(PlacementCase.case_id, case_ids),
            PlacementCase.status.in_(
                (PlacementCaseStatus.ACTIVE, PlacementCaseStatus.ENDED, PlacementCaseStatus.RECALLED)
            ),
        )
        .order_by(PlacementCase.id)
    ):
        placements[row[1]].append(row)
    holders = {
        row[0]: row
        for row in db.session.execute(
            select(
                CaseHolder.case_id,
                CaseHolder.agency_org_id,
                CaseHolder.assignee_user_id,
                CaseHolder.assigned_at,
            ).where(among(CaseHolder.case_id, case_ids))
        )
    }
    zone = clock.zone()
    older: list[tuple[Claimed, int]] = []  # payments the current holder does not explain
    for item in claimed:
        day = item.paid_at.astimezone(zone).date()
        agency, placement_row = None, None
        for row in reversed(placements.get(item.case_id, [])):
            if row[3] <= day and (row[4] is None or item.paid_at < row[4]):
                agency, placement_row = row[2], row[0]
                break
        item.agency_org_id = agency
        item.placement_case_id = placement_row
        holder = holders.get(item.case_id)
        if (
            holder is not None
            and holder[1] == agency
            and holder[2] is not None
            and holder[3] is not None
            and holder[3] <= item.paid_at
        ):
            item.collector_user_id = holder[2]
        else:
            item.collector_user_id = None
            older.append((item, agency or org.id))
    if older:
        logs = _assignment_logs({(item.case_id, holding) for item, holding in older})
        for item, holding in older:
            before = [line for line in logs.get((item.case_id, holding), []) if line[0] <= item.paid_at]
            item.collector_user_id = before[-1][2] if before else None


def _assignment_logs(
    keys: set[tuple[int, int]],
) -> dict[tuple[int, int], list[tuple[dt.datetime, int, int | None]]]:
    """The assignment logs of these (case, holding organisation) pairs, oldest first: the moves by
    hand and the recalls, and the dispatch runs applied (``allocation.assignments.log_lines``'s two
    sources, for many cases in two statements). Each log is its holding organisation's."""
    case_ids = sorted({case_id for case_id, _org in keys})
    out: dict[tuple[int, int], list[tuple[dt.datetime, int, int | None]]] = defaultdict(list)
    with cross_tenant("attribution: who held the cases when they were paid (the holders' logs)"):
        for case_id, org_id, created_at, to_user_id, line_id in db.session.execute(
            select(
                CaseAssignment.case_id,
                CaseAssignment.org_id,
                CaseAssignment.created_at,
                CaseAssignment.to_user_id,
                CaseAssignment.id,
            ).where(among(CaseAssignment.case_id, case_ids))
        ):
            if (case_id, org_id) in keys:
                out[(case_id, org_id)].append((created_at, line_id, to_user_id))
        for case_id, org_id, applied_at, target in db.session.execute(
            select(
                AllocationResult.case_id,
                AllocationRun.org_id,
                AllocationRun.applied_at,
                AllocationResult.target_id,
            )
            .join(AllocationRun, AllocationRun.id == AllocationResult.run_id)
            .where(
                among(AllocationResult.case_id, case_ids),
                AllocationResult.status.in_((ResultStatus.PLANNED, ResultStatus.APPLIED)),
                AllocationRun.status == RunStatus.APPLIED,
                AllocationRun.level == AllocationLevel.DISPATCH,
            )
        ):
            if (case_id, org_id) in keys and applied_at is not None:
                out[(case_id, org_id)].append((applied_at, 0, target))
    for lines in out.values():
        lines.sort(key=lambda line: (line[0], line[1]))
    return out


def _match_reports(applied: list[Claimed]) -> None:
    """Collectors' reports waiting for the owner that a core record now confirms (same case, same
    amount, paid within three days): matched to it, so the money is applied once, by the core record."""
    core = [(c.id, c.case_id, c.amount, c.paid_at) for c in applied if c.origin == "core"]
    if not core:
        return
    by_case: dict[int, list[Any]] = defaultdict(list)
    for row in core:
        by_case[row[1]].append(row)
    reports = db.session.execute(
        select(Repayment.id, Repayment.case_id, Repayment.amount, Repayment.paid_at)
        .where(
            among(Repayment.case_id, list(by_case)),
            # a literal: the partial index of the reports waiting answers it, in a prepared plan too
            Repayment.status == literal_column("'pending_audit'"),
        )
        .order_by(Repayment.id)
        .with_for_update(skip_locked=True)
    ).all()
    if not reports:
        return
    taken: set[int] = set(
        db.session.scalars(select(Repayment.matched_id).where(Repayment.matched_id.in_([r[0] for r in core])))
    )
    now = utcnow()
    for report in reports:
        for row in by_case.get(report[1], []):
            if row[0] in taken or row[2] != report[2] or abs(row[3] - report[3]) > MATCH_WINDOW:
                continue
            taken.add(row[0])
            db.session.execute(
                update(Repayment)
                .where(Repayment.id == report[0])
                .values(
                    status=RepaymentStatus.MATCHED,
                    matched_id=row[0],
                    decided_at=now,
                    note="matched automatically",
                )
                .execution_options(synchronize_session=False)
            )
            break


def _close_paid_off(owner_id: int, case_ids: list[int], now: dt.datetime) -> None:
    """Paid off: the placement ends (退案) and the collector lets go of the case."""
    release(
        owner_id,
        among(PlacementCase.case_id, case_ids),
        status=PlacementCaseStatus.ENDED,
        reason="paid off",
        actor=None,
        now=now,
    )
    db.session.execute(CaseHolder.__table__.delete().where(CaseHolder.__table__.c.case_id.in_(case_ids)))


# --- reversal ------------------------------------------------------------------------------------------


def reverse(actor: User, repayment: Repayment, reason: str) -> Repayment:
    """Undo an applied repayment (chargeback, bounced payment): a reversal posting puts back exactly
    what its payment took; a paid-off case reopens; the promise it counted towards loses it.
    Reversing a reversed repayment changes nothing; one not yet applied is reversed without money."""
    if not (actor.can("repayments.post") or actor.can("repayments.audit")):
        raise PermissionDenied(_("You do not have the permission for this action."))
    if actor.org_id != repayment.org_id:
        raise NotFound(_("Not found."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the payment is reversed."), field="reason")
    with transaction():
        row = _locked(repayment.id)
        if row.status == RepaymentStatus.REVERSED:
            return row
        if row.status not in (RepaymentStatus.CONFIRMED, RepaymentStatus.RECEIVED):
            raise Conflict(
                _(
                    "Only a recorded or applied payment can be reversed (this one is %(status)s).",
                    status=row.status.value,
                )
            )
        now = utcnow()
        applied = row.status == RepaymentStatus.CONFIRMED
        if applied:
            _unapply(actor, row, now)
        # a recovery of a write-off is taken back with its payment; the honour roll moves
        hooks.emit(RepaymentReversed(repayment=row, applied=applied, now=now))
        row.status = RepaymentStatus.REVERSED
        row.decided_by_id = actor.id
        row.decided_at = now
        row.note = reason[:300]
        # a collector's report this payment confirmed waits for the owner again
        db.session.execute(
            update(Repayment)
            .where(Repayment.matched_id == row.id, Repayment.status == RepaymentStatus.MATCHED)
            .values(status=RepaymentStatus.PENDING_AUDIT, matched_id=None)
            .execution_options(synchronize_session=False)
        )
        audit.record(
            "repayment.reversed",
            actor=actor,
            target=row,
            details={"amount": str(row.amount), "transaction_id": row.external_id, "reason": reason[:300]},
        )
    return row


def _locked(repayment_id: int) -> Repayment:
    row = db.session.scalar(
        select(Repayment)
        .where(Repayment.id == repayment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound(_("Not found."))
    return row


def _unapply(actor: User, row: Repayment, now: dt.datetime) -> None:

    case = db.session.scalar(
        select(Case)
        .where(Case.id == row.case_id)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )
    assert case is not None
    sums = db.session.execute(
        select(
            *(func.coalesce(func.sum(getattr(Posting, c)), 0) for c in (*ledger.COMPONENTS, "credit"))
        ).where(Posting.repayment_id == row.id)
    ).one()
    back = dict(zip((*ledger.COMPONENTS, "credit"), (Decimal(v) for v in sums), strict=True))
    ledger.write(
        [
            ledger.posting_row(
                case.id,
                case.org_id,
                PostingKind.REVERSAL,
                {c: -back[c] for c in ledger.COMPONENTS},
                credit=-back["credit"],
                agency_org_id=row.agency_org_id,
                repayment_id=row.id,
                actor_user_id=actor.id,
            )
        ]
    )
    for c in ledger.COMPONENTS:
        setattr(case, c, Decimal(getattr(case, c)) - back[c])
    case.credit = Decimal(case.credit) - back["credit"]
    case.outstanding = sum((Decimal(getattr(case, c)) for c in ledger.COMPONENTS), ledger.ZERO)
    if case.status == CaseStatus.CLOSED and case.outstanding > 0:
        case.status = CaseStatus.ACTIVE
    if row.promise_id:
        promise = db.session.scalar(select(Promise).where(Promise.id == row.promise_id).with_for_update())
        if promise is not None:
            promise.paid_amount = max(Decimal(promise.paid_amount) - row.amount, ledger.ZERO)
            owner = db.session.get(Organisation, case.org_id)
            assert owner is not None
            if promise.due_on >= business_date(owner):
                promise.status, promise.evaluated_at = PromiseStatus.PENDING, None
            elif promise.status != PromiseStatus.PENDING:
                promise.status = promise_verdict(promise.amount, promise.paid_amount)
            refresh_sort_keys([case.id])
    db.session.flush()


# --- the queue's housekeeping -------------------------------------------------------------------------


def stale_tenants(older_than: dt.timedelta = dt.timedelta(minutes=2)) -> list[int]:
    """Owners with repayments received longer ago than ``older_than`` and still not applied (their
    job was lost, or its worker died with its retries spent)."""
    cutoff = utcnow() - older_than
    with cross_tenant("housekeeping: find received repayments no job applied"):
        return list(
            db.session.scalars(
                select(Repayment.org_id)
                .where(Repayment.status == RepaymentStatus.RECEIVED, Repayment.created_at < cutoff)
                .group_by(Repayment.org_id)
            )
        )


# --- the owner's settings -----------------------------------------------------------------------------


def allocation_order(actor: User) -> tuple[str, ...]:
    owner = actor.org if actor.org.kind == OrgKind.ASSET_OWNER else None
    return ledger.order_of(owner) if owner is not None else ledger.DEFAULT_ORDER


def set_allocation_order(actor: User, raw: Iterable[Any]) -> list[str]:
    """The owner's admin sets the order payments take the components in (从罚息到本金, or another)."""
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    require(actor, "org.settings.manage")
    order = ledger.check_order(raw)
    with transaction():
        org = db.session.get(Organisation, actor.org_id)
        assert org is not None
        org.settings = {**(org.settings or {}), "repayment_order": order}
        audit.record("org.repayment_order", actor=actor, details={"order": order})
    return order


@job("payments.apply")
def apply_job(job: JobContext, max_rounds: int = 1000) -> dict[str, Any]:
    """Apply the owner's received repayments, a chunk per transaction, until none is left (rows other
    workers hold are theirs). Delivered twice or retried after a crash, it applies nothing twice:
    a row leaves ``received`` only in the transaction that moves its money.

    Tests only: with ``ARREARS_ENV=testing``, ``REPAYMENTS_TEST_APPLY_PAUSE`` seconds are waited
    between claiming the rows and moving their money (0, and never read, elsewhere)."""
    org = db.session.get(Organisation, current_org_id() or 0)
    if org is None:
        return {"applied": 0}
    pause = current_app.config.get("REPAYMENTS_TEST_APPLY_PAUSE", 0) if current_app.testing else 0
    return apply_all(org, pause=pause, max_rounds=max_rounds)
