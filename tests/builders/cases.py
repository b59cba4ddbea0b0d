"""Cases of the bank: a few made through the upsert service, and the ids of what a test imported."""

from __future__ import annotations

from sqlalchemy import select

from arrears.cases.imports.batches import upsert_records
from arrears.extensions import db
from arrears.models import Case, User
from arrears.tenancy import tenant
from tests.builders.tenants import World
from tests.conftest import SHARED, Database

# The import files made by other programs (cases_utf8_bom.csv: 300 cases, the newest due 2026-10-29).
IMPORTS = SHARED / "data" / "imports"


def make_cases(world: World, n: int = 3, prefix: str = "RP") -> list[int]:
    """Bank's ``n`` cases ``<prefix>-0`` ... (due 2026-01-01; principal 1,000, interest 100, penalty
    50, fee 20: 1,170 outstanding each); the ids of all bank's cases by loan number."""
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        items = [
            {
                "loan_no": f"{prefix}-{i}",
                "name": f"债务人{i}",
                "id_number": "110101199003076536",
                "due_date": "2026-01-01",
                "principal": "1000",
                "interest": "100",
                "penalty": "50",
                "fee": "20",
            }
            for i in range(n)
        ]
        assert upsert_records(admin, items)["imported"] == n
        return list(db.session.scalars(select(Case.id).order_by(Case.loan_no)))


def case_ids(database: Database, n: int, offset: int = 0) -> list[int]:
    """``n`` case ids in id order from ``offset``, whoever owns them (read as the database owner)."""
    return [r[0] for r in database.rows("SELECT id FROM cases ORDER BY id LIMIT :n OFFSET :o", n=n, o=offset)]
