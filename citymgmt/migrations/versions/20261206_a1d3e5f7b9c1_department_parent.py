"""department parent: the department a department answers to (departments imported as data, issue 22)

Revision ID: a1d3e5f7b9c1
Revises: e8a0c2e4f6b8
Create Date: 2026-12-06 15:20:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = 'a1d3e5f7b9c1'
down_revision = 'e8a0c2e4f6b8'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('departments', sa.Column('parent_code', sa.String(length=40), nullable=True))
    op.create_foreign_key(
        op.f('fk_departments_parent_code_departments'), 'departments', 'departments', ['parent_code'], ['code']
    )


def downgrade():
    op.drop_constraint(op.f('fk_departments_parent_code_departments'), 'departments', type_='foreignkey')
    op.drop_column('departments', 'parent_code')
