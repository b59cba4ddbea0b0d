"""Write-off set-ups (``arrears.writeoffs``): bank's cases on a fixed business date, with the two
further admins who approve its write-offs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from arrears.cases.imports.batches import upsert_records
from arrears.extensions import db
from arrears.models import Case, Organisation, User
from arrears.orgs import roles, users
from arrears.tenancy import tenant
from tests.builders.tenants import PASSWORD, World

# Bank's business date in setup_bank.
TODAY = dt.date(2026, 12, 1)


def setup_bank(world: World, cases: list[dict[str, Any]]) -> dict[str, int]:
    """The bank's cases (loan number -> id), its business date fixed, two more approvers.

    Each of ``cases`` overrides the fields of a card loan of principal 1,000, interest 100, penalty
    50 and fee 20; the approvers are ``checker1`` and ``checker2`` in ``world.bank.users``."""
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        org.settings = {**(org.settings or {}), "business_date": TODAY.isoformat()}
        db.session.commit()
        admin = db.session.get(User, world.bank.admin_id)
        role = roles.builtin_role(org, "owner_admin")
        for key in ("checker1", "checker2"):
            email = f"{key}@bank.test.example"
            user = users.create_user(
                None, org=org, email=email, name=key, password=PASSWORD, role_ids=[role.id]
            )
            world.bank.users[key], world.bank.emails[key] = user.id, email
        items = [
            {
                "name": "债务人",
                "id_number": "110101199003076536",
                "principal": "1000",
                "interest": "100",
                "penalty": "50",
                "fee": "20",
                "product": "card",
                **c,
            }
            for c in cases
        ]
        assert upsert_records(admin, items)["imported"] == len(items)
        return dict(db.session.execute(select(Case.loan_no, Case.id)).all())
