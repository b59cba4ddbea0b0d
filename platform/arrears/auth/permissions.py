"""The catalogue of named permissions and the built-in role templates.

A permission is a string. Each names which organisation kinds may hold it, so a custom role of an
agency can never carry an asset owner's right. Later issues add their permissions here.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from arrears.tenancy.models import OrgKind

P, O, A = OrgKind.PLATFORM, OrgKind.ASSET_OWNER, OrgKind.AGENCY  # noqa: E741 (short names keep the table readable)


@dataclass(frozen=True)
class Permission:
    name: str
    label: object  # a lazy string
    kinds: frozenset[OrgKind]
    group: str


_CATALOGUE: list[Permission] = [
    # platform operator
    Permission("platform.orgs.manage", _l("Create and disable tenants"), frozenset({P}), "platform"),
    Permission("platform.audit.view", _l("View every tenant's operation log"), frozenset({P}), "platform"),
    # every organisation's own administration
    Permission("org.users.view", _l("View users"), frozenset({P, O, A}), "org"),
    Permission("org.users.manage", _l("Create, edit and disable users"), frozenset({P, O, A}), "org"),
    Permission("org.roles.manage", _l("Manage roles and permissions"), frozenset({P, O, A}), "org"),
    Permission("org.audit.view", _l("View the operation log"), frozenset({P, O, A}), "org"),
    Permission("org.settings.manage", _l("Change organisation settings"), frozenset({P, O, A}), "org"),
    Permission("org.jobs.view", _l("View background jobs"), frozenset({P, O, A}), "org"),
    Permission("api.tokens", _l("Create API tokens for oneself"), frozenset({P, O, A}), "org"),
    Permission("approvals.request", _l("Submit requests for approval"), frozenset({O, A}), "approvals"),
    Permission("approvals.decide", _l("Approve or reject requests"), frozenset({O, A}), "approvals"),
    # asset owner
    Permission("partnerships.manage", _l("Manage partnerships with agencies"), frozenset({O}), "owner"),
    Permission(
        "placements.manage",
        _l("Place cases with agencies, recall them and run strategies"),
        frozenset({O}),
        "owner",
    ),
    Permission("cases.view", _l("View cases"), frozenset({O, A}), "cases"),
    Permission(
        "cases.view.all",
        _l("See every case the organisation holds (without it: one's own and one's team's)"),
        frozenset({O, A}),
        "cases",
    ),
    Permission("cases.import", _l("Import cases"), frozenset({O}), "cases"),
    Permission("cases.export", _l("Export cases"), frozenset({O, A}), "cases"),
    Permission("pii.unmask", _l("See personal data unmasked"), frozenset({O, A}), "cases"),
    # agency
    Permission("agency.teams.manage", _l("Manage teams"), frozenset({A}), "agency"),
    Permission("agency.partnerships.view", _l("View the asset owners served"), frozenset({A}), "agency"),
    Permission(
        "cases.dispatch", _l("Dispatch and transfer cases to collectors"), frozenset({O, A}), "agency"
    ),
    # collectors and field visitors
    Permission("workbench.use", _l("Work cases at the collector workbench"), frozenset({O, A}), "work"),
    Permission(
        "work.view",
        _l("See the collection work (notes, promises, applications) on the cases in one's scope"),
        frozenset({O, A}),
        "work",
    ),
    Permission(
        "applications.approve.team",
        _l("Decide applications at the team lead's level"),
        frozenset({A}),
        "work",
    ),
    Permission(
        "applications.approve.all",
        _l("Decide applications at the organisation's level (agency manager, asset owner)"),
        frozenset({O, A}),
        "work",
    ),
    # repayments (还款)
    Permission(
        "repayments.view",
        _l("View repayment records (an agency: those of its placed cases)"),
        frozenset({O, A}),
        "repayments",
    ),
    Permission(
        "repayments.post",
        _l("Record repayments: the core system's feed, statements, manual entries"),
        frozenset({O}),
        "repayments",
    ),
    Permission(
        "repayments.audit",
        _l("Audit repayments: confirm collectors' reports, reverse payments, reconcile statements"),
        frozenset({O}),
        "repayments",
    ),
    # write-off (核销)
    Permission(
        "writeoffs.view",
        _l("View write-off candidates, proposals and the ledger"),
        frozenset({O}),
        "writeoffs",
    ),
    Permission(
        "writeoffs.configure", _l("Configure write-off rules and thresholds"), frozenset({O}), "writeoffs"
    ),
    Permission(
        "writeoffs.propose", _l("Propose cases for write-off and reversal"), frozenset({O}), "writeoffs"
    ),
    Permission(
        "writeoffs.approve",
        _l("Approve write-offs and their reversals (not one's own)"),
        frozenset({O}),
        "writeoffs",
    ),
    # commission (佣金)
    Permission(
        "commission.view",
        _l("View commission records and statements (an agency: its own)"),
        frozenset({O, A}),
        "commission",
    ),
    Permission(
        "commission.manage",
        _l("Manage commission contracts and incentives, run settlements"),
        frozenset({O, A}),
        "commission",
    ),
    Permission(
        "commission.approve",
        _l("Approve commission statements and mark them paid"),
        frozenset({O, A}),
        "commission",
    ),
    Permission("letters.templates.manage", _l("Manage letter templates"), frozenset({O}), "work"),
    Permission("field.visit", _l("Receive and report field visits"), frozenset({O, A}), "work"),
]

PERMISSIONS: dict[str, Permission] = {p.name: p for p in _CATALOGUE}

# Rights an asset owner may grant an agency in a partnership (M-R1): what the agency's users may do
# with that owner's cases on top of their own roles.
GRANTABLE: dict[str, object] = {
    "pii.unmask": _l("Agency may unmask debtors' personal data"),
    "cases.export": _l("Agency may export placed cases"),
    "field.visit": _l("Agency may run field visits"),
    "letters.send": _l("Agency may send letters"),
    "reductions.request": _l("Agency may request reductions"),
    "repayments.report": _l("Agency may report repayments"),
}
DEFAULT_GRANTS = ["field.visit", "letters.send", "reductions.request", "repayments.report"]


def permissions_for_kind(kind: OrgKind | str) -> list[Permission]:
    kind = OrgKind(kind)
    return [p for p in _CATALOGUE if kind in p.kinds]


def _all(kind: OrgKind) -> list[str]:
    return [p.name for p in permissions_for_kind(kind)]


@dataclass(frozen=True)
class RoleTemplate:
    key: str
    kind: OrgKind
    name: object
    permissions: tuple[str, ...]


ROLE_TEMPLATES: dict[str, RoleTemplate] = {
    t.key: t
    for t in [
        RoleTemplate("platform_operator", P, _l("Platform operator"), tuple(_all(P))),
        RoleTemplate("owner_admin", O, _l("Asset owner admin"), tuple(_all(O))),
        RoleTemplate(
            "owner_staff",
            O,
            _l("Asset owner staff"),
            (
                "org.users.view",
                "org.jobs.view",
                "approvals.request",
                "cases.view",
                "cases.view.all",
                "cases.import",
                "api.tokens",
                "work.view",
                "repayments.view",
                "writeoffs.view",
                "writeoffs.propose",
                "commission.view",
            ),
        ),
        RoleTemplate("agency_manager", A, _l("Agency manager"), tuple(_all(A))),
        RoleTemplate(
            "team_lead",
            A,
            _l("Team lead"),
            (
                "org.users.view",
                "org.jobs.view",
                "approvals.request",
                "approvals.decide",
                "cases.view",
                "cases.dispatch",
                "workbench.use",
                "work.view",
                "applications.approve.team",
                "api.tokens",
                "repayments.view",
            ),
        ),
        RoleTemplate(
            "collector",
            A,
            _l("Collector"),
            ("approvals.request", "cases.view", "workbench.use", "api.tokens"),
        ),
        RoleTemplate("field_visitor", A, _l("Field visitor"), ("cases.view", "field.visit")),
    ]
}


def templates_for_kind(kind: OrgKind | str) -> list[RoleTemplate]:
    kind = OrgKind(kind)
    return [t for t in ROLE_TEMPLATES.values() if t.kind == kind]


# The console a user lands on, by what they may do.
ADMIN_ROLE_FOR_KIND = {P: "platform_operator", O: "owner_admin", A: "agency_manager"}
