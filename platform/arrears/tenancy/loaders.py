"""Wall 1: scoped loaders. Every lookup by id from a view or an API goes through a
domain's ``loaders`` module (``arrears.cases.loaders.get_case_for``...), built on ``one`` here.

Each loader asks the database for the object *and* the caller's right to see it in one query (the
ORM criteria of wall 2 already narrow it to the tenant; the loader adds the finer rule, such as
"an agency opens only its own partnerships"), then asserts the result. Missing and foreign objects
get the same ``NotFound``: a 404 never confirms that somebody else's object exists.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.errors import NotFound
from arrears.extensions import db

T = TypeVar("T")


class Reader(Protocol):
    """Who asks: a signed-in user (``auth.models.User``); a loader needs their organisation."""

    org_id: int


def coerce_id(raw: Any) -> int:
    """An id from a path, a query string or a body: a positive integer that fits the column, else
    ``NotFound`` (not a 400: a bad id is a missing object)."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise NotFound(_("Not found."))
    if value <= 0 or value > 2**62:
        raise NotFound(_("Not found."))
    return value


def one(model: type[T], actor: Reader, raw_id: Any, *conditions: Any, id_is_text: bool = False) -> T:
    """The ``model`` row with this id that also meets ``conditions`` (the reader's finer rule), or
    ``NotFound``, the same for a missing row and for a foreign one. ``id_is_text``: the id column is
    text (a job's uuid), used as given."""
    obj_id = raw_id if id_is_text else coerce_id(raw_id)
    obj = db.session.scalar(select(model).where(model.id == obj_id, *conditions))  # type: ignore[attr-defined,arg-type]
    if obj is None:
        raise NotFound(_("Not found."))
    tenant_ids = obj.tenant_ids() if hasattr(obj, "tenant_ids") else set()
    if tenant_ids and actor.org_id not in tenant_ids:  # belt and braces: wall 2 did this already
        raise NotFound(_("Not found."))
    return obj
