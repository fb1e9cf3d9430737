"""returned from: the department a case was returned from, until its next dispatch (a dispatch elsewhere corrects a
wrong one), instead of looking up the case's last dispatch event

Revision ID: e8a0c2e4f6b8
Revises: c6e8a0b2d4f6
Create Date: 2026-12-06 12:50:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'e8a0c2e4f6b8'
down_revision = 'c6e8a0b2d4f6'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cases', sa.Column('returned_from', sa.String(length=40), nullable=True))
    # Cases waiting for dispatch after a return: the department of their last dispatch.
    op.execute(
        "UPDATE cases c SET returned_from = ("
        " SELECT e.payload->>'department' FROM case_events e WHERE e.case_id = c.id AND e.action = 'dispatch'"
        " ORDER BY e.id DESC LIMIT 1)"
        " WHERE c.status = 'filed' AND EXISTS ("
        " SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'dispatch')"
    )


def downgrade():
    op.drop_column('cases', 'returned_from')
