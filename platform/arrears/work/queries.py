"""Reading the collection work of an organisation (the agency console's and the asset console's
pages): the collection notes (催记), promises to pay and applications (申请) of the cases in the
reader's scope, one case's work for its page's tabs, the stage path of a request decided level by
level, and the organisation's result codes as the settings page shows them.

Who sees what: walls 2 and 3 give the owner the work of every agency on its cases and an agency its
own people's only; inside the organisation every query joins the case and applies the reader's case
scope (``cases.scopes.case_scope``), so a team lead sees the work on their teams' cases and
nothing of another team's. Lists are keyset-paged newest first and read their rows, the cases' loan
numbers and the debtors' names (masked) in one statement, and the people's names in one more.

The owner reads a few things of an agency across the tenant wall, always by ids taken from rows it
already sees and through the named escape hatch: the names of the agency's people who worked its
cases, the labels of the agency's own result codes, and the approval deciding an application while
it waits at the agency's level.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, false, func, or_, select, tuple_

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case, Debtor
from arrears.cases.scopes import case_scope, led_team_ids, sees_everything
from arrears.errors import PermissionDenied
from arrears.extensions import db
from arrears.kernel.clock import day_start
from arrears.kernel.db import literal_like
from arrears.orgs.models import Approval, ApprovalStatus
from arrears.orgs.queries import StagePath, org_names, person_names, stage_path
from arrears.security import masking
from arrears.tenancy import cross_tenant
from arrears.work import applications, attachments, notes
from arrears.work import letters as letter_service
from arrears.work.contacts import contact_history
from arrears.work.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    CallResult,
    CollectionNote,
    LetterTemplate,
    Promise,
    PromiseStatus,
    ResultCode,
)

PAGE = 50

CHANNEL_LABELS: dict[str, Any] = {a.value: label for a, label in notes.ACTION_LABELS.items()}
CALL_RESULT_LABELS: dict[str, Any] = {
    CallResult.ANSWERED.value: _l("Answered"),
    CallResult.NO_ANSWER.value: _l("No answer"),
    CallResult.BUSY.value: _l("Busy"),
    CallResult.SWITCHED_OFF.value: _l("Switched off"),
    CallResult.WRONG_NUMBER.value: _l("Wrong number"),
    CallResult.FAILED.value: _l("The call failed"),
}
ATTACHMENT_KIND_LABELS: dict[str, Any] = {
    "evidence": _l("Evidence"),
    "document": _l("Document"),
    "letter": _l("Letter"),
}
# who holds a piece of work, as the owner filters it: an agency's id, or its own people
IN_HOUSE = "inhouse"


# --- small helpers ----------------------------------------------------------------------------------------


def _loan_prefix(column: Any, text: str) -> Any:
    return column.like(f"{literal_like(text)}%", escape="\\")


def _holder(column: Any, holder: str | None) -> Any | None:
    """The owner's filter by who did the work: ``inhouse`` (its own people) or an agency's id."""
    if not holder:
        return None
    if holder == IN_HOUSE:
        return column.is_(None)
    return column == int(holder) if str(holder).isdigit() else false()


def may_see_work(actor: User) -> bool:
    return attachments.may_see_work(actor)


def other_agencies(actor: User, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the agencies whose people did work the reader sees, but the reader's own (an
    agency's reader knows the work of its own people is theirs)."""
    return {k: v for k, v in org_names(ids).items() if k != actor.org_id}


def code_labels(actor: User, org_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """The result code labels of each organisation whose people wrote notes the reader sees (the
    holding organisation's set applies to a note). An owner reads an agency's own codes across the
    wall, by the agency's id only."""
    out: dict[int, dict[str, str]] = {}
    for org_id in sorted(set(org_ids)):
        if org_id == actor.org_id:
            out[org_id] = notes.code_labels(org_id)
        else:
            with cross_tenant("the case owner reads the labels of the result codes its agencies use"):
                out[org_id] = notes.code_labels(org_id)
    return out


def result_label(labels: dict[int, dict[str, str]], org_id: int, code: str) -> str:
    label = labels.get(org_id, {}).get(code)
    if label is not None:
        return label
    call = CALL_RESULT_LABELS.get(code)
    return str(call) if call is not None else code


def people_choices(actor: User) -> list[tuple[int, str]]:
    """Whom the reader may filter the lists by (author, collector): the organisation's people; a
    team lead's, their teams' members and themselves. (An owner filters its agencies' people by
    agency, ``agency_choices``.)"""
    stmt = select(User.id, User.name).order_by(User.name, User.id)
    if not sees_everything(actor):
        teams = led_team_ids(actor)
        stmt = stmt.where(or_(User.id == actor.id, User.team_id.in_(teams)) if teams else User.id == actor.id)
    return list(db.session.execute(stmt).all())


@dataclass
class Page:
    rows: list[Any]
    after: str | None  # the cursor of the next page, None on the last


def _int_cursor(raw: Any) -> int | None:
    text = str(raw or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


def _cases(case_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Loan number and the debtor's masked name per case (one query)."""
    wanted = {int(i) for i in case_ids}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Case.id, Case.loan_no, Debtor.name)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(Case.id.in_(wanted))
    )
    return {cid: (loan_no, masking.name(name)) for cid, loan_no, name in rows}


# --- collection notes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteFilter:
    author_id: int | None = None
    holder: str | None = None  # the owner's: ``inhouse`` or an agency's id
    result_code: str | None = None
    action: str | None = None
    contacted: bool | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    loan_no: str | None = None


@dataclass
class NoteRow:
    note: CollectionNote
    loan_no: str
    debtor: str  # masked
    author: str
    agency: str
    action: str
    party: str
    result: str


def notes_query(actor: User, f: NoteFilter) -> Select[CollectionNote, str, str]:
    stmt = (
        select(CollectionNote, Case.loan_no, Debtor.name)
        .join(Case, Case.id == CollectionNote.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(case_scope(actor))
    )
    if f.author_id:
        stmt = stmt.where(CollectionNote.author_user_id == f.author_id)
    holder = _holder(CollectionNote.agency_org_id, f.holder)
    if holder is not None:
        stmt = stmt.where(holder)
    if f.result_code:
        stmt = stmt.where(CollectionNote.result_code == f.result_code)
    if f.action:
        stmt = stmt.where(CollectionNote.action == f.action)
    if f.contacted is not None:
        stmt = stmt.where(CollectionNote.contacted.is_(f.contacted))
    if f.since:
        stmt = stmt.where(CollectionNote.created_at >= day_start(f.since))
    if f.until:
        stmt = stmt.where(CollectionNote.created_at < day_start(f.until + dt.timedelta(days=1)))
    if f.loan_no:
        stmt = stmt.where(_loan_prefix(Case.loan_no, f.loan_no))
    return stmt


def notes_page(actor: User, f: NoteFilter, *, after: Any = None, limit: int = PAGE) -> Page:
    """The collection notes on the cases in the reader's scope, newest first."""
    require(actor, "work.view")
    stmt = notes_query(actor, f)
    cursor = _int_cursor(after)
    if cursor is not None:
        stmt = stmt.where(CollectionNote.id < cursor)
    found = db.session.execute(stmt.order_by(CollectionNote.id.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    found = found[:limit]
    names = person_names(actor, [n.author_user_id for n, _loan, _name in found])
    agencies = other_agencies(actor, (n.agency_org_id for n, _loan, _name in found))
    labels = code_labels(actor, {n.agency_org_id or n.org_id for n, _loan, _name in found})
    rows = [
        NoteRow(
            note=n,
            loan_no=loan_no,
            debtor=masking.name(name),
            author=names.get(n.author_user_id, ""),
            agency=agencies.get(n.agency_org_id or 0, ""),
            action=str(notes.ACTION_LABELS.get(n.action, n.action.value)),
            party=str(notes.PARTY_LABELS.get(n.party, n.party.value)),
            result=result_label(labels, n.agency_org_id or n.org_id, n.result_code),
        )
        for n, loan_no, name in found
    ]
    return Page(rows, str(found[-1][0].id) if more else None)


def result_code_choices(actor: User) -> list[tuple[str, str]]:
    """The codes the notes filter offers: the reader's organisation's set (switched-off ones too:
    old notes carry them)."""
    return [(c.code, str(c.label)) for c in notes.result_codes(actor.org_id)]


# --- promises to pay --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromiseFilter:
    status: str | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    collector_id: int | None = None
    holder: str | None = None
    loan_no: str | None = None


@dataclass
class PromiseRow:
    promise: Promise
    loan_no: str
    debtor: str
    collector: str
    agency: str
    status: str


def promises_page(actor: User, f: PromiseFilter, *, after: Any = None, limit: int = PAGE) -> Page:
    """The promises to pay on the cases in the reader's scope, latest due date first; the cursor is
    the last row's due date and id (``YYYY-MM-DD.<id>``)."""
    require(actor, "work.view")
    stmt = (
        select(Promise, Case.loan_no, Debtor.name)
        .join(Case, Case.id == Promise.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(case_scope(actor))
    )
    if f.status in {s.value for s in PromiseStatus}:
        stmt = stmt.where(Promise.status == PromiseStatus(f.status))
    if f.due_from:
        stmt = stmt.where(Promise.due_on >= f.due_from)
    if f.due_to:
        stmt = stmt.where(Promise.due_on <= f.due_to)
    if f.collector_id:
        stmt = stmt.where(Promise.collector_user_id == f.collector_id)
    holder = _holder(Promise.agency_org_id, f.holder)
    if holder is not None:
        stmt = stmt.where(holder)
    if f.loan_no:
        stmt = stmt.where(_loan_prefix(Case.loan_no, f.loan_no))
    day, _sep, pid = str(after or "").partition(".")
    try:
        cursor = (dt.date.fromisoformat(day), int(pid)) if pid.isdigit() and len(pid) < 19 else None
    except ValueError:
        cursor = None
    if cursor is not None:
        stmt = stmt.where(tuple_(Promise.due_on, Promise.id) < tuple_(*cursor))
    found = db.session.execute(stmt.order_by(Promise.due_on.desc(), Promise.id.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    found = found[:limit]
    names = person_names(actor, [p.collector_user_id for p, _loan, _name in found])
    agencies = other_agencies(actor, (p.agency_org_id for p, _loan, _name in found))
    rows = [
        PromiseRow(
            promise=p,
            loan_no=loan_no,
            debtor=masking.name(name),
            collector=names.get(p.collector_user_id, ""),
            agency=agencies.get(p.agency_org_id or 0, ""),
            status=str(notes.PROMISE_LABELS.get(p.status, p.status.value)),
        )
        for p, loan_no, name in found
    ]
    last = found[-1][0] if found else None
    return Page(rows, f"{last.due_on.isoformat()}.{last.id}" if more and last is not None else None)


# --- applications -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplicationFilter:
    status: str | None = None
    kind: str | None = None
    holder: str | None = None
    loan_no: str | None = None


@dataclass
class ApplicationRow:
    application: Application
    loan_no: str
    debtor: str
    requester: str
    agency: str
    kind: str
    status: str
    stage: str  # where a pending one waits (a level's label), else ""


def may_read_applications(actor: User) -> bool:
    return actor.can("work.view") or may_decide_any(actor)


def may_decide_any(actor: User) -> bool:
    return actor.can("applications.approve.team") or actor.can("applications.approve.all")


def _stage_label(application: Application, approval: Approval | None) -> str:
    if approval is None or approval.status != ApprovalStatus.PENDING or not approval.stage:
        return ""
    return applications.level_label(approval.stage, in_house=application.agency_org_id is None)


def _application_rows(actor: User, found: list[tuple[Application, str, str]]) -> list[ApplicationRow]:
    names = person_names(actor, [a.requested_by_id for a, _loan, _name in found])
    agencies = other_agencies(actor, (a.agency_org_id for a, _loan, _name in found))
    approvals = applications.approvals_by_id(a.approval_id for a, _loan, _name in found)
    return [
        ApplicationRow(
            application=a,
            loan_no=loan_no,
            debtor=masking.name(name),
            requester=names.get(a.requested_by_id, ""),
            agency=agencies.get(a.agency_org_id or 0, ""),
            kind=str(applications.KIND_LABELS[a.kind]),
            status=str(applications.STATUS_LABELS[a.status]),
            stage=_stage_label(a, approvals.get(a.approval_id or 0)),
        )
        for a, loan_no, name in found
    ]


def applications_page(actor: User, f: ApplicationFilter, *, after: Any = None, limit: int = PAGE) -> Page:
    """Every application on the cases in the reader's scope (the owner: every agency's on its cases;
    an agency: its own), newest first."""
    require(actor, "work.view")
    stmt = (
        select(Application, Case.loan_no, Debtor.name)
        .join(Case, Case.id == Application.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(case_scope(actor))
    )
    if f.status in {s.value for s in ApplicationStatus}:
        stmt = stmt.where(Application.status == ApplicationStatus(f.status))
    if f.kind in {k.value for k in ApplicationKind}:
        stmt = stmt.where(Application.kind == ApplicationKind(f.kind))
    holder = _holder(Application.agency_org_id, f.holder)
    if holder is not None:
        stmt = stmt.where(holder)
    if f.loan_no:
        stmt = stmt.where(_loan_prefix(Case.loan_no, f.loan_no))
    cursor = _int_cursor(after)
    if cursor is not None:
        stmt = stmt.where(Application.id < cursor)
    found = db.session.execute(stmt.order_by(Application.id.desc()).limit(limit + 1)).all()
    more = len(found) > limit
    found = found[:limit]
    return Page(_application_rows(actor, list(found)), str(found[-1][0].id) if more else None)


def inbox_page(actor: User, *, after: Any = None, limit: int = PAGE) -> Page:
    """The applications waiting at a level the reader decides, oldest first (a queue)."""
    if not may_decide_any(actor):
        return Page([], None)
    stmt = applications.inbox_query(actor)
    cursor = _int_cursor(after)
    if cursor is not None:
        stmt = stmt.where(Application.id > cursor)
    found = cast(list[Application], list(db.session.scalars(stmt.limit(limit + 1))))
    more = len(found) > limit
    found = found[:limit]
    cases = _cases(a.case_id for a in found)
    rows = [(a, *cases.get(a.case_id, ("", ""))) for a in found]
    return Page(_application_rows(actor, rows), str(found[-1].id) if more else None)


def inbox_count(actor: User) -> int | None:
    """How many applications wait for the reader's decision (the navigation's badge)."""
    if not may_decide_any(actor):
        return None
    query = applications.inbox_query(actor).order_by(None).with_only_columns(Application.id)
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


@dataclass
class ApplicationDetail:
    application: Application
    kind: str
    status: str
    stage: str  # where it waits now
    required: str  # the highest level it needs
    loan_no: str
    debtor: str
    requester: str
    agency: str
    waivers: list[tuple[str, Decimal]]
    evidence: list[Attachment]
    path: StagePath | None
    may_decide: bool
    is_requester: bool


WAIVER_LABELS: dict[str, Any] = {
    "penalty": _l("Penalty waived"),
    "interest": _l("Interest waived"),
    "fee": _l("Fees waived"),
}


def application_detail(actor: User, application: Application) -> ApplicationDetail:
    """One application as its page shows it (loaded through ``get_application_for``)."""
    if not may_read_applications(actor):
        raise PermissionDenied(_("You do not have the permission for this action."))
    approval = applications.approvals_by_id([application.approval_id]).get(application.approval_id or 0)
    in_house = application.agency_org_id is None
    # a decider whose level it is may no longer hold the case (recalled since): the request's own
    # record of the loan number stands in, nothing is read across the wall
    case = _cases([application.case_id]).get(application.case_id) or (
        str((approval.payload or {}).get("loan_no", "")) if approval is not None else "",
        "",
    )
    evidence = list(
        db.session.scalars(
            select(Attachment).where(Attachment.application_id == application.id).order_by(Attachment.id)
        )
    )
    return ApplicationDetail(
        application=application,
        kind=str(applications.KIND_LABELS[application.kind]),
        status=str(applications.STATUS_LABELS[application.status]),
        stage=_stage_label(application, approval),
        required=applications.level_label(application.required_level, in_house=in_house),
        loan_no=case[0],
        debtor=case[1],
        requester=person_names(actor, [application.requested_by_id]).get(application.requested_by_id, ""),
        agency=other_agencies(actor, [application.agency_org_id]).get(application.agency_org_id or 0, ""),
        waivers=[
            (str(WAIVER_LABELS["penalty"]), application.waive_penalty),
            (str(WAIVER_LABELS["interest"]), application.waive_interest),
            (str(WAIVER_LABELS["fee"]), application.waive_fee),
        ]
        if application.kind == ApplicationKind.REDUCTION
        else [],
        evidence=evidence,
        path=stage_path(approval, in_house=in_house),
        may_decide=approval is not None and applications.may_decide(actor, application),
        is_requester=application.requested_by_id == actor.id,
    )


# --- one case's work (the case pages' tabs) ------------------------------------------------------------


@dataclass
class CaseWork:
    notes: list[NoteRow] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    promises: list[PromiseRow] = field(default_factory=list)
    applications: list[ApplicationRow] = field(default_factory=list)
    attachments: list[tuple[Attachment, str]] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)


def case_work(actor: User, case: Case) -> CaseWork | None:
    """Everything done on a case that the reader's organisation sees (the owner: every agency's; an
    agency: its own people's), for the read-only tabs of the case page; None when the reader may not
    see the work (``work.view`` or ``workbench.use``). The case was loaded through the scoped loader."""
    if not may_see_work(actor):
        return None
    case_notes = notes.notes_for(case)
    history = contact_history(case, case_notes)
    promises = notes.promises_for(case)
    apps = list(
        db.session.scalars(
            select(Application).where(Application.case_id == case.id).order_by(Application.id.desc())
        )
    )
    files = attachments.list_for(actor, case)
    letters = letter_service.letters_for(case)
    people = person_names(
        actor,
        [n.author_user_id for n in case_notes]
        + [c.user_id for c in history]
        + [p.collector_user_id for p in promises]
        + [a.requested_by_id for a in apps]
        + [f.uploaded_by_id for f in files]
        + [letter.generated_by_id for letter in letters],
    )
    agencies = other_agencies(
        actor,
        [n.agency_org_id for n in case_notes]
        + [p.agency_org_id for p in promises]
        + [a.agency_org_id for a in apps],
    )
    labels = code_labels(actor, {n.agency_org_id or n.org_id for n in case_notes})
    holder = case.agency_org_id or case.org_id
    loan_no, debtor = case.loan_no, masking.name(case.debtor.name)
    work = CaseWork()
    work.notes = [
        NoteRow(
            note=n,
            loan_no=loan_no,
            debtor=debtor,
            author=people.get(n.author_user_id, ""),
            agency=agencies.get(n.agency_org_id or 0, ""),
            action=str(notes.ACTION_LABELS.get(n.action, n.action.value)),
            party=str(notes.PARTY_LABELS.get(n.party, n.party.value)),
            result=result_label(labels, n.agency_org_id or n.org_id, n.result_code),
        )
        for n in case_notes
    ]
    note_orgs = {n.id: n.agency_org_id or n.org_id for n in case_notes}
    parties = {p.value: str(label) for p, label in notes.PARTY_LABELS.items()}
    work.contacts = [
        {
            "at": c.at,
            "channel": str(CHANNEL_LABELS.get(c.channel, c.channel)),
            "person": people.get(c.user_id or 0, ""),
            "party": parties.get(c.party or "", ""),
            "result": result_label(labels, note_orgs.get(c.note_id or 0, holder), c.result)
            if c.result
            else "",
            "text": c.text,
            "contacted": c.contacted,
            "duration_s": c.duration_s,
        }
        for c in history
    ]
    work.promises = [
        PromiseRow(
            promise=p,
            loan_no=loan_no,
            debtor=debtor,
            collector=people.get(p.collector_user_id, ""),
            agency=agencies.get(p.agency_org_id or 0, ""),
            status=str(notes.PROMISE_LABELS.get(p.status, p.status.value)),
        )
        for p in promises
    ]
    work.applications = _application_rows(actor, [(a, loan_no, case.debtor.name) for a in apps])
    work.attachments = [(f, str(ATTACHMENT_KIND_LABELS.get(f.kind, f.kind))) for f in files]
    names = _template_names(actor, case, {letter.template_id for letter in letters})
    work.letters = [
        {
            "letter": letter,
            "template": names.get(letter.template_id, ""),
            "by": people.get(letter.generated_by_id, ""),
        }
        for letter in letters
    ]
    return work


def _template_names(actor: User, case: Case, ids: set[int]) -> dict[int, str]:
    """The names of the owner's letter templates the case's letters came from (an agency reads
    them across the wall, by these ids and the case owner's id only)."""
    if not ids:
        return {}
    stmt = select(LetterTemplate.id, LetterTemplate.name).where(
        LetterTemplate.org_id == case.org_id, LetterTemplate.id.in_(ids)
    )
    if actor.org_id == case.org_id:
        return dict(db.session.execute(stmt).all())
    with cross_tenant("an agency reads the names of the owner's templates its letters came from"):
        return dict(db.session.execute(stmt).all())


# --- result codes (the settings page) ----------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRow:
    code: str
    label: str  # as the note form shows it
    default_label: str  # the built-in label ("" for the organisation's own codes)
    own_label: str  # the organisation's label ("" when it keeps the built-in one)
    contacted: bool
    active: bool
    position: int
    builtin: bool
    changed: bool  # a built-in code the organisation changed


def result_code_rows(actor: User) -> list[CodeRow]:
    """The organisation's result codes as its settings page lists them: the built-in ones with its
    changes, then its own, in the order the note form offers them."""
    require(actor, "org.settings.manage")
    own = {r.code: r for r in db.session.scalars(select(ResultCode).where(ResultCode.org_id == actor.org_id))}
    defaults = {d.code: d for d in notes.DEFAULT_CODES}
    out = []
    for code in notes.result_codes(actor.org_id):
        builtin = defaults.get(code.code)
        row = own.get(code.code)
        default_label = str(builtin.label) if builtin else ""
        own_label = row.label if row is not None else ""
        out.append(
            CodeRow(
                code=code.code,
                label=str(code.label),
                default_label=default_label,
                own_label="" if builtin and own_label == default_label else own_label,
                contacted=code.contacted,
                active=code.active,
                position=code.position,
                builtin=builtin is not None,
                changed=builtin is not None
                and row is not None
                and (
                    (row.label and row.label != default_label)
                    or row.contacted != builtin.contacted
                    or row.active != builtin.active
                    or row.position != builtin.position
                ),
            )
        )
    return out


def builtin_label(code: str) -> str | None:
    found = next((d for d in notes.DEFAULT_CODES if d.code == code), None)
    return str(found.label) if found else None


__all__ = [
    "IN_HOUSE",
    "ApplicationFilter",
    "NoteFilter",
    "Page",
    "PromiseFilter",
    "application_detail",
    "applications_page",
    "case_work",
    "inbox_count",
    "inbox_page",
    "notes_page",
    "promises_page",
    "result_code_rows",
    "stage_path",
]
