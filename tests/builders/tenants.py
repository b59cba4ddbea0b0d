"""Tenants and their people: organisations of each kind with an admin and built-in roles, the
partnerships between owners and agencies, the standard world of two of each, and more users."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arrears.models import User

# Every user the builders make signs in with this password.
PASSWORD = "Test-Pass-2026!"


@dataclass
class Tenant:
    """An organisation made by :func:`make_tenant`, with the ids and emails of its people."""

    org_id: int
    slug: str
    kind: str
    admin_id: int
    admin_email: str
    users: dict[str, int] = field(default_factory=dict)  # role key -> user id
    emails: dict[str, str] = field(default_factory=dict)  # role key -> email


def make_tenant(kind: str, slug: str, extra_roles: tuple[str, ...] = ()) -> Tenant:
    """An organisation of ``kind`` (``platform``, ``asset_owner``, ``agency``) with its admin
    (``admin@<slug>.test.example``) and one user per built-in role key of ``extra_roles``
    (``<key>@<slug>.test.example``), all with :data:`PASSWORD`."""
    from sqlalchemy import select

    from arrears.extensions import db
    from arrears.models import Organisation, User
    from arrears.orgs import orgs, roles, users
    from arrears.tenancy import tenant

    admin_email = f"admin@{slug}.test.example"
    org = orgs.create_organisation(
        None,
        kind=kind,
        slug=slug,
        name=f"Org {slug}",
        admin_email=admin_email,
        admin_name=f"Admin {slug}",
        admin_password=PASSWORD,
    )
    org = db.session.get(Organisation, org.id)
    with tenant(org.id, org.kind):
        admin = db.session.scalar(select(User).where(User.email == admin_email))
        result = Tenant(org.id, slug, kind, admin.id, admin_email)
        result.users["admin"], result.emails["admin"] = admin.id, admin_email
        for key in extra_roles:
            email = f"{key}@{slug}.test.example"
            role = roles.builtin_role(org, key)
            user = users.create_user(
                None, org=org, email=email, name=f"{key} of {slug}", password=PASSWORD, role_ids=[role.id]
            )
            result.users[key], result.emails[key] = user.id, email
    return result


def partner(owner: Tenant, agency: Tenant, grants: list[str] | None = None) -> int:
    """The owner partners with the agency from 2026-01-01, granting ``grants``; the partnership's id."""
    from arrears.extensions import db
    from arrears.models import Partnership
    from arrears.tenancy import tenant

    with tenant(owner.org_id):
        p = Partnership(
            org_id=owner.org_id,
            agency_org_id=agency.org_id,
            starts_on=dt.date(2026, 1, 1),
            grants=grants or [],
        )
        db.session.add(p)
        db.session.commit()
        return p.id


@dataclass
class World:
    """Two tenants of each kind (and the operator), partnered in pairs: see :func:`build_world`."""

    platform: Tenant
    bank: Tenant  # victim asset owner
    lender: Tenant  # another asset owner
    east: Tenant  # agency partnered with bank
    west: Tenant  # agency partnered with lender only
    bank_east: int
    lender_west: int


def build_world() -> World:
    """The platform operator; asset owners ``bank`` and ``lender`` (each with owner staff); agencies
    ``east`` and ``west`` (each with a team lead, a collector and a field visitor); bank partnered
    with east and lender with west, both granting field visits."""
    platform = make_tenant("platform", "plat")
    bank = make_tenant("asset_owner", "bank", ("owner_staff",))
    lender = make_tenant("asset_owner", "lender", ("owner_staff",))
    east = make_tenant("agency", "east", ("team_lead", "collector", "field_visitor"))
    west = make_tenant("agency", "west", ("team_lead", "collector", "field_visitor"))
    return World(
        platform,
        bank,
        lender,
        east,
        west,
        bank_east=partner(bank, east, ["field.visit"]),
        lender_west=partner(lender, west, ["field.visit"]),
    )


def get_user(user_id: int) -> User:
    """The user with this id, from the session (inside the tenant that sees them)."""
    from arrears.extensions import db
    from arrears.models import User

    return db.session.get(User, user_id)


def new_user(org_id: int, role_key: str, email: str, name: str | None = None) -> int:
    """One more user of the organisation with the built-in role ``role_key`` and :data:`PASSWORD`,
    named ``name`` (by default the email's local part); their id."""
    from arrears.extensions import db
    from arrears.models import Organisation
    from arrears.orgs import roles, users
    from arrears.tenancy import tenant

    org = db.session.get(Organisation, org_id)
    with tenant(org.id, org.kind):
        role = roles.builtin_role(org, role_key)
        return users.create_user(
            None,
            org=org,
            email=email,
            name=email.split("@")[0] if name is None else name,
            password=PASSWORD,
            role_ids=[role.id],
        ).id


def other_collector(world: World) -> str:
    """A second collector of east (``other-collector@east.test.example``, holding no case); their email."""
    email = "other-collector@east.test.example"
    new_user(world.east.org_id, "collector", email, "Other")
    return email
