"""Letters (信函): an owner's templates with placeholders, rendered for a case into a PDF.

Templates belong to the asset owner (``letters.templates.manage``). A body is a Jinja template run in
a ``SandboxedEnvironment`` with ``StrictUndefined``: it is compiled, its names checked against
``PLACEHOLDERS`` and rendered once with sample values when it is saved, so a broken template is
refused with the reason instead of failing on a case.

Generating a letter for a case (the case in the actor's scope; an agency also needs the owner's grant
of ``letters.send`` in the partnership) renders the owner's template with the case's figures and the
debtor's address (decrypted only here, and the generation is audited), draws a PDF with reportlab
(Chinese through reportlab's built-in CID font STSong-Light: no font file, works offline), stores it
as the case's attachment (kind ``letter``), and records a ``Letter`` and a collection note (action
letter, party debtor, result ``letter_sent``, not a contact), in one transaction.

Bulk generation is a job (``work.letters``): every case in the actor's scope gets its letter, the
others are reported with the reason; a case gets one letter per job however often it runs.
"""

from __future__ import annotations

import io
import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.cases.cases import owners_granting
from arrears.cases.models import Case
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, documents
from arrears.kernel.clock import business_date
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job, name_of
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.money import format_amount
from arrears.kernel.transaction import transaction
from arrears.orgs.loaders import get_job_for
from arrears.tenancy import cross_tenant, current_org_id
from arrears.tenancy.models import Organisation, OrgKind
from arrears.work import attachments as attachment_service
from arrears.work.models import CollectionNote, ContactParty, Letter, LetterTemplate, NoteAction
from arrears.work.notes import worked_case

GRANT = "letters.send"
RESULT_CODE = "letter_sent"
MAX_BULK = 5000

# Every name a template may use, in one place (the editor lists them, saving checks against them).
PLACEHOLDERS: dict[str, Any] = {
    "debtor_name": _l("Debtor's name"),
    "loan_no": _l("Loan number"),
    "product": _l("Product"),
    "principal": _l("Principal outstanding"),
    "interest": _l("Interest"),
    "penalty": _l("Penalty"),
    "fee": _l("Fees"),
    "outstanding": _l("Total outstanding"),
    "due_date": _l("Due date"),
    "days_past_due": _l("Days past due"),
    "owner_name": _l("The lender's name"),
    "today": _l("Today's date"),
    "address": _l("Debtor's address (home, else work)"),
}
SAMPLE: dict[str, Any] = {
    "debtor_name": "张三",
    "loan_no": "LN-2026-000123",
    "product": "消费贷",
    "principal": "10,000.00",
    "interest": "350.00",
    "penalty": "120.50",
    "fee": "30.00",
    "outstanding": "10,500.50",
    "due_date": "2026-01-15",
    "days_past_due": 45,
    "owner_name": "示例银行",
    "today": "2026-03-01",
    "address": "北京市朝阳区示例路1号",
}


# --- templates -------------------------------------------------------------------------------------


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _compile(source: str, field: str) -> Any:
    env = _environment()
    try:
        parsed = env.parse(source)
    except TemplateSyntaxError as exc:
        raise ValidationFailed(
            _("The template has an error on line %(line)d: %(reason)s", line=exc.lineno, reason=exc.message),
            field=field,
        )
    unknown = sorted(meta.find_undeclared_variables(parsed) - set(PLACEHOLDERS))
    if unknown:
        raise ValidationFailed(
            _(
                "Unknown placeholders: %(names)s. Use only: %(known)s.",
                names=", ".join(unknown),
                known=", ".join(PLACEHOLDERS),
            ),
            field=field,
        )
    template = env.from_string(source)
    try:
        template.render(SAMPLE)
    except TemplateError as exc:  # a sandbox refusal or a filter misused, found with sample values
        raise ValidationFailed(
            _("The template cannot be filled in: %(reason)s", reason=str(exc)), field=field
        )
    return template


def preview(subject: str, body: str) -> dict[str, str]:
    """The subject and body filled in with sample values (the editor's preview)."""
    return {
        "subject": _compile(subject or "", "subject").render(SAMPLE),
        "body": _compile(body or "", "body").render(SAMPLE),
    }


def _clean(name: str, subject: str, body: str) -> tuple[str, str, str]:
    name = (name or "").strip()
    subject = (subject or "").strip()
    body = (body or "").replace("\r\n", "\n")
    if not name:
        raise ValidationFailed(_("Give the template a name."), field="name")
    if len(name) > 120:
        raise ValidationFailed(_("The name is at most 120 characters."), field="name")
    if len(subject) > 200:
        raise ValidationFailed(_("The subject is at most 200 characters."), field="subject")
    if not body.strip():
        raise ValidationFailed(_("Write the letter's text."), field="body")
    if len(body) > 20_000:
        raise ValidationFailed(_("The text is at most 20,000 characters."), field="body")
    _compile(subject, "subject")
    _compile(body, "body")
    return name, subject, body


def _name_taken(actor: User, name: str, template_id: int | None) -> None:
    stmt = select(LetterTemplate.id).where(LetterTemplate.org_id == actor.org_id, LetterTemplate.name == name)
    if template_id is not None:
        stmt = stmt.where(LetterTemplate.id != template_id)
    if db.session.scalar(stmt) is not None:
        raise ValidationFailed(_("A template with this name exists already."), field="name")


def _manager(actor: User) -> None:
    require(actor, "letters.templates.manage")
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise PermissionDenied(_("You do not have the permission for this action."))


def list_templates(actor: User, *, archived: bool = False) -> list[LetterTemplate]:
    """The owner's templates (active ones, or the archived ones), by name."""
    _manager(actor)
    return list(
        db.session.scalars(
            select(LetterTemplate)
            .where(LetterTemplate.org_id == actor.org_id, LetterTemplate.active.is_(not archived))
            .order_by(LetterTemplate.name, LetterTemplate.id)
        )
    )


def create_template(actor: User, *, name: str, subject: str = "", body: str) -> LetterTemplate:
    _manager(actor)
    name, subject, body = _clean(name, subject, body)
    with transaction():
        _name_taken(actor, name, None)
        template = LetterTemplate(
            org_id=actor.org_id, name=name, subject=subject, body=body, created_by_id=actor.id
        )
        db.session.add(template)
        db.session.flush()
        audit.record("letter_template.created", actor=actor, target=template, details={"name": name})
    return template


def update_template(
    actor: User,
    template: LetterTemplate,
    *,
    name: str,
    subject: str = "",
    body: str,
    active: bool | None = None,
) -> LetterTemplate:
    _manager(actor)
    if template.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    name, subject, body = _clean(name, subject, body)
    with transaction():
        _name_taken(actor, name, template.id)
        changed = [
            f
            for f, new in (("name", name), ("subject", subject), ("body", body), ("active", active))
            if new is not None and getattr(template, f) != new
        ]
        template.name, template.subject, template.body = name, subject, body
        if active is not None:
            template.active = active
        audit.record("letter_template.updated", actor=actor, target=template, details={"changed": changed})
    return template


def archive_template(actor: User, template: LetterTemplate) -> LetterTemplate:
    """Archived templates are kept (letters name them) but offered no more."""
    _manager(actor)
    if template.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    with transaction():
        template.active = False
        audit.record("letter_template.archived", actor=actor, target=template)
    return template


def _owner_templates(owner_id: int) -> Any:
    """Select the owner's active templates. An agency reads them across the tenant wall, only through
    the named escape hatch and only the owner's (the explicit ``org_id`` filter)."""
    return (
        select(LetterTemplate)
        .where(LetterTemplate.org_id == owner_id, LetterTemplate.active.is_(True))
        .order_by(LetterTemplate.name, LetterTemplate.id)
    )


def _read_owner_templates(owner_id: int, template_id: int | None = None) -> list[LetterTemplate]:
    stmt = _owner_templates(owner_id)
    if template_id is not None:
        stmt = stmt.where(LetterTemplate.id == template_id)
    if current_org_id() == owner_id:
        return list(db.session.scalars(stmt))
    with cross_tenant("an agency generates letters from the owner's templates"):
        return list(db.session.scalars(stmt))


def templates_for_case(actor: User, case: Case) -> list[LetterTemplate]:
    """The templates offered on a case page: the case owner's active ones, when the actor may send
    letters on it; else none."""
    if not may_send(actor, case):
        return []
    return _read_owner_templates(case.org_id)


def templates_for_actor(actor: User) -> list[tuple[LetterTemplate, str]]:
    """Every template the actor may send letters from, with its owner's name (the bulk letters form
    of the case list): the own organisation's for an owner's people; for an agency's, those of the
    owners that grant it letters. One query."""
    if not actor.can("workbench.use"):
        return []
    owners = {actor.org_id} if actor.org.kind == OrgKind.ASSET_OWNER else owners_granting(actor, GRANT)
    if not owners:
        return []
    stmt = (
        select(LetterTemplate, Organisation.name)
        .join(Organisation, Organisation.id == LetterTemplate.org_id)
        .where(LetterTemplate.org_id.in_(owners), LetterTemplate.active.is_(True))
        .order_by(Organisation.name, LetterTemplate.name, LetterTemplate.id)
    )
    if owners == {current_org_id()}:
        return [(t, name) for t, name in db.session.execute(stmt)]
    with cross_tenant("an agency lists the letter templates of the owners that let it send letters"):
        return [(t, name) for t, name in db.session.execute(stmt)]


def may_send(actor: User, case: Case) -> bool:
    if not actor.can("workbench.use"):
        return False
    if actor.org.kind == OrgKind.ASSET_OWNER:
        return case.org_id == actor.org_id
    return case.org_id in owners_granting(actor, GRANT)


def _template_id(raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value <= 0 or value > 2**62:
        raise ValidationFailed(_("Choose one of the lender's letter templates."), field="template_id")
    return value


# --- rendering -------------------------------------------------------------------------------------


def context_for(case: Case, owner: Organisation) -> dict[str, Any]:
    """The placeholders' values for a case. The address is decrypted here, for the letter only."""
    today = business_date(owner)
    debtor = case.debtor
    return {
        "debtor_name": debtor.name,
        "loan_no": case.loan_no,
        "product": case.product,
        "principal": format_amount(case.principal),
        "interest": format_amount(case.interest),
        "penalty": format_amount(case.penalty),
        "fee": format_amount(case.fee),
        "outstanding": format_amount(case.outstanding),
        "due_date": case.due_date.isoformat(),
        "days_past_due": case.days_past_due(today),
        "owner_name": owner.name,
        "today": today.isoformat(),
        "address": debtor.home_address or debtor.work_address or "",
    }


def render_pdf(subject: str, body: str, *, title: str = "") -> bytes:
    """An A4 letter: the subject as a heading, then the body's paragraphs (blank lines apart)."""

    font = documents.font()
    heading = ParagraphStyle("heading", fontName=font, fontSize=15, leading=22, alignment=1, wordWrap="CJK")
    normal = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK")
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=22 * mm,
        bottomMargin=22 * mm,
        title=title or subject,
        creator="arrears",
    )
    story: list[Any] = []
    if subject:
        story += [Paragraph(documents.markup(subject), heading), Spacer(1, 6 * mm)]
    for block in re.split(r"\n\s*\n", body.strip()):
        story += [Paragraph(documents.markup(block), normal), Spacer(1, 3 * mm)]
    doc.build(story)
    return out.getvalue()


# --- generating ------------------------------------------------------------------------------------


def generate(actor: User, case_id: Any, template_id: Any, *, job_id: str | None = None) -> Letter:
    """One letter for one case the actor works, from one of the case owner's templates."""
    case = worked_case(actor, case_id)
    if not may_send(actor, case):
        raise PermissionDenied(_("The lender has not allowed your agency to send letters on its cases."))
    wanted = _template_id(template_id)
    found = _read_owner_templates(case.org_id, wanted)
    if not found:
        raise ValidationFailed(_("Choose one of the lender's letter templates."), field="template_id")
    template = found[0]
    owner = db.session.get(Organisation, case.org_id)
    assert owner is not None
    values = context_for(case, owner)
    try:
        subject = _environment().from_string(template.subject or "").render(values)
        body = _environment().from_string(template.body).render(values)
    except TemplateError as exc:
        raise ValidationFailed(
            _("The template cannot be filled in: %(reason)s", reason=str(exc)), field="template_id"
        )
    data = render_pdf(subject, body, title=template.name)
    file_type = attachment_service.TYPES["pdf"]
    key = attachment_service.new_key(case, file_type)
    filename = attachment_service.clean_filename(f"{case.loan_no}-{template.name}.pdf")
    with attachment_service.stored(key, data, file_type.content_type), transaction():
        attachment = attachment_service.store(
            actor, case, key=key, filename=filename, data=data, kind="letter", file_type=file_type
        )
        note = CollectionNote(
            org_id=case.org_id,
            case_id=case.id,
            agency_org_id=attachment.agency_org_id,
            author_user_id=actor.id,
            action=NoteAction.LETTER,
            party=ContactParty.DEBTOR,
            result_code=RESULT_CODE,
            contacted=False,
            text=subject or template.name,
            created_at=utcnow(),
        )
        db.session.add(note)
        db.session.flush()
        letter = Letter(
            org_id=case.org_id,
            case_id=case.id,
            agency_org_id=attachment.agency_org_id,
            template_id=template.id,
            generated_by_id=actor.id,
            attachment_id=attachment.id,
            note_id=note.id,
            job_id=job_id,
        )
        db.session.add(letter)
        db.session.flush()
        audit.record(
            "letter.generated",
            actor=actor,
            target=letter,
            details={
                "case_id": case.id,
                "template_id": template.id,
                "attachment_id": attachment.id,
                "address_decrypted": bool(values["address"]),
                "job_id": job_id,
            },
        )
    return letter


def letters_for(case: Case) -> list[Letter]:
    """The letters on a case the reader sees (an agency: its own), newest first."""
    return list(
        db.session.scalars(select(Letter).where(Letter.case_id == case.id).order_by(Letter.id.desc()))
    )


def _case_ids(raw: Any) -> list[int]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationFailed(_("Choose at least one case."), field="case_ids")
    ids: list[int] = []
    for value in raw:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationFailed(_("Case ids are whole numbers."), field="case_ids")
    ids = list(dict.fromkeys(i for i in ids if i > 0))
    if not ids:
        raise ValidationFailed(_("Choose at least one case."), field="case_ids")
    if len(ids) > MAX_BULK:
        raise ValidationFailed(_("At most %(n)d cases at once.", n=MAX_BULK), field="case_ids")
    return ids


def start_bulk(actor: User, case_ids: Any, template_id: Any) -> JobRecord:
    """Letters for a selection of cases, as a job; its result lists what was left out and why."""
    require(actor, "workbench.use")
    ids = _case_ids(case_ids)
    wanted = _template_id(template_id)
    owners = {actor.org_id} if actor.org.kind == OrgKind.ASSET_OWNER else owners_granting(actor, GRANT)
    with cross_tenant("check that a bulk letter's template is an owner's the actor may use"):
        owner_id = db.session.scalar(
            select(LetterTemplate.org_id).where(
                LetterTemplate.id == wanted,
                LetterTemplate.active.is_(True),
                LetterTemplate.org_id.in_(owners),
            )
        )
    if owner_id is None:
        raise ValidationFailed(_("Choose one of the lender's letter templates."), field="template_id")

    with transaction():
        record = enqueue(
            run_bulk_letters,
            name="letters",
            kwargs={"case_ids": ids, "template_id": wanted},
            created_by=actor,
            retries=2,
        )
        audit.record(
            "letter.bulk_started",
            actor=actor,
            target_type="job",
            target_id=record.id,
            details={"cases": len(ids), "template_id": wanted},
        )
    return record


# Why a case of a bulk selection got no letter (codes stored in the job's result, shown in words).
SKIP_REASONS: dict[str, Any] = {
    "not_found": _l("not one of your cases"),
    "not_allowed": _l("the lender does not allow your agency to send letters"),
    "template": _l("the template is not this case's lender's"),
    "failed": _l("the letter could not be made"),
}


def bulk_job_for(actor: User, job_id: Any) -> JobRecord:
    """A bulk letters job the actor started (404 for any other)."""
    record = get_job_for(actor, job_id)
    if record.func != name_of(run_bulk_letters) or record.created_by_id != actor.id:
        raise NotFound(_("Not found."))
    return record


def run_bulk(
    actor: User, job_id: str, case_ids: list[int], template_id: int, progress: Any = None
) -> dict[str, Any]:
    """The job's work: one transaction per case, so a retried job keeps what it did and does the
    rest (a case that has this job's letter is not done again)."""
    done = dict(
        db.session.execute(
            select(Letter.case_id, Letter.id).where(Letter.job_id == job_id, Letter.case_id.in_(case_ids))
        ).all()
    )
    letters: dict[int, int] = {int(k): int(v) for k, v in done.items()}
    skipped: list[dict[str, Any]] = []
    for n, case_id in enumerate(case_ids, 1):
        if case_id not in letters:
            try:
                letters[case_id] = generate(actor, case_id, template_id, job_id=job_id).id
            except NotFound:
                skipped.append({"case_id": case_id, "reason": "not_found"})
            except PermissionDenied:
                skipped.append({"case_id": case_id, "reason": "not_allowed"})
            except ValidationFailed as exc:
                reason = "template" if exc.field == "template_id" else "failed"
                skipped.append({"case_id": case_id, "reason": reason})
            except Conflict:
                skipped.append({"case_id": case_id, "reason": "failed"})
        if progress is not None and (n % 25 == 0 or n == len(case_ids)):
            progress(int(n * 100 / len(case_ids)), f"{n}/{len(case_ids)}")
    return {
        "generated": len(letters),
        "letters": [{"case_id": c, "letter_id": letters[c]} for c in case_ids if c in letters],
        "skipped": skipped,
    }


def skip_reason(code: str) -> str:
    return str(SKIP_REASONS.get(code, code))


@job("work.bulk-letters")
def run_bulk_letters(job: JobContext, case_ids: list[int], template_id: int) -> dict[str, Any]:
    """One letter per selected case, the cases left out reported with the reason."""
    actor = started_by(job)
    if actor is None or not actor.is_active:
        return {
            "generated": 0,
            "letters": [],
            "skipped": [{"case_id": c, "reason": "not_found"} for c in case_ids],
        }
    return run_bulk(actor, job.job_id, [int(c) for c in case_ids], int(template_id), progress=job.progress)
