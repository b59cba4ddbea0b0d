"""The request at hand, as the pages read it: who is signed in and which page of a list is asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import request
from flask_login import current_user

if TYPE_CHECKING:
    from arrears.auth.models import User


def current_actor() -> User:
    """The signed-in user (the object itself, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def page_number() -> int:
    """``?page=`` of a paginated list, 1 when absent or nonsense."""
    return max(1, request.args.get("page", 1, type=int) or 1)
