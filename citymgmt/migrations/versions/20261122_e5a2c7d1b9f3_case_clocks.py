"""case clocks: the SLA sweep's own narrow table, so that moving a light rewrites no index of cases

Revision ID: e5a2c7d1b9f3
Revises: c4e8a1f27d63
Create Date: 2026-11-22 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'e5a2c7d1b9f3'
down_revision = 'c4e8a1f27d63'
branch_labels = None
depends_on = None

# Every change of a case's clock (warn_at, due_at, light) made outside the sweep is copied to case_clocks by this
# trigger; the sweep writes both tables itself, with citymgmt.sweeping on so that the trigger stays out of its way.
FOLLOW = """
CREATE FUNCTION citymgmt_case_clock_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO case_clocks (case_id, warn_at, due_at, light) VALUES (NEW.id, NEW.warn_at, NEW.due_at, NEW.light)
    ON CONFLICT (case_id) DO UPDATE
        SET warn_at = EXCLUDED.warn_at, due_at = EXCLUDED.due_at, light = EXCLUDED.light;
    RETURN NULL;
END
$$
"""
ON_INSERT = """
CREATE TRIGGER case_clock_on_insert AFTER INSERT ON cases FOR EACH ROW
WHEN (NEW.light IS NOT NULL)
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""
ON_UPDATE = """
CREATE TRIGGER case_clock_on_update AFTER UPDATE OF warn_at, due_at, light ON cases FOR EACH ROW
WHEN ((OLD.light IS NOT NULL OR NEW.light IS NOT NULL)
      AND (OLD.warn_at, OLD.due_at, OLD.light) IS DISTINCT FROM (NEW.warn_at, NEW.due_at, NEW.light)
      AND coalesce(current_setting('citymgmt.sweeping', true), '') <> 'on')
EXECUTE FUNCTION citymgmt_case_clock_follow()
"""


def upgrade():
    op.create_table(
        'case_clocks',
        sa.Column('case_id', sa.BigInteger(), nullable=False),
        sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('light', sa.String(length=6), nullable=True),
        sa.CheckConstraint("light IS NULL OR light IN ('green', 'yellow', 'red')", name=op.f('ck_case_clocks_light')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_clocks_case_id_cases')),
        sa.PrimaryKeyConstraint('case_id', name=op.f('pk_case_clocks')),
    )
    op.execute(
        "INSERT INTO case_clocks (case_id, warn_at, due_at, light)"
        " SELECT id, warn_at, due_at, light FROM cases WHERE light IS NOT NULL"
    )
    op.create_index('ix_case_clocks_warn', 'case_clocks', ['warn_at'], unique=False,
                    postgresql_where=sa.text("light = 'green'"))
    op.create_index('ix_case_clocks_due', 'case_clocks', ['due_at'], unique=False,
                    postgresql_where=sa.text("light IN ('green', 'yellow')"))
    op.drop_index('ix_cases_sweep_warn', table_name='cases', postgresql_where=sa.text("light = 'green'"))
    op.drop_index('ix_cases_sweep_due', table_name='cases', postgresql_where=sa.text("light IN ('green', 'yellow')"))
    op.execute(FOLLOW)
    op.execute(ON_INSERT)
    op.execute(ON_UPDATE)
    # Room on each page for the sweep's updates to stay on the page (HOT: no index entry at all). Pages written from
    # now on; `VACUUM FULL cases` in a maintenance window gives the existing ones the room too.
    op.execute('ALTER TABLE cases SET (fillfactor = 90)')


def downgrade():
    op.execute('ALTER TABLE cases RESET (fillfactor)')
    op.execute('DROP TRIGGER case_clock_on_update ON cases')
    op.execute('DROP TRIGGER case_clock_on_insert ON cases')
    op.execute('DROP FUNCTION citymgmt_case_clock_follow()')
    op.create_index('ix_cases_sweep_due', 'cases', ['due_at'], unique=False,
                    postgresql_where=sa.text("light IN ('green', 'yellow')"))
    op.create_index('ix_cases_sweep_warn', 'cases', ['warn_at'], unique=False,
                    postgresql_where=sa.text("light = 'green'"))
    op.drop_index('ix_case_clocks_due', table_name='case_clocks', postgresql_where=sa.text("light IN ('green', 'yellow')"))
    op.drop_index('ix_case_clocks_warn', table_name='case_clocks', postgresql_where=sa.text("light = 'green'"))
    op.drop_table('case_clocks')
