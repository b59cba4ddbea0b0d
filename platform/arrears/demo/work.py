"""Demo collection work (``seed-demo``): a demo collector's workbench is alive on first login.

For each demo owner, once (skipped when the owner's cases already carry a note), and for every
agency holding its cases, each person the agency dispatched cases to (collectors and the team lead)
gets:

* **history**: notes over the last four weeks with varied result codes on most of their cases, and
  promises to pay taken on earlier days (2 due today, 1 later, 2 to be kept, 1 to be partly kept, 2
  due last week). ``work.notes.add_note`` stamps a note with the present moment, and notes are
  append-only (a database trigger refuses UPDATE), so past notes cannot be written through it and
  backdated afterwards: they are inserted here as they would have been written on their day (note,
  promise, the promise's reminder), in one transaction per person, and the cases' sort keys and last
  contact are then set from those rows with set-based statements (``notes.refresh_sort_keys`` and
  one UPDATE). Nothing else is backdated;
* **the promises settled**: the kept and partly kept ones confirmed by hand
  (``notes.confirm_promise``), then the agency's daily evaluation (``notes.evaluate_promises``)
  breaks the ones due last week, with their reminders due today;
* **today's work**, through the services as a collector does it: a call through the sandbox call
  centre, two calls logged by hand, each with its note (``add_note``), a new promise, follow-ups
  due today and later.

Then per owner and agency, the agency's collectors file applications (``work.applications``):
a reduction and a repayment waiting for the team lead, a reduction and a repayment the lead passed
on to the agency's manager, a repayment (and a reduction when a case owes enough) the manager passed
on to the owner; and, for the owner's first agency, a small reduction the lead approved (taken off the
case). Each owner gets a letter template (``work.letters``) and one letter generated from it on a
collector's case. Amounts follow the owner's thresholds (``applications.get_limits``).

Everything is deterministic (a fixed random seed per person), runs on SQLite and PostgreSQL, and
takes a few seconds.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update

from arrears.allocation.assignments import OPEN
from arrears.auth.models import User
from arrears.cases.models import Case, CaseStatus
from arrears.cases.scopes import assigned
from arrears.columns import utcnow
from arrears.extensions import db
from arrears.kernel import clock
from arrears.kernel.clock import business_date
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval
from arrears.payments import repayments
from arrears.payments.models import Repayment, RepaymentSource
from arrears.tenancy import tenant
from arrears.tenancy.models import Organisation
from arrears.work import applications, calls, letters, notes
from arrears.work.models import (
    Application,
    CollectionNote,
    ContactParty,
    LetterTemplate,
    NoteAction,
    Promise,
    Reminder,
    ReminderKind,
)

OWNERS = ("demo-bank", "demo-lender")
HISTORY_DAYS = 27
CENT = Decimal("0.01")

TEMPLATE_NAME = "逾期还款提醒函"
TEMPLATE_SUBJECT = "关于贷款{{ loan_no }}逾期还款的提醒函"
TEMPLATE_BODY = (
    "{% if address %}{{ address }}\n{% endif %}{{ debtor_name }}先生/女士：\n\n"
    "您好！您在{{ owner_name }}办理的{{ product }}（合同编号{{ loan_no }}）已于{{ due_date }}到期，"
    "截至{{ today }}已逾期{{ days_past_due }}天，尚欠本金{{ principal }}元、利息{{ interest }}元、"
    "罚息{{ penalty }}元、费用{{ fee }}元，合计{{ outstanding }}元。\n\n"
    "请您收到本函后尽快还款，或与我们联系协商还款方案。如您已还款，请忽略本函。\n\n"
    "{{ owner_name }}\n{{ today }}\n"
)

# Result codes of past attempts, with their weights and what a collector writes.
HISTORY_CODES: list[tuple[str, int, str]] = [
    ("no_answer", 26, "拨打本人手机无人接听"),
    ("busy", 8, "本人手机占线"),
    ("switched_off", 8, "本人手机关机"),
    ("left_message", 8, "未接通，已发短信提醒还款"),
    ("callback", 10, "本人称在开会，约定稍后回电"),
    ("refused", 8, "本人拒绝还款，态度强硬，已告知逾期后果"),
    ("dispute", 3, "本人对利息和罚息有异议，称已部分还款，需核实"),
    ("hardship", 7, "本人称近期失业、收入困难，希望分期还款"),
    ("third_party_informed", 6, "联系到紧急联系人，答应转告本人尽快还款"),
    ("wrong_number", 3, "号码已易主，对方不认识债务人"),
    ("other", 3, "核实地址信息"),
]
THIRD_PARTIES = [ContactParty.SPOUSE, ContactParty.RELATIVE, ContactParty.COLLEAGUE, ContactParty.THIRD_PARTY]


@dataclass(frozen=True)
class Plan:
    """The promises taken earlier of one person, by what becomes of them."""

    due_today: int = 2
    upcoming: int = 1
    kept: int = 2
    partly_kept: int = 1
    broken: int = 2

    @property
    def total(self) -> int:
        return self.due_today + self.upcoming + self.kept + self.partly_kept + self.broken


PLAN = Plan()


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("/".join(map(str, parts)).encode()))  # noqa: S311 (demo data)


def _at(day: dt.date, rng: random.Random) -> dt.datetime:
    """A moment of office hours on ``day`` where the organisation works, in UTC."""
    local = dt.datetime.combine(day, dt.time(rng.randrange(9, 18), rng.randrange(0, 60)), tzinfo=clock.zone())
    return local.astimezone(dt.UTC)


def _round(amount: Decimal, step: int = 100) -> Decimal:
    return max(Decimal(step), (amount / step).quantize(Decimal("1")) * step).quantize(CENT)


def seed_work(by_slug: dict[str, Organisation]) -> None:
    """The demo's collection work, once per demo owner (see the module's docstring)."""
    for owner_slug in OWNERS:
        owner = by_slug[owner_slug]
        with tenant(owner.id, owner.kind):
            if db.session.scalar(select(CollectionNote.id).limit(1)) is not None:
                continue  # seeded before, or worked on since
            holders = set(
                db.session.scalars(
                    select(Case.agency_org_id).where(Case.agency_org_id.is_not(None)).distinct()
                )
            )
            admin = _user(f"admin@{owner_slug}.example")
            assert admin is not None
            template = _template(admin)
        agencies = sorted((o for o in by_slug.values() if o.id in holders), key=lambda o: o.slug)
        for n, agency in enumerate(agencies):
            with tenant(agency.id, agency.kind):
                held = _held(owner, agency)
                for user_id in sorted(held):
                    worker = db.session.get(User, user_id)
                    assert worker is not None
                    rng = _rng(owner.slug, worker.email)
                    settle = _history(owner, worker, held[user_id], rng)
                    _settle(owner, worker, settle, rng)
                notes.evaluate_promises(agency)
                held = _held(owner, agency)
                for user_id in sorted(held):
                    worker = db.session.get(User, user_id)
                    assert worker is not None
                    _today(owner, worker, held[user_id], _rng(owner.slug, worker.email, "today"))
                held = _held(owner, agency)
                _applications(owner, agency, held, approved_one=n == 0)
                if n == 0:
                    _letter(agency, held, template)
        _more_repayments(owner)


def _template(admin: User) -> LetterTemplate:
    found = db.session.scalar(select(LetterTemplate).where(LetterTemplate.name == TEMPLATE_NAME))
    return found or letters.create_template(
        admin, name=TEMPLATE_NAME, subject=TEMPLATE_SUBJECT, body=TEMPLATE_BODY
    )


def _held(owner: Organisation, agency: Organisation) -> dict[int, list[Case]]:
    """The owner's open cases the agency's people hold, per person, by id."""
    out: dict[int, list[Case]] = {}
    for case in db.session.scalars(
        select(Case)
        .where(
            Case.org_id == owner.id,
            Case.agency_org_id == agency.id,
            assigned(),
            Case.status.in_(OPEN),
        )
        .order_by(Case.id)
        .execution_options(populate_existing=True)  # as the statements before left them
    ):
        assert case.assignee_user_id is not None
        out.setdefault(case.assignee_user_id, []).append(case)
    return out


# --- the past ----------------------------------------------------------------------------------------


@dataclass
class Settle:
    kept: list[Promise]
    partly_kept: list[Promise]


def _history(owner: Organisation, worker: User, cases: list[Case], rng: random.Random) -> Settle:  # noqa: C901
    """Notes of the last weeks and the promises taken then, written as on their day (one
    transaction); the cases' sort keys and last contact follow from them."""
    today = business_date(owner)
    codes = {c.code: c for c in notes.result_codes(worker.org_id, active_only=True)}
    weighted = [(code, w, text) for code, w, text in HISTORY_CODES if code in codes]
    order = list(cases)
    rng.shuffle(order)
    owing = [c for c in order if c.outstanding > 0]
    promised = owing[: PLAN.total]
    rest = [c for c in order if c not in promised]
    kinds = (
        ["due_today"] * PLAN.due_today
        + ["upcoming"] * PLAN.upcoming
        + ["kept"] * PLAN.kept
        + ["partly_kept"] * PLAN.partly_kept
        + ["broken"] * PLAN.broken
    )
    settle = Settle([], [])
    touched: list[int] = []
    with transaction():
        # most cases: a few attempts each, spread over the last weeks
        for case in rest:
            if rng.random() < 0.3 or not weighted:
                continue
            for days_ago in sorted(rng.sample(range(1, HISTORY_DAYS + 1), rng.randint(1, 4)), reverse=True):
                code, _w, text = rng.choices(weighted, weights=[w for _c, w, _t in weighted])[0]
                _note(case, worker, codes[code], text, _at(today - dt.timedelta(days=days_ago), rng), rng)
            touched.append(case.id)
        # promises taken earlier: a failed attempt first, then the promise
        if "promise_to_pay" in codes:
            for case, kind in zip(promised, kinds, strict=False):
                if kind == "due_today":
                    taken, due = rng.randint(2, 6), 0
                elif kind == "upcoming":
                    taken, due = rng.randint(1, 3), -rng.randint(2, 5)
                elif kind == "broken":
                    taken = rng.randint(8, 13)
                    due = rng.randint(1, min(6, taken - 1))
                else:  # kept or partly kept: due in the weeks before
                    taken = rng.randint(10, 20)
                    due = taken - rng.randint(3, 6)
                if "no_answer" in codes:
                    _note(
                        case,
                        worker,
                        codes["no_answer"],
                        "拨打本人手机无人接听",
                        _at(today - dt.timedelta(days=taken + 2), rng),
                        rng,
                    )
                amount = _round(min(case.outstanding, Decimal(rng.randrange(500, 5000))))
                amount = min(amount, case.outstanding)
                due_on = today - dt.timedelta(days=due)
                note = _note(
                    case,
                    worker,
                    codes["promise_to_pay"],
                    f"本人承诺于{due_on:%m月%d日}前还款{amount}元",
                    _at(today - dt.timedelta(days=taken), rng),
                    rng,
                    party=ContactParty.DEBTOR,
                )
                db.session.flush()  # the note's id, for its promise
                promise = Promise(
                    org_id=case.org_id,
                    agency_org_id=case.agency_org_id,
                    case_id=case.id,
                    collector_user_id=worker.id,
                    note_id=note.id,
                    amount=amount,
                    due_on=due_on,
                    created_at=note.created_at,
                )
                db.session.add(promise)
                db.session.flush()
                db.session.add(
                    Reminder(
                        org_id=case.org_id,
                        agency_org_id=case.agency_org_id,
                        case_id=case.id,
                        user_id=worker.id,
                        kind=ReminderKind.PROMISE_DUE,
                        due_on=due_on,
                        text="",
                        promise_id=promise.id,
                        created_at=note.created_at,
                    )
                )
                if kind == "kept":
                    settle.kept.append(promise)
                elif kind == "partly_kept":
                    settle.partly_kept.append(promise)
                touched.append(case.id)
        db.session.flush()
        _after_history(touched)
    return settle


def _note(
    case: Case,
    worker: User,
    code: notes.Code,
    text: str,
    at: dt.datetime,
    rng: random.Random,
    *,
    party: ContactParty | None = None,
) -> CollectionNote:
    if party is None:
        if not code.contacted:
            party = ContactParty.NONE
        elif code.code == "third_party_informed":
            party = rng.choice(THIRD_PARTIES)
        else:
            party = ContactParty.DEBTOR
    if code.code == "left_message" or (not code.contacted and rng.random() < 0.1):
        action = NoteAction.SMS
    elif code.code == "other":
        action = NoteAction.OTHER
    else:
        action = NoteAction.CALL
    note = CollectionNote(
        org_id=case.org_id,
        agency_org_id=case.agency_org_id,
        case_id=case.id,
        author_user_id=worker.id,
        action=action,
        party=party,
        result_code=code.code,
        contacted=code.contacted,
        text=text,
        created_at=at,
    )
    db.session.add(note)
    return note


def _after_history(case_ids: list[int]) -> None:
    """The cases' last contact and status from their notes, and their sort keys, set-based."""
    if not case_ids:
        return
    last_contact = (
        select(func.max(CollectionNote.created_at))
        .where(CollectionNote.case_id == Case.id, CollectionNote.contacted.is_(True))
        .scalar_subquery()
    )
    db.session.execute(
        update(Case)
        .where(Case.id.in_(case_ids))
        .values(last_contact_at=func.coalesce(last_contact, Case.last_contact_at))
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Case)
        .where(Case.id.in_(case_ids), Case.status == CaseStatus.NEW)
        .values(status=CaseStatus.ACTIVE)
        .execution_options(synchronize_session=False)
    )
    notes.refresh_sort_keys(case_ids)


def _settle(owner: Organisation, worker: User, settle: Settle, rng: random.Random) -> None:
    """What was paid against the earlier promises: the owner's core system reports the payments
    (``payments.repayments``), which are applied to the loans and counted towards the promises; the
    daily evaluation then finds them kept or partly kept. Paid just now (after this seed's
    dispatch), so they are credited to the collector holding the case."""

    moment = utcnow()
    items = []
    for n, promise in enumerate([*settle.kept, *settle.partly_kept]):
        amount = promise.amount
        if n >= len(settle.kept):
            amount = (promise.amount * Decimal(rng.randrange(30, 70)) / 100).quantize(CENT)
        items.append(
            {
                "transaction_id": f"DEMO-{owner.slug}-P{promise.id}",
                "loan_no": db.session.get(Case, promise.case_id).loan_no,  # type: ignore[union-attr]
                "amount": str(amount),
                "paid_at": moment.isoformat(),
                "channel": rng.choice(CHANNELS),
            }
        )
    if not items:
        return
    with tenant(owner.id, owner.kind):
        with transaction():
            repayments.record(owner, items, source=RepaymentSource.API, enqueue_apply=False)
        repayments.apply_all(owner)


CHANNELS = ("银行卡代扣", "微信支付", "支付宝", "对公转账")


def _more_repayments(owner: Organisation) -> None:
    """Payments the core system reports on other placed cases: three part payments, one that pays a
    loan off with a little over (the case closes, its placement ends, the rest is the debtor's
    credit), and a bounced one, reversed."""

    rng = _rng(owner.slug, "repayments")
    moment = utcnow()
    with tenant(owner.id, owner.kind):
        paid = select(Repayment.case_id)
        cases = list(
            db.session.scalars(
                select(Case)
                .where(
                    Case.agency_org_id.is_not(None),
                    Case.status.in_((CaseStatus.NEW, CaseStatus.ACTIVE)),
                    Case.id.not_in(paid),
                )
                .order_by(Case.id)
                .limit(5)
            )
        )
        if len(cases) < 5:
            return
        items = []
        for n, case in enumerate(cases):
            if n == 3:
                amount = case.outstanding + Decimal("50.00")
            else:
                amount = _round(case.outstanding * Decimal(rng.randrange(5, 15)) / 100) or Decimal("100")
            items.append(
                {
                    "transaction_id": f"DEMO-{owner.slug}-R{n}",
                    "loan_no": case.loan_no,
                    "amount": str(amount),
                    "paid_at": moment.isoformat(),
                    "channel": rng.choice(CHANNELS),
                }
            )
        with transaction():
            repayments.record(owner, items, source=RepaymentSource.API, enqueue_apply=False)
        repayments.apply_all(owner)
        admin = _user(f"admin@{owner.slug}.example")
        bounced = db.session.scalar(select(Repayment).where(Repayment.external_id == f"DEMO-{owner.slug}-R4"))
        if admin is not None and bounced is not None:
            repayments.reverse(admin, bounced, "退票: 银行卡余额不足 (bounced)")


# --- today ------------------------------------------------------------------------------------------


def _today(owner: Organisation, worker: User, cases: list[Case], rng: random.Random) -> None:
    """This morning's work, through the services: calls and their notes, a new promise, follow-ups."""
    today = business_date(owner)
    fresh = [c for c in cases if c.promise_due_on is None]
    rng.shuffle(fresh)
    if len(fresh) < 4:
        return
    now = dt.datetime.now(dt.UTC)
    # a call through the sandbox call centre: answered, the debtor asks to be called back today
    call = calls.start_call(worker, fresh[0].id)
    calls.finish_call(worker, call.id, rng.randrange(60, 300), "answered")
    notes.add_note(
        worker,
        fresh[0].id,
        action="call",
        party="debtor",
        result_code="callback",
        text="本人称正在筹款，约定今天晚些时候再联系",
        follow_up_on=today,
        call_id=call.id,
    )
    # calls made on the desk phone, logged by hand
    missed = calls.log_call(
        worker, fresh[1].id, now - dt.timedelta(minutes=rng.randrange(60, 180)), 0, "no_answer"
    )
    notes.add_note(
        worker,
        fresh[1].id,
        action="call",
        party="none",
        result_code="no_answer",
        text="拨打本人手机无人接听，两天后再拨",
        follow_up_on=today + dt.timedelta(days=2),
        call_id=missed.id,
    )
    answered = calls.log_call(
        worker,
        fresh[2].id,
        now - dt.timedelta(minutes=rng.randrange(20, 60)),
        rng.randrange(120, 600),
        "answered",
    )
    amount = min(_round(Decimal(rng.randrange(500, 3000))), fresh[2].outstanding)
    due = today + dt.timedelta(days=rng.randint(3, 7))
    notes.add_note(
        worker,
        fresh[2].id,
        action="call",
        party="debtor",
        result_code="promise_to_pay",
        text=f"本人承诺于{due:%m月%d日}前还款{amount}元",
        promise_amount=str(amount),
        promise_due_on=due,
        call_id=answered.id,
    )
    # a text message, to be followed up today
    notes.add_note(
        worker,
        fresh[3].id,
        action="sms",
        party="none",
        result_code="left_message",
        text="已发短信提醒还款，今日跟进",
        follow_up_on=today,
    )


# --- applications and a letter ----------------------------------------------------------------------


def _waivers(case: Case, amount: Decimal) -> dict[str, str] | None:
    """``amount`` waived from the penalty first, then the interest, then the fee; None when the case
    owes less than that of the three."""
    left, out = amount, {}
    for component in ("penalty", "interest", "fee"):
        take = min(left, getattr(case, component))
        out[f"waive_{component}"] = str(take)
        left -= take
    return out if left == 0 else None


def _applications(
    owner: Organisation, agency: Organisation, held: dict[int, list[Case]], *, approved_one: bool
) -> None:
    lead = _user(f"lead@{agency.slug}.example")
    manager = _user(f"manager@{agency.slug}.example")
    requesters = [
        u
        for u in (db.session.get(User, uid) for uid in sorted(held))
        if u is not None and u.email.startswith("collector") and u.team_id is not None
    ]
    if lead is None or manager is None or not requesters:
        return
    limits = applications.get_limits(owner)
    today = business_date(owner)
    # (kind, amount, the level it is passed on to, or "approved")
    wanted: list[tuple[str, Decimal, str]] = [
        ("reduction", _round(limits["reduction"]["team"] * Decimal("0.6"), 10), "team"),
        ("repayment", _round(limits["repayment"]["team"] * Decimal("0.75")), "team"),
        ("reduction", _round((limits["reduction"]["team"] + limits["reduction"]["org"]) / 3, 10), "org"),
        ("repayment", _round((limits["repayment"]["team"] + limits["repayment"]["org"]) / 3), "org"),
        ("repayment", _round(limits["repayment"]["org"] * Decimal("1.3")), "owner"),
        ("reduction", _round(limits["reduction"]["org"] * Decimal("1.2")), "owner"),
    ]
    if approved_one:
        wanted.append(("reduction", _round(limits["reduction"]["team"] * Decimal("0.4"), 10), "approved"))
    pool = [(case, user) for user in requesters for case in held[user.id] if case.promise_due_on is None]
    _rng(owner.slug, agency.slug, "applications").shuffle(pool)
    used: set[int] = set()
    for n, (kind, amount, target) in enumerate(wanted):
        found = None
        for case, user in pool:
            if case.id in used:
                continue
            if kind == "reduction" and _waivers(case, amount) is not None:
                found = (case, user)
                break
            if kind == "repayment" and case.outstanding >= amount:
                found = (case, user)
                break
        if found is None:
            continue  # no case owes enough (the owner's thresholds are high): leave it out
        case, user = found
        used.add(case.id)
        if kind == "reduction":
            waivers = _waivers(case, amount)
            assert waivers is not None
            application = applications.request_reduction(
                user,
                case.id,
                waive_penalty=waivers["waive_penalty"],
                waive_interest=waivers["waive_interest"],
                waive_fee=waivers["waive_fee"],
                reason="债务人近期失业、收入困难，承诺减免后一次性结清剩余欠款",
            )
        else:
            application = applications.request_repayment(
                user,
                case.id,
                amount=str(amount),
                paid_on=today - dt.timedelta(days=1 + n % 3),
                channel="银行转账",
                reason="债务人已通过银行转账还款，凭证见附件（纸质件已收）",
            )
        _pass_on(application, target, lead, manager)


def _pass_on(application: Application, target: str, lead: User, manager: User) -> None:
    """Decide the application's stages up to ``target``: the lead passes the team's stage (and
    approves an application that needs no more); the manager passes the team's and the agency's."""
    if target == "team" or application.approval_id is None:
        return
    approval = db.session.get(Approval, application.approval_id)
    assert approval is not None
    if target == "approved":
        if approval.stages == ["team"]:
            approvals.decide(lead, approval, approve=True, note="情况属实，同意减免")
        return
    if target not in approval.stages or approval.stage == target:
        return
    decider = lead if target == "org" else manager
    approvals.decide(decider, approval, approve=True, note="情况属实，同意，请上级审批")


def _letter(agency: Organisation, held: dict[int, list[Case]], template: LetterTemplate) -> None:
    collector = _user(f"collector1@{agency.slug}.example")
    if collector is None or not held.get(collector.id):
        return
    case = held[collector.id][-1]
    letters.generate(collector, case.id, template.id)
