"""What every console blueprint shares: the login and organisation-kind gate, and navigation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, request, url_for
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
    # domain pages nested in several consoles add their entries here (``add_nav``)
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


# --- domain pages nested in the consoles ------------------------------------------------------------

_NESTED: dict[str, list[str]] = {}  # console -> the names of the domain blueprints nested in it


def nest(console: Blueprint, pages: Blueprint) -> None:
    """Nest a domain's pages in ``console`` (Flask's nested blueprints): the console's gate, context
    and URL prefix apply to them, and their endpoints are ``<console>.<pages>.<view>``."""
    console.register_blueprint(pages)
    _NESTED.setdefault(console.name, []).append(pages.name)


def add_nav(
    console: Blueprint, pages: Blueprint, items: Sequence[NavItem], *, before: str | None = None
) -> None:
    """Put ``items`` (endpoints of ``pages``' views, e.g. ``"runs"``) in the console's navigation,
    before the entry ``before`` (an endpoint below the console, e.g. ``"approvals.approvals"``) or last."""
    nav: list[NavItem] = console.console_nav  # type: ignore[attr-defined]
    full = [replace(item, endpoint=f"{console.name}.{pages.name}.{item.endpoint}") for item in items]
    wanted = f"{console.name}.{before}" if before else None
    at = next((i for i, item in enumerate(nav) if item.endpoint == wanted), len(nav))
    nav[at:at] = full


def ep(endpoint: str) -> str:
    """The full endpoint of the view ``endpoint`` in the console of the request: the console's own, or
    one of the domain pages nested in it (``ep("users")`` is ``asset_console.orgs.users`` in the
    asset console). An unknown view comes back as ``<console>.<endpoint>``: ``url_for`` names it."""
    console = g.get("console") or (request.blueprints[-1] if request.blueprints else "")
    views = current_app.view_functions
    for candidate in (
        f"{console}.{endpoint}",
        *(f"{console}.{child}.{endpoint}" for child in _NESTED.get(console, ())),
    ):
        if candidate in views:
            return candidate
    return f"{console}.{endpoint}"


def has_view(endpoint: str) -> bool:
    """Whether the console of the request has the view ``endpoint`` (its own or a nested one)."""
    return ep(endpoint) in current_app.view_functions
