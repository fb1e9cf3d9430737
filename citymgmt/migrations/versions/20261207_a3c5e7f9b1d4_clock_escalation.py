"""clock escalation: the case's department and escalation (督办) copied onto its clock (case_clocks) while the case
has a light or an escalation, with the clock's indexes of the escalated cases (a department's by state and deadline,
newest first, replies by deadline) instead of the two partial indexes of cases that named `escalated`: with those, the
sweep's escalation of an overdue case (and its marking of a late reply) was no in-page (HOT) update and wrote an entry
into every index of cases

Revision ID: a3c5e7f9b1d4
Revises: f9a1c3e5b7d2
Create Date: 2026-12-07 03:50:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'a3c5e7f9b1d4'
down_revision = 'f9a1c3e5b7d2'
branch_labels = None
depends_on = None

ESCALATED = sa.text('escalated IS TRUE')
REPLY_DUE = sa.text('escalated IS TRUE AND escalation_reply_overdue IS FALSE')
CASES_ESCALATED = sa.text('escalated IS TRUE')
CASES_REPLY_DUE = sa.text('escalated AND NOT escalation_reply_overdue')

COPIED = ('warn_at, due_at, light, status, department_code, escalated, escalation_due_at, escalation_reply_overdue')

FOLLOW = f"""
CREATE OR REPLACE FUNCTION citymgmt_case_clock_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_clocks (case_id, reported_at, {COPIED})
    VALUES (NEW.id, NEW.reported_at, NEW.warn_at, NEW.due_at, NEW.light, NEW.status, NEW.department_code,
            NEW.escalated, NEW.escalation_due_at, NEW.escalation_reply_overdue)
    ON CONFLICT (case_id) DO UPDATE
        SET warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, light = EXCLUDED.light,
            status = EXCLUDED.status, department_code = EXCLUDED.department_code, escalated = EXCLUDED.escalated,
            escalation_due_at = EXCLUDED.escalation_due_at,
            escalation_reply_overdue = EXCLUDED.escalation_reply_overdue;
    RETURN NULL;
END
$$
"""
ON_INSERT = """
CREATE TRIGGER case_clock_on_insert AFTER INSERT ON cases FOR EACH ROW
WHEN (NEW.light IS NOT NULL OR NEW.escalated)
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""
# While the case has a light or an escalation, or loses its last: a clock with either is the case's as it is now.
ON_UPDATE = f"""
CREATE TRIGGER case_clock_on_update AFTER UPDATE OF {COPIED} ON cases FOR EACH ROW
WHEN ((OLD.light IS NOT NULL OR NEW.light IS NOT NULL OR OLD.escalated OR NEW.escalated)
      AND (OLD.warn_at, OLD.due_at, OLD.light, OLD.status, OLD.department_code, OLD.escalated, OLD.escalation_due_at,
           OLD.escalation_reply_overdue)
          IS DISTINCT FROM (NEW.warn_at, NEW.due_at, NEW.light, NEW.status, NEW.department_code, NEW.escalated,
                            NEW.escalation_due_at, NEW.escalation_reply_overdue)
      AND coalesce(current_setting('citymgmt.sweeping', true), '') <> 'on')
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""

# e9c1a3b5d7f9's, for the downgrade.
FOLLOW_BEFORE = """
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
ON_INSERT_BEFORE = """
CREATE TRIGGER case_clock_on_insert AFTER INSERT ON cases FOR EACH ROW
WHEN (NEW.light IS NOT NULL)
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""
ON_UPDATE_BEFORE = """
CREATE TRIGGER case_clock_on_update AFTER UPDATE OF warn_at, due_at, light, status, escalated ON cases FOR EACH ROW
WHEN ((OLD.light IS NOT NULL OR NEW.light IS NOT NULL)
      AND (OLD.warn_at, OLD.due_at, OLD.light, OLD.status, OLD.escalated)
          IS DISTINCT FROM (NEW.warn_at, NEW.due_at, NEW.light, NEW.status, NEW.escalated)
      AND coalesce(current_setting('citymgmt.sweeping', true), '') <> 'on')
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""


def upgrade():
    op.add_column('case_clocks', sa.Column('department_code', sa.String(length=40), nullable=True))
    op.add_column('case_clocks', sa.Column('escalation_due_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('case_clocks', sa.Column('escalation_reply_overdue', sa.Boolean(), nullable=True))
    # The cases are written only after the trigger copies them (a change made meanwhile waits for the lock).
    op.execute('LOCK TABLE cases IN SHARE ROW EXCLUSIVE MODE')
    op.execute(
        'UPDATE case_clocks k SET department_code = c.department_code, escalation_due_at = c.escalation_due_at,'
        ' escalation_reply_overdue = c.escalation_reply_overdue, status = c.status, escalated = c.escalated'
        ' FROM cases c WHERE c.id = k.case_id'
    )
    # An escalated case that never had a light (escalated while suspended) gets its clock now.
    op.execute(
        f'INSERT INTO case_clocks (case_id, reported_at, {COPIED})'
        f' SELECT id, reported_at, {COPIED} FROM cases c WHERE c.escalated'
        ' AND NOT EXISTS (SELECT 1 FROM case_clocks k WHERE k.case_id = c.id)'
    )
    op.alter_column('case_clocks', 'escalation_reply_overdue', nullable=False)
    op.execute(FOLLOW)
    op.execute('DROP TRIGGER case_clock_on_update ON cases')
    op.execute('DROP TRIGGER case_clock_on_insert ON cases')
    op.execute(ON_INSERT)
    op.execute(ON_UPDATE)
    op.create_index('ix_case_clocks_escalated_department', 'case_clocks',
                    ['department_code', 'status', 'due_at', 'case_id'], unique=False, postgresql_where=ESCALATED)
    op.create_index('ix_case_clocks_escalated_reported', 'case_clocks', ['reported_at', 'case_id'], unique=False,
                    postgresql_where=ESCALATED)
    op.create_index('ix_case_clocks_reply_due', 'case_clocks', ['escalation_due_at'], unique=False,
                    postgresql_where=REPLY_DUE)
    op.drop_index('ix_cases_escalated_department', table_name='cases', postgresql_where=CASES_ESCALATED)
    op.drop_index('ix_cases_escalation_reply_due', table_name='cases', postgresql_where=CASES_REPLY_DUE)


def downgrade():
    op.create_index('ix_cases_escalation_reply_due', 'cases', ['escalation_due_at'], unique=False,
                    postgresql_where=CASES_REPLY_DUE)
    op.create_index('ix_cases_escalated_department', 'cases', ['department_code', 'status', 'due_at', 'id'],
                    unique=False, postgresql_where=CASES_ESCALATED)
    op.drop_index('ix_case_clocks_reply_due', table_name='case_clocks', postgresql_where=REPLY_DUE)
    op.drop_index('ix_case_clocks_escalated_reported', table_name='case_clocks', postgresql_where=ESCALATED)
    op.drop_index('ix_case_clocks_escalated_department', table_name='case_clocks', postgresql_where=ESCALATED)
    op.execute('DROP TRIGGER case_clock_on_update ON cases')
    op.execute('DROP TRIGGER case_clock_on_insert ON cases')
    op.execute(ON_INSERT_BEFORE)
    op.execute(ON_UPDATE_BEFORE)
    op.execute(FOLLOW_BEFORE)
    op.drop_column('case_clocks', 'escalation_reply_overdue')
    op.drop_column('case_clocks', 'escalation_due_at')
    op.drop_column('case_clocks', 'department_code')
