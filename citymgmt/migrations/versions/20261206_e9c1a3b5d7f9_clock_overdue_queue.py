"""clock overdue queue: the case's state and escalation flag copied onto its clock (case_clocks), kept by the
trigger on cases and by the sweep, with an index of the red, not escalated clocks by state and deadline: the
supervisors' `overdue` task read and counted on it, instead of every open case read for its light (the light cannot be
indexed on cases: the sweep's light change must stay a HOT update)

Revision ID: e9c1a3b5d7f9
Revises: c8a1b3d5e7f9
Create Date: 2026-12-06 21:40:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'e9c1a3b5d7f9'
down_revision = 'c8a1b3d5e7f9'
branch_labels = None
depends_on = None

OVERDUE = sa.text("light = 'red' AND escalated IS FALSE")

# The trigger's function of c7b2d4f6a8c0, copying the case's state and escalation flag too.
FOLLOW = """
CREATE OR REPLACE FUNCTION citymgmt_case_clock_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_clocks (case_id, warn_at, due_at, light, reported_at, status, escalated)
    VALUES (NEW.id, NEW.warn_at, NEW.due_at, NEW.light, NEW.reported_at, NEW.status, NEW.escalated)
    ON CONFLICT (case_id) DO UPDATE
        SET warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, light = EXCLUDED.light,
            status = EXCLUDED.status, escalated = EXCLUDED.escalated;
    RETURN NULL;
END
$$
"""
FOLLOW_BEFORE = """
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
ON_UPDATE = """
CREATE TRIGGER case_clock_on_update AFTER UPDATE OF warn_at, due_at, light, status, escalated ON cases FOR EACH ROW
WHEN ((OLD.light IS NOT NULL OR NEW.light IS NOT NULL)
      AND (OLD.warn_at, OLD.due_at, OLD.light, OLD.status, OLD.escalated)
          IS DISTINCT FROM (NEW.warn_at, NEW.due_at, NEW.light, NEW.status, NEW.escalated)
      AND coalesce(current_setting('citymgmt.sweeping', true), '') <> 'on')
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""
ON_UPDATE_BEFORE = """
CREATE TRIGGER case_clock_on_update AFTER UPDATE OF warn_at, due_at, light ON cases FOR EACH ROW
WHEN ((OLD.light IS NOT NULL OR NEW.light IS NOT NULL)
      AND (OLD.warn_at, OLD.due_at, OLD.light) IS DISTINCT FROM (NEW.warn_at, NEW.due_at, NEW.light)
      AND coalesce(current_setting('citymgmt.sweeping', true), '') <> 'on')
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""


def upgrade():
    op.add_column('case_clocks', sa.Column('status', sa.String(length=12), nullable=True))
    op.add_column('case_clocks', sa.Column('escalated', sa.Boolean(), nullable=True))
    # The cases are written only after the trigger copies their state (a change made meanwhile waits for the lock).
    op.execute('LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE')
    op.execute("UPDATE case_clocks k SET status = c.status, escalated = c.escalated FROM cases c WHERE c.id = k.case_id")
    op.alter_column('case_clocks', 'status', nullable=False)
    op.alter_column('case_clocks', 'escalated', nullable=False)
    op.execute(FOLLOW)
    op.execute('DROP TRIGGER case_clock_on_update ON cases')
    op.execute(ON_UPDATE)
    op.create_index('ix_case_clocks_overdue', 'case_clocks', ['status', 'due_at', 'case_id'], unique=False,
                    postgresql_where=OVERDUE)


def downgrade():
    op.drop_index('ix_case_clocks_overdue', table_name='case_clocks', postgresql_where=OVERDUE)
    op.execute('DROP TRIGGER case_clock_on_update ON cases')
    op.execute(ON_UPDATE_BEFORE)
    op.execute(FOLLOW_BEFORE)
    op.drop_column('case_clocks', 'escalated')
    op.drop_column('case_clocks', 'status')
