"""team view: an index of the cases in a team, for a team lead's view of the teams they lead

Without it a team lead's list (the cases of their teams or their own) reads every case the
organisation holds and sorts them: 300 to 400 ms a page with 1,000,000 cases (bench/workbench_list.py).
Partial (team_id IS NOT NULL): an allocation that moves cases outside teams writes nothing into it.

Revision ID: 0010_team_view
Revises: 0009_workbench
Create Date: 2026-12-04 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010_team_view"
down_revision = "0009_workbench"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_team_id",
            ["team_id", "id"],
            unique=False,
            postgresql_where=sa.text("team_id IS NOT NULL"),
        )


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_team_id", postgresql_where=sa.text("team_id IS NOT NULL"))
