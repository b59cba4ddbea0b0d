"""Collection notes, promises to pay and reminders (work.notes) against PostgreSQL: the collector
works only the cases assigned to them, bad input saves nothing, notes are append-only, promises are
evaluated by the daily job or by hand, and each organisation sees only its own work."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy
from flask import Flask
from sqlalchemy import func, select, text

from arrears.allocation import assignments
from arrears.cases.cases import business_date
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.models import (
    Case,
    CaseStatus,
    CollectionNote,
    Organisation,
    Promise,
    PromiseStatus,
    Reminder,
    ReminderKind,
    User,
)
from arrears.tenancy import tenant
from arrears.work import notes
from tests.builders.placements import two_cases_with_collector
from tests.builders.tenants import World, new_user
from tests.conftest import Database


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(CollectionNote)) or 0,
        db.session.scalar(select(func.count()).select_from(Promise)) or 0,
        db.session.scalar(select(func.count()).select_from(Reminder)) or 0,
    )


def test_a_note_with_a_promise_and_a_follow_up(app: Flask, world: World) -> None:
    first, _second = two_cases_with_collector(world)
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        today = business_date(collector.org)
        note = notes.add_note(
            collector,
            first,
            action="call",
            party="debtor",
            result_code="promise_to_pay",
            text="Will pay on Friday",
            follow_up_on=today + dt.timedelta(days=1),
            promise_amount="150.50",
            promise_due_on=today + dt.timedelta(days=3),
        )
        db.session.expire_all()
        case = db.session.get(Case, first)
        assert (note.contacted, note.agency_org_id, note.org_id) == (
            True,
            world.east.org_id,
            world.bank.org_id,
        )
        assert case.status == CaseStatus.ACTIVE and case.last_contact_at is not None
        assert case.next_action_on == today + dt.timedelta(days=1)
        assert case.promise_due_on == today + dt.timedelta(days=3)
        promise = db.session.scalar(select(Promise).where(Promise.case_id == first))
        assert (promise.amount, promise.status, promise.note_id) == (
            Decimal("150.50"),
            PromiseStatus.PENDING,
            note.id,
        )
        kinds = sorted(r.kind for r in db.session.scalars(select(Reminder).where(Reminder.case_id == first)))
        assert kinds == sorted([ReminderKind.FOLLOW_UP, ReminderKind.PROMISE_DUE])
        assert [r.kind for r in notes.reminders(collector, when="upcoming")] == [
            ReminderKind.FOLLOW_UP,
            ReminderKind.PROMISE_DUE,
        ]
        assert notes.due_count(collector) == 0
    # the owner sees the agency's work on its case; west sees nothing of it
    with tenant(world.bank.org_id):
        assert [n.id for n in notes.notes_for(db.session.get(Case, first))] == [note.id]
    with tenant(world.west.org_id):
        assert db.session.scalar(select(func.count()).select_from(CollectionNote)) == 0
    with db.engine.connect() as conn:  # wall 3 alone
        conn.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(world.west.org_id)})
        assert conn.execute(text("SELECT count(*) FROM collection_notes")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM promises")).scalar() == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"promise_due_on": "2000-01-01"}, "promise_due_on"),
        ({"promise_amount": "-5"}, "promise_amount"),
        ({"promise_amount": "10.005"}, "promise_amount"),
        ({"follow_up_on": "2000-01-01"}, "follow_up_on"),
        ({"result_code": "nonsense"}, "result_code"),
        ({"promise_amount": None, "promise_due_on": None}, "promise_amount"),
        ({"party": "none"}, "party"),
        ({"action": "telepathy"}, "action"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(
    app: Flask, world: World, changes: dict[str, str | None], field: str
) -> None:
    first, _second = two_cases_with_collector(world)
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        today = business_date(collector.org)
        args = {
            "action": "call",
            "party": "debtor",
            "result_code": "promise_to_pay",
            "promise_amount": "100",
            "promise_due_on": (today + dt.timedelta(days=2)).isoformat(),
        }
        args.update(changes)  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed) as refused:
            notes.add_note(collector, first, **args)  # type: ignore[arg-type]
        assert refused.value.field == field
        db.session.rollback()
        assert _counts() == (0, 0, 0)


def test_only_the_collector_holding_the_case_works_it(app: Flask, world: World) -> None:
    first, _second = two_cases_with_collector(world)
    bob_id = new_user(world.east.org_id, "collector", "bob@east.test.example", "Bob Second")
    with tenant(world.east.org_id):
        bob = _user(bob_id)
        with pytest.raises(NotFound):
            notes.add_note(bob, first, action="call", party="none", result_code="no_answer")
        collector = _user(world.east.users["collector"])
        today = business_date(collector.org)
        notes.add_note(
            collector, first, action="call", party="none", result_code="no_answer", follow_up_on=today
        )
        assert notes.due_count(collector) == 1
        manager = _user(world.east.admin_id)
        assignments.transfer(manager, [first], bob.id, "rebalancing")
        db.session.expire_all()
        # gone at once: no reminders for the old collector, no more notes from them
        assert notes.due_count(collector) == 0 and notes.reminders(collector, when="all") == []
        with pytest.raises(NotFound):
            notes.add_note(collector, first, action="call", party="none", result_code="no_answer")
    with tenant(world.bank.org_id):
        admin = _user(world.bank.admin_id)
        with pytest.raises(NotFound):  # the owner does not work a case it placed out
            notes.add_note(admin, first, action="call", party="none", result_code="no_answer")


def test_notes_are_append_only(app: Flask, world: World, database: Database) -> None:
    first, _second = two_cases_with_collector(world)
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        note = notes.add_note(collector, first, action="sms", party="none", result_code="left_message")
        correction = notes.add_note(
            collector,
            first,
            action="sms",
            party="none",
            result_code="no_answer",
            text="correction: no message was left",
            corrects_id=note.id,
        )
        assert correction.corrects_id == note.id
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        database.scalar("UPDATE collection_notes SET text = 'rewritten' RETURNING id")
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
        database.scalar("DELETE FROM collection_notes RETURNING id")


def test_promises_are_evaluated_daily_and_confirmed_by_hand(app: Flask, world: World) -> None:
    first, second = two_cases_with_collector(world)
    with tenant(world.east.org_id):
        collector = _user(world.east.users["collector"])
        today = business_date(collector.org)
        for case_id in (first, second):
            notes.add_note(
                collector,
                case_id,
                action="call",
                party="debtor",
                result_code="promise_to_pay",
                promise_amount="200",
                promise_due_on=today,
            )
        kept = db.session.scalar(select(Promise).where(Promise.case_id == first))
        notes.confirm_promise(collector, kept.id, "80")
        assert kept.status == PromiseStatus.PARTLY_KEPT
        with pytest.raises(Conflict):
            notes.confirm_promise(collector, kept.id, "200")
        east = db.session.get(Organisation, world.east.org_id)
        east.settings = {**(east.settings or {}), "business_date": (today + dt.timedelta(days=2)).isoformat()}
        db.session.commit()
        assert notes.evaluate_promises(east) == {"evaluated": 1, "broken": 1}
        assert notes.evaluate_promises(east) == {"evaluated": 0, "broken": 0}  # once
        db.session.expire_all()
        broken = db.session.scalar(select(Promise).where(Promise.case_id == second))
        assert broken.status == PromiseStatus.BROKEN
        due = notes.reminders(collector, when="due")
        assert [(r.kind, r.case_id) for r in due if r.kind == ReminderKind.PROMISE_BROKEN] == [
            (ReminderKind.PROMISE_BROKEN, second)
        ]
        assert db.session.get(Case, second).promise_due_on is None
        # a reminder done or snoozed
        reminder = due[0]
        with pytest.raises(ValidationFailed):
            notes.snooze(collector, reminder.id, today.isoformat())
        notes.snooze(collector, reminder.id, (today + dt.timedelta(days=5)).isoformat())
        assert reminder.snoozed == 1
        notes.reminder_done(collector, reminder.id)
        assert reminder.done
        with pytest.raises(NotFound):
            notes.reminder_done(_user(world.east.admin_id), reminder.id)  # someone else's
