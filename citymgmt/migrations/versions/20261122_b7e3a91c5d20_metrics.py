"""metrics: the workflow's clock on each event, and the daily and monthly roll-ups of the evaluation indicators

Revision ID: b7e3a91c5d20
Revises: 5e0c311a4b2d
Create Date: 2026-11-22 06:40:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'b7e3a91c5d20'
down_revision = '5e0c311a4b2d'
branch_labels = None
depends_on = None

COUNTS = (
    'closed', 'closed_on_time', 'overdue_open', 'overdue_unhandled', 'handled', 'handled_on_time', 'reworked',
    'filed', 'filed_on_time', 'filed_cancelled', 'dispatched', 'dispatched_on_time', 'wrong_dispatches', 'reports',
    'valid_reports', 'verifications', 'verifications_on_time', 'checks', 'checks_on_time', 'verified_public',
    'missed',
)


def upgrade():
    op.add_column('case_events', sa.Column('step_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('case_events', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('case_events', sa.Column('department_code', sa.String(length=40), nullable=True))
    op.create_index('ix_case_events_at', 'case_events', ['at'], unique=False)
    op.create_index(
        'ix_cases_open_disposal_due', 'cases', ['disposal_due_at'], unique=False,
        postgresql_where=sa.text(
            "status IN ('reported', 'verifying', 'filed', 'dispatched', 'handled', 'checking', 'suspended')"
        ),
    )
    for table in ('metric_days', 'metric_months'):
        op.create_table(
            table,
            sa.Column('dim', sa.String(length=10), nullable=False),
            sa.Column('day', sa.Date(), nullable=False),
            sa.Column('key', sa.String(length=40), nullable=False),
            sa.Column('community_code', sa.String(length=12), nullable=True),
            sa.Column('street_code', sa.String(length=9), nullable=True),
            sa.Column('district_code', sa.String(length=6), nullable=True),
            *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS],
            sa.PrimaryKeyConstraint('dim', 'day', 'key', name=op.f(f'pk_{table}')),
        )
    op.create_table(
        'metric_builds',
        sa.Column('name', sa.String(length=20), nullable=False),
        sa.Column('built_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('days_rebuilt', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_metric_builds')),
    )


def downgrade():
    op.drop_table('metric_builds')
    op.drop_table('metric_months')
    op.drop_table('metric_days')
    op.drop_index('ix_cases_open_disposal_due', table_name='cases')
    op.drop_index('ix_case_events_at', table_name='case_events')
    op.drop_column('case_events', 'department_code')
    op.drop_column('case_events', 'due_at')
    op.drop_column('case_events', 'step_due_at')
