"""queue indexes: the open cases by state and deadline, so that the work queues read each state's cases soonest
deadline first, as far as the page needs, instead of sorting every case a task could select (it replaces the open
cases' index by deadline alone, which only the queues read); and by deadline the checked cases waiting to be closed
and the reports from the public waiting to be accepted, a few of a large state's cases each; and a department's
escalated cases (their replies), by state and deadline

Revision ID: c7a1b3d5e7f9
Revises: c2a4e6b8d0f1
Create Date: 2026-12-06 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c7a1b3d5e7f9'
down_revision = 'c2a4e6b8d0f1'
branch_labels = None
depends_on = None

CLOSING = sa.text("status = 'checking' AND check_passed IS TRUE")
ESCALATED = sa.text("escalated IS TRUE")
UNVERIFIED = sa.text("status = 'reported' AND source <> 'inspector' AND verified IS FALSE")
OPEN = sa.text("status IN ('reported', 'verifying', 'filed', 'dispatched', 'handled', 'checking', 'suspended')")


def upgrade():
    op.create_index('ix_cases_open_status_due', 'cases', ['status', 'due_at', 'id'], unique=False,
                    postgresql_where=OPEN)
    op.create_index('ix_cases_closing_due', 'cases', ['due_at', 'id'], unique=False, postgresql_where=CLOSING)
    op.create_index('ix_cases_unverified_due', 'cases', ['due_at', 'id'], unique=False, postgresql_where=UNVERIFIED)
    op.create_index('ix_cases_escalated_department', 'cases', ['department_code', 'status', 'due_at', 'id'],
                    unique=False, postgresql_where=ESCALATED)
    op.drop_index('ix_cases_open_due', table_name='cases', postgresql_where=OPEN)


def downgrade():
    op.create_index('ix_cases_open_due', 'cases', ['due_at'], unique=False, postgresql_where=OPEN)
    op.drop_index('ix_cases_escalated_department', table_name='cases', postgresql_where=ESCALATED)
    op.drop_index('ix_cases_unverified_due', table_name='cases', postgresql_where=UNVERIFIED)
    op.drop_index('ix_cases_closing_due', table_name='cases', postgresql_where=CLOSING)
    op.drop_index('ix_cases_open_status_due', table_name='cases', postgresql_where=OPEN)
