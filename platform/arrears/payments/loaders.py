"""Scoped loader of repayments (wall 1): the owner's own, an agency's credited to it, a collector's
credited to them. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from arrears.auth.models import User
from arrears.errors import NotFound, PermissionDenied
from arrears.payments.models import Repayment
from arrears.payments.records import scope
from arrears.tenancy.loaders import one


def get_repayment_for(actor: User, repayment_id: Any) -> Any:
    """A repayment the reader may see: the owner's own; an agency's credited to it (with
    ``repayments.view``); a collector's credited to them. Otherwise, like a missing one, 404."""

    try:
        condition = scope(actor)
    except PermissionDenied:
        raise NotFound(_("Not found.")) from None
    return one(Repayment, actor, repayment_id, condition)
