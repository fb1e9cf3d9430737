"""call-backs (回访): a closed public or hotline case waits for its call-back; the evaluation counts the reports
received from the public and answered in time (接诉即办's response) and the call-backs' answers

Revision ID: f1d4b7c9e2a6
Revises: e1a3c5e7f9b2
Create Date: 2026-12-06 15:20:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'f1d4b7c9e2a6'
down_revision = 'e1a3c5e7f9b2'
branch_labels = None
depends_on = None

COUNTS = (
    'received', 'responded', 'callbacks', 'callbacks_resolved', 'callbacks_satisfied',
    'callbacks_basically_satisfied',
)


def upgrade():
    op.add_column(
        'cases', sa.Column('callback_pending', sa.Boolean(), server_default=sa.text('false'), nullable=False)
    )
    op.create_index(
        'ix_cases_callback_pending', 'cases', ['closed_at'], unique=False,
        postgresql_where=sa.text('callback_pending'),
    )
    # The roll-ups are built again under their new build name (dispatch.metrics.operations.BUILD); the rows there
    # until then count nothing new.
    for table in ('metric_days', 'metric_months'):
        for name in COUNTS:
            op.add_column(table, sa.Column(name, sa.Integer(), server_default='0', nullable=False))
            op.alter_column(table, name, server_default=None)


def downgrade():
    for table in ('metric_days', 'metric_months'):
        for name in reversed(COUNTS):
            op.drop_column(table, name)
    op.drop_index('ix_cases_callback_pending', table_name='cases', postgresql_where=sa.text('callback_pending'))
    op.drop_column('cases', 'callback_pending')
