"""list indexes: the case list newest first at city scale (every case, a department's, a district's, a street's, a community's) without sorting the
whole table (none on the light: the SLA sweep's light change must stay a HOT update, rewriting no index of cases); the dispatchers' queue finds the cases waiting for an answer to a request by
the request's kind instead of reading every open case

Revision ID: c2a4e6b8d0f1
Revises: d1c5e7a9b3f2
Create Date: 2026-12-06 17:00:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'c2a4e6b8d0f1'
down_revision = 'd1c5e7a9b3f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_cases_reported', 'cases', ['reported_at', 'id'], unique=False)
    op.create_index('ix_cases_department_reported', 'cases', ['department_code', 'reported_at'], unique=False)
    op.create_index('ix_cases_district_reported', 'cases', ['district_code', 'reported_at'], unique=False)
    op.create_index('ix_cases_street_reported', 'cases', ['street_code', 'reported_at'], unique=False)
    op.create_index('ix_cases_community_reported', 'cases', ['community_code', 'reported_at'], unique=False)
    op.create_index('ix_cases_pending_kind', 'cases', [sa.text("(pending_request ->> 'kind')")], unique=False,
                    postgresql_where=sa.text("(pending_request ->> 'kind') IS NOT NULL"))


def downgrade():
    op.drop_index('ix_cases_pending_kind', table_name='cases',
                  postgresql_where=sa.text("(pending_request ->> 'kind') IS NOT NULL"))
    op.drop_index('ix_cases_community_reported', table_name='cases')
    op.drop_index('ix_cases_street_reported', table_name='cases')
    op.drop_index('ix_cases_district_reported', table_name='cases')
    op.drop_index('ix_cases_department_reported', table_name='cases')
    op.drop_index('ix_cases_reported', table_name='cases')
