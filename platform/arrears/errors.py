"""Domain errors raised by services; mapped to HTTP in one place (``arrears.web.errors``)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. ``message`` is user-facing and already translated (or lazily translatable)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: Any = "", *, field: str | None = None, details: Any = None) -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.details = details


class NotFound(DomainError):
    """Missing or not yours: the same answer for both (never 403 for foreign objects)."""

    status = 404
    code = "not_found"


class PermissionDenied(DomainError):
    """You may see the object but not do this to it."""

    status = 403
    code = "forbidden"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class AuthenticationFailed(DomainError):
    status = 401
    code = "unauthorized"


class Throttled(DomainError):
    status = 429
    code = "too_many_attempts"
