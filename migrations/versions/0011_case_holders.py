"""case holders: the collector working a case moves off the wide cases row into case_holders

A dispatch of 100,000 cases rewrote every case's row into seven indexes (1.8 s of the 2.2 s apply,
decision 0007); it now writes 100,000 narrow rows into two. case_holders has a row while a collector
holds the case or it waits in a team's pool (the organisation's pool: no row), names the holding
organisation for the walls,
and keeps no foreign keys (see models.cases.CaseHolder). The rows are copied from cases, then
cases.assignee_user_id, team_id and assigned_at go with their indexes and keys.

Revision ID: 0011_case_holders
Revises: 0010_team_view
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa

from arrears.tenancy.rls import enable_rls_sql

# The visibility rule, frozen as it is at this revision: the case's owner and the holding agency.
HOLDERS = "org_id = arrears_tenant() OR agency_org_id = arrears_tenant()"

# revision identifiers, used by Alembic.
revision = "0011_case_holders"
down_revision = "0010_team_view"
branch_labels = None
depends_on = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "case_holders",
        sa.Column("case_id", BIG, autoincrement=False, nullable=False),
        sa.Column("agency_org_id", BIG, nullable=True),
        sa.Column("assignee_user_id", BIG, nullable=True),
        sa.Column("team_id", BIG, nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("org_id", BIG, nullable=False),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_holders")),
    )
    with op.batch_alter_table("case_holders", schema=None) as batch_op:
        batch_op.create_index("ix_case_holders_assignee", ["assignee_user_id", "case_id"], unique=False)
        batch_op.create_index(
            "ix_case_holders_team",
            ["team_id", "case_id"],
            unique=False,
            postgresql_where=sa.text("team_id IS NOT NULL"),
        )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:  # FORCE ROW LEVEL SECURITY binds the owner too: read every tenant's cases
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")
    op.execute(
        "INSERT INTO case_holders (case_id, org_id, agency_org_id, assignee_user_id, team_id, assigned_at) "
        "SELECT id, org_id, agency_org_id, assignee_user_id, team_id, assigned_at "
        "FROM cases WHERE assignee_user_id IS NOT NULL OR team_id IS NOT NULL"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_team_id", postgresql_where=sa.text("team_id IS NOT NULL"))
        batch_op.drop_index("ix_cases_assignee_id")
        batch_op.drop_constraint(batch_op.f("fk_cases_team_id_teams"), type_="foreignkey")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("team_id")
        batch_op.drop_column("assignee_user_id")
    if postgres:
        for statement in enable_rls_sql("case_holders", HOLDERS):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_user_id", BIG, nullable=True))
        batch_op.add_column(sa.Column("team_id", BIG, nullable=True))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_cases_team_id_teams"), "teams", ["team_id"], ["id"])
        batch_op.create_index("ix_cases_assignee_id", ["assignee_user_id", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_team_id", ["team_id", "id"], unique=False, postgresql_where=sa.text("team_id IS NOT NULL")
        )
    op.execute(
        "UPDATE cases SET assignee_user_id = h.assignee_user_id, team_id = h.team_id, "
        "assigned_at = h.assigned_at FROM case_holders h WHERE h.case_id = cases.id"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE cases SET "
        "assignee_user_id = (SELECT assignee_user_id FROM case_holders h WHERE h.case_id = cases.id), "
        "team_id = (SELECT team_id FROM case_holders h WHERE h.case_id = cases.id), "
        "assigned_at = (SELECT assigned_at FROM case_holders h WHERE h.case_id = cases.id)"
    )
    with op.batch_alter_table("case_holders", schema=None) as batch_op:
        batch_op.drop_index("ix_case_holders_team", postgresql_where=sa.text("team_id IS NOT NULL"))
        batch_op.drop_index("ix_case_holders_assignee")
    op.drop_table("case_holders")
