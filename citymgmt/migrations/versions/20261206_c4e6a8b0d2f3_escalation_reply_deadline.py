"""escalation reply deadline: when the department's reply to an escalation (督办) is due, and whether the sweep has
marked it overdue; the sweep's partial index of the replies still able to become overdue; the case's suspensions in
all (their cap)

Revision ID: c4e6a8b0d2f3
Revises: b3d5f7a9c1e2
Create Date: 2026-12-06 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c4e6a8b0d2f3'
down_revision = 'b3d5f7a9c1e2'
branch_labels = None
depends_on = None


def upgrade():
    # Escalations waiting from before have no deadline: they are never marked overdue (their reply is still owed).
    op.add_column('cases', sa.Column('escalation_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'cases',
        sa.Column('escalation_reply_overdue', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    # Suspensions ended before count from now on (their lengths are in the resume events).
    op.add_column('cases', sa.Column('suspended_seconds', sa.BigInteger(), server_default='0', nullable=False))
    op.create_index('ix_cases_escalation_reply_due', 'cases', ['escalation_due_at'], unique=False,
                    postgresql_where=sa.text('escalated AND NOT escalation_reply_overdue'))


def downgrade():
    op.drop_index('ix_cases_escalation_reply_due', table_name='cases',
                  postgresql_where=sa.text('escalated AND NOT escalation_reply_overdue'))
    op.drop_column('cases', 'suspended_seconds')
    op.drop_column('cases', 'escalation_reply_overdue')
    op.drop_column('cases', 'escalation_due_at')
