"""browser sessions: api_tokens.kind tells bearer tokens from browser sessions

Revision ID: 9284387a239d
Revises: 6fcd135ce507
Create Date: 2026-11-22 06:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '9284387a239d'
down_revision = '6fcd135ce507'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('api_tokens', sa.Column('kind', sa.String(length=10), server_default='api', nullable=False))
    op.create_check_constraint(op.f('ck_api_tokens_known_kind'), 'api_tokens', "kind IN ('api', 'browser')")


def downgrade():
    # Browser sessions have no meaning without their kind: revoke them rather than let them pass as bearer tokens.
    op.execute("UPDATE api_tokens SET revoked_at = now() WHERE kind = 'browser' AND revoked_at IS NULL")
    op.drop_constraint(op.f('ck_api_tokens_known_kind'), 'api_tokens', type_='check')
    op.drop_column('api_tokens', 'kind')
