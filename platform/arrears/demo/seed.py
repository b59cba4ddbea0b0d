"""The demo tenants (``flask --app wsgi seed-demo``): idempotent, safe to run again."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from arrears.auth.models import User, UserStatus
from arrears.auth.passwords import hash_password
from arrears.auth.permissions import DEFAULT_GRANTS
from arrears.demo.cases import seed_cases
from arrears.demo.commission import seed_commission
from arrears.demo.placements import seed_placements
from arrears.demo.work import seed_work
from arrears.demo.writeoffs import seed_writeoffs
from arrears.extensions import db
from arrears.kernel.transaction import transaction
from arrears.orgs import orgs, roles, users
from arrears.orgs.models import Partnership, PartnershipStatus, Team
from arrears.tenancy import cross_tenant, tenant
from arrears.tenancy.models import Organisation, OrgKind

DEFAULT_PASSWORD = "Demo-Pass-2026!"  # noqa: S105 (the demo tenants' published password)


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: str
    team: str | None = None


ORGS: list[tuple[str, str, OrgKind, list[DemoUser]]] = [
    (
        "platform",
        "Arrears Platform",
        OrgKind.PLATFORM,
        [
            DemoUser("operator@arrears.example", "平台运营 Platform Operator", "platform_operator"),
        ],
    ),
    (
        "demo-bank",
        "示范银行 Demo Bank",
        OrgKind.ASSET_OWNER,
        [
            DemoUser("admin@demo-bank.example", "王建国 Wang Jianguo", "owner_admin"),
            DemoUser("staff@demo-bank.example", "李娜 Li Na", "owner_staff"),
            # a second admin: placements need a checker other than the maker (委案审批)
            DemoUser("reviewer@demo-bank.example", "钱芳 Qian Fang", "owner_admin"),
        ],
    ),
    (
        "demo-lender",
        "示范消费金融 Demo Lender",
        OrgKind.ASSET_OWNER,
        [
            DemoUser("admin@demo-lender.example", "赵敏 Zhao Min", "owner_admin"),
            DemoUser("staff@demo-lender.example", "周杰 Zhou Jie", "owner_staff"),
            DemoUser("reviewer@demo-lender.example", "冯磊 Feng Lei", "owner_admin"),
        ],
    ),
    (
        "demo-agency-east",
        "华东催收 Demo Agency East",
        OrgKind.AGENCY,
        [
            DemoUser("manager@demo-agency-east.example", "陈刚 Chen Gang", "agency_manager"),
            DemoUser("lead@demo-agency-east.example", "刘洋 Liu Yang", "team_lead", "East team 1"),
            DemoUser("collector1@demo-agency-east.example", "张伟 Zhang Wei", "collector", "East team 1"),
            DemoUser("collector2@demo-agency-east.example", "孙丽 Sun Li", "collector", "East team 1"),
            DemoUser("field@demo-agency-east.example", "吴强 Wu Qiang", "field_visitor", "East team 1"),
        ],
    ),
    (
        "demo-agency-west",
        "西部催收 Demo Agency West",
        OrgKind.AGENCY,
        [
            DemoUser("manager@demo-agency-west.example", "郑海 Zheng Hai", "agency_manager"),
            DemoUser("lead@demo-agency-west.example", "何静 He Jing", "team_lead", "West team 1"),
            DemoUser("collector1@demo-agency-west.example", "马超 Ma Chao", "collector", "West team 1"),
            DemoUser("field@demo-agency-west.example", "林峰 Lin Feng", "field_visitor", "West team 1"),
        ],
    ),
]

CASES_PER_OWNER = 300

PARTNERSHIPS = [
    ("demo-bank", "demo-agency-east"),
    ("demo-lender", "demo-agency-east"),
    ("demo-bank", "demo-agency-west"),
]


def seed(password: str = DEFAULT_PASSWORD) -> dict[str, Any]:  # noqa: C901
    out_orgs: list[dict[str, str]] = []
    out_users: list[dict[str, str]] = []
    by_slug: dict[str, Organisation] = {}
    for slug, name, kind, people in ORGS:
        with cross_tenant("seed-demo looks for an existing demo tenant"):
            org = db.session.scalar(select(Organisation).where(Organisation.slug == slug))
        if org is None:
            first = people[0]
            org = orgs.create_organisation(
                None,
                kind=kind,
                slug=slug,
                name=name,
                admin_email=first.email,
                admin_name=first.name,
                admin_password=password,
            )
        by_slug[slug] = org
        out_orgs.append({"slug": slug, "kind": kind.value})
        with tenant(org.id, org.kind), transaction():
            roles.ensure_builtin_roles(org)
            teams: dict[str, Team] = {}
            for person in people:
                role = roles.builtin_role(org, person.role)
                user = db.session.scalar(select(User).where(User.email == person.email))
                if user is None:
                    user = users.create_user(
                        None,
                        org=org,
                        email=person.email,
                        name=person.name,
                        password=password,
                        role_ids=[role.id],
                    )
                else:  # make the printed password true again, re-enable, restore the role
                    user.password_hash = hash_password(password)
                    user.status = UserStatus.ACTIVE
                    if role not in user.roles:
                        user.set_roles([*user.roles, role])
                if person.team:
                    team = teams.get(person.team) or db.session.scalar(
                        select(Team).where(Team.name == person.team)
                    )
                    if team is None:
                        team = Team(name=person.team)
                        db.session.add(team)
                    teams[person.team] = team
                    user.team = team
                    if person.role == "team_lead":
                        team.lead = user
                out_users.append(
                    {"email": person.email, "password": password, "org": slug, "role": person.role}
                )
    for owner_slug, agency_slug in PARTNERSHIPS:
        owner, agency = by_slug[owner_slug], by_slug[agency_slug]
        with tenant(owner.id, owner.kind), transaction():
            exists = db.session.scalar(select(Partnership).where(Partnership.agency_org_id == agency.id))
            if exists is None:
                db.session.add(
                    Partnership(
                        org_id=owner.id,
                        agency_org_id=agency.id,
                        status=PartnershipStatus.ACTIVE,
                        starts_on=dt.date(2026, 1, 1),
                        ends_on=None,
                        grants=list(DEFAULT_GRANTS),
                        note="demo",
                    )
                )

    for slug, prefix, seed_value in (("demo-bank", "DB", 11), ("demo-lender", "DL", 22)):
        owner = by_slug[slug]
        with tenant(owner.id, owner.kind):
            seed_cases(owner, prefix, CASES_PER_OWNER, seed_value)

    seed_placements(by_slug)

    seed_work(by_slug)

    seed_writeoffs(by_slug)

    seed_commission(by_slug)
    return {"organisations": out_orgs, "users": out_users}
