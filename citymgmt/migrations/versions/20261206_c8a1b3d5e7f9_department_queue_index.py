"""department queue index: a department's open cases by state and deadline, so that a handler's queue reads its
department's dispatched cases soonest deadline first, as far as the page needs, and counts them on the index alone,
instead of combining two indexes and reading and sorting every one of them

Revision ID: c8a1b3d5e7f9
Revises: a7b1c3d5e7f9
Create Date: 2026-12-06 19:55:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c8a1b3d5e7f9'
down_revision = 'a7b1c3d5e7f9'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('reported', 'verifying', 'filed', 'dispatched', 'handled', 'checking', 'suspended')")


def upgrade():
    op.create_index('ix_cases_department_open_due', 'cases', ['department_code', 'status', 'due_at', 'id'],
                    unique=False, postgresql_where=OPEN)


def downgrade():
    op.drop_index('ix_cases_department_open_due', table_name='cases', postgresql_where=OPEN)
