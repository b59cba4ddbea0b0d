"""Scoped loaders of collection work (wall 1): attachments, calls and applications on cases in the
reader's case scope (or, an application, waiting for the reader's decision), an owner's letter
templates. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.cases.loaders import in_case_scope
from arrears.cases.models import Case
from arrears.cases.scopes import case_scope
from arrears.errors import NotFound
from arrears.extensions import db
from arrears.orgs.approvals import may_decide
from arrears.orgs.models import Approval
from arrears.tenancy.loaders import one
from arrears.work.models import Application, Attachment, Call, LetterTemplate


def get_attachment_for(actor: User, attachment_id: Any) -> Any:
    """A file on a case in the actor's scope. The walls already hide another agency's files on the
    same case (an attachment is the owner's and the uploading agency's, nobody else's)."""

    return one(Attachment, actor, attachment_id, in_case_scope(actor, Attachment.case_id))


def get_call_for(actor: User, call_id: Any) -> Any:
    """A call on a case in the actor's scope (an agency sees only its own people's calls)."""

    return one(Call, actor, call_id, in_case_scope(actor, Call.case_id))


def get_letter_template_for(actor: User, template_id: Any) -> Any:
    """An owner's own letter template (agencies read them only through ``work.letters``)."""

    return one(LetterTemplate, actor, template_id, LetterTemplate.org_id == actor.org_id)


def get_application_for(actor: User, application_id: Any) -> Application:
    """An application (申请) on a case in the actor's case scope, or one waiting for the actor's
    decision at its current stage. Walls 2 and 3 already narrow it to the case's owner and the agency
    that made it (never another agency's on the same case)."""

    application = one(Application, actor, application_id)
    if (
        db.session.scalar(select(Case.id).where(Case.id == application.case_id, case_scope(actor)))
        is not None
    ):
        return application
    approval = db.session.get(Approval, application.approval_id) if application.approval_id else None
    if approval is not None and may_decide(actor, approval):
        return application
    raise NotFound(_("Not found."))
