"""Scoped loaders of cases (wall 1): a case in the reader's case scope, an owner's debtor, an import
batch. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.cases.models import Case, Debtor, ImportBatch
from arrears.cases.scopes import case_scope
from arrears.errors import NotFound
from arrears.tenancy.loaders import one
from arrears.tenancy.models import OrgKind


def get_case_for(actor: User, case_id: Any) -> Case:
    """A case the actor may see: the owner's own; an agency's while placed with it; inside the
    organisation, narrowed to one's team or one's own cases (``cases.scopes``)."""

    return one(Case, actor, case_id, case_scope(actor))


def get_debtor_for(actor: User, debtor_id: Any) -> Debtor:
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    return one(Debtor, actor, debtor_id, Debtor.org_id == actor.org_id)


def get_import_batch_for(actor: User, batch_id: Any) -> ImportBatch:
    return one(ImportBatch, actor, batch_id, ImportBatch.org_id == actor.org_id)


def in_case_scope(actor: User, case_id_column: Any) -> Any:
    """Work on a case is visible while the case is: its ``case_id`` within the actor's case scope."""

    return case_id_column.in_(select(Case.id).where(case_scope(actor)))
