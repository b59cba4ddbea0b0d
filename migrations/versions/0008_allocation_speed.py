"""allocation speed: no per-row key look-ups nor needless indexes where an allocation writes 100,000 rows

The assignment log (case_assignments) and the allocation results keep no foreign keys: each line is
written from the rows the same statement reads or moves, under row-level security, and the plain keys
(none of which pinned a tenant) cost a look-up each per row. cases.assignee_user_id loses its key to
users for the same reason (the services check the collector). cases loses its index of import_batch_id
(no query uses it) and indexes its status only for the closed, paused and written-off cases, so that
rewriting open cases updates two indexes fewer. Decision 0007.

Revision ID: 0008_allocation_speed
Revises: 0007_case_scope
Create Date: 2026-11-24 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008_allocation_speed"
down_revision = "0007_case_scope"
branch_labels = None
depends_on = None

NOT_OPEN = "status NOT IN ('new', 'active')"


def upgrade():
    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_actor_user_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_case_id_cases"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_from_user_id_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_org_id_organisations"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_run_id_allocation_runs"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_case_assignments_to_user_id_users"), type_="foreignkey")

    with op.batch_alter_table("allocation_results", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_allocation_results_org_id_organisations"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_allocation_results_run_id_allocation_runs"), type_="foreignkey")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_cases_assignee_user_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_cases_import_batch_id"))
        batch_op.drop_index("ix_cases_org_status")
        batch_op.create_index(
            "ix_cases_org_status",
            ["org_id", "status"],
            unique=False,
            postgresql_where=sa.text(NOT_OPEN),
            sqlite_where=sa.text(NOT_OPEN),
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_org_status")
        batch_op.create_index("ix_cases_org_status", ["org_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_import_batch_id"), ["import_batch_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_cases_assignee_user_id_users"), "users", ["assignee_user_id"], ["id"]
        )

    with op.batch_alter_table("allocation_results", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_allocation_results_run_id_allocation_runs"), "allocation_runs", ["run_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_allocation_results_org_id_organisations"), "organisations", ["org_id"], ["id"]
        )

    with op.batch_alter_table("case_assignments", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_case_assignments_to_user_id_users"), "users", ["to_user_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_case_assignments_run_id_allocation_runs"), "allocation_runs", ["run_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_case_assignments_org_id_organisations"), "organisations", ["org_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_case_assignments_from_user_id_users"), "users", ["from_user_id"], ["id"]
        )
        batch_op.create_foreign_key(batch_op.f("fk_case_assignments_case_id_cases"), "cases", ["case_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_case_assignments_actor_user_id_users"), "users", ["actor_user_id"], ["id"]
        )
