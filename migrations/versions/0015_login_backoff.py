"""login back-off: a sign-in counter keeps the time of its last failure (the wait grows from it)
instead of the start of a fixed window; the old windows' counters are dropped (they only slowed
sign-ins for at most fifteen minutes).

Revision ID: 0015_login_backoff
Revises: 0014_job_names
"""

from alembic import op

revision = "0015_login_backoff"
down_revision = "0014_job_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM auth_throttle")
    op.alter_column("auth_throttle", "window_started_at", new_column_name="last_failure_at")


def downgrade() -> None:
    op.execute("DELETE FROM auth_throttle")
    op.alter_column("auth_throttle", "last_failure_at", new_column_name="window_started_at")
