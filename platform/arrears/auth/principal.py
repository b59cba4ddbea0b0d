"""The acting user: permission checks used by every view, API and service."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g
from flask_babel import gettext as _
from flask_login import current_user

from arrears.auth.models import User
from arrears.errors import PermissionDenied
from arrears.extensions import db
from arrears.kernel.jobs.runner import JobContext
from arrears.tenancy.models import OrgKind

F = TypeVar("F", bound=Callable[..., Any])


def can(user: User | None, permission: str) -> bool:
    return bool(
        user is not None and getattr(user, "is_authenticated", False) and permission in user.permissions
    )


def require(user: User, permission: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` holds ``permission`` (for services)."""
    if not can(user, permission):
        raise PermissionDenied(_("You do not have the permission for this action."))


def started_by(job: JobContext) -> User | None:
    """The user who started ``job`` (``None`` for the schedule or the CLI, or a user since deleted)."""
    return db.session.get(User, job.created_by_id) if job.created_by_id else None


def acting_user() -> User | None:
    """The user of this request, whether they came with a session cookie or a bearer token."""
    user = getattr(g, "api_user", None)
    if user is not None:
        return user
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def permission_required(*permissions: str, kinds: Iterable[OrgKind] | None = None) -> Callable[[F], F]:
    """The one decorator for views and API routes: the user holds every permission named (and, if
    given, belongs to one of ``kinds``). Unauthenticated requests were already turned away by the
    blueprint's login check; a missing right is 403 (the object, if any, is loaded after this)."""

    allowed_kinds = frozenset(kinds) if kinds else None

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = acting_user()
            if user is None:
                abort(401)
            if allowed_kinds is not None and user.org.kind not in allowed_kinds:
                abort(404)
            for permission in permissions:
                if not can(user, permission):
                    abort(403)
            return view(*args, **kwargs)

        wrapped.required_permissions = permissions  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
