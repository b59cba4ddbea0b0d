"""What every console blueprint shares: the login and organisation-kind gate, and navigation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, g, redirect, request, url_for
from flask_login import current_user

from arrears.tenancy.models import OrgKind


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # lazy string
    permission: str | None = None
    icon: str = ""
    # A number shown beside the label (reminders due, requests waiting): called with the signed-in
    # user on each page of the console; ``None`` or 0 shows nothing.
    badge: Callable[[Any], int | None] | None = None


def console_blueprint(
    name: str,
    import_name: str,
    *,
    kinds: Iterable[OrgKind],
    title: object,
    nav: list[NavItem],
    permission: str | None = None,
    template_folder: str | None = "templates",
) -> Blueprint:
    """A blueprint whose every view needs a signed-in user of one of ``kinds`` (and ``permission``).
    A user of another kind gets 404: the console does not exist for them."""
    bp = Blueprint(name, import_name, template_folder=template_folder)
    # page modules shared by several consoles (``arrears.web.allocation``) add their entries here
    bp.console_nav = nav  # type: ignore[attr-defined]
    allowed = frozenset(kinds)

    @bp.before_request
    def _gate():
        if not current_user.is_authenticated:
            return redirect(url_for("web.login", next=request.full_path if request.method == "GET" else None))
        if current_user.org.kind not in allowed:
            abort(404)
        if permission and not current_user.can(permission):
            abort(404)
        g.console = bp.name
        return None

    @bp.context_processor
    def _nav() -> dict[str, object]:
        items = [i for i in nav if i.permission is None or current_user.can(i.permission)]
        badges = {i.endpoint: i.badge(current_user) for i in items if i.badge is not None}
        return {
            "console_nav": items,
            "console_badges": {k: v for k, v in badges.items() if v},
            "console_title": title,
            "console_name": bp.name,
        }

    return bp


def home_endpoint_for(user) -> str:
    """Where a user lands after login, by organisation kind and rights."""
    kind = user.org.kind
    if kind == OrgKind.PLATFORM:
        return "admin.home"
    if kind == OrgKind.ASSET_OWNER:
        return "asset_console.home"
    if user.can("org.users.view") or user.can("cases.dispatch") or user.can("agency.teams.manage"):
        return "agency_console.home"
    if user.can("workbench.use"):
        return "agent_workbench.home"
    return "web.profile"
