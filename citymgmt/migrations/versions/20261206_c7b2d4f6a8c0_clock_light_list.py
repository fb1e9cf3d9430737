"""clock light list: the case list by light, newest first, from the clocks' table (with the case's reported_at and
an index on the light there), since no index of cases may hold the light (the SLA sweep's light change must stay a
HOT update of cases)

Revision ID: c7b2d4f6a8c0
Revises: c7a1b3d5e7f9
Create Date: 2026-12-06 18:40:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c7b2d4f6a8c0'
down_revision = 'c7a1b3d5e7f9'
branch_labels = None
depends_on = None

# The trigger's function of e5a2c7d1b9f3, copying the case's reported_at too (set once, at the report).
FOLLOW = """
CREATE OR REPLACE FUNCTION citymgmt_case_clock_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_clocks (case_id, warn_at, due_at, light, reported_at)
    VALUES (NEW.id, NEW.warn_at, NEW.due_at, NEW.light, NEW.reported_at)
    ON CONFLICT (case_id) DO UPDATE
        SET warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, light = EXCLUDED.light;
    RETURN NULL;
END
$$
"""
FOLLOW_BEFORE = """
CREATE OR REPLACE FUNCTION citymgmt_case_clock_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_clocks (case_id, warn_at, due_at, light) VALUES (NEW.id, NEW.warn_at, NEW.due_at, NEW.light)
    ON CONFLICT (case_id) DO UPDATE
        SET warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, light = EXCLUDED.light;
    RETURN NULL;
END
$$
"""


def upgrade():
    op.add_column('case_clocks', sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE case_clocks k SET reported_at = c.reported_at FROM cases c WHERE c.id = k.case_id")
    op.alter_column('case_clocks', 'reported_at', nullable=False)
    op.execute(FOLLOW)
    op.create_index('ix_case_clocks_light_reported', 'case_clocks', ['light', 'reported_at', 'case_id'],
                    unique=False, postgresql_where=sa.text('light IS NOT NULL'))


def downgrade():
    op.drop_index('ix_case_clocks_light_reported', table_name='case_clocks',
                  postgresql_where=sa.text('light IS NOT NULL'))
    op.execute(FOLLOW_BEFORE)
    op.drop_column('case_clocks', 'reported_at')
