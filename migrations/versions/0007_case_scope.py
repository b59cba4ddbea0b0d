"""case scope: the permission to see every case the organisation holds (cases.view.all), given to the
built-in roles that saw every case before (owner admin and staff, agency manager); team leads and
collectors now see their team's and their own cases

Revision ID: 0007_case_scope
Revises: 0006_placements
Create Date: 2026-11-24 09:00:00

"""

from alembic import op

revision = "0007_case_scope"
down_revision = "0006_placements"
branch_labels = None
depends_on = None

TEMPLATES = ("owner_admin", "owner_staff", "agency_manager")


def upgrade():
    op.execute(
        "INSERT INTO role_permissions (org_id, role_id, permission) "
        "SELECT r.org_id, r.id, 'cases.view.all' FROM roles r "
        f"WHERE r.template_key IN {TEMPLATES!r} "
        "AND NOT EXISTS (SELECT 1 FROM role_permissions p WHERE p.role_id = r.id "
        "AND p.permission = 'cases.view.all')"
    )


def downgrade():
    op.execute("DELETE FROM role_permissions WHERE permission = 'cases.view.all'")
