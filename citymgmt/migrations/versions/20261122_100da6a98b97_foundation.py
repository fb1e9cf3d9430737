"""foundation: PostGIS and the outbox

Revision ID: 100da6a98b97
Revises:
Create Date: 2026-11-22 02:25:07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "100da6a98b97"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # A no-op where an administrator created it already (external servers often need a superuser for this).
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("job", sa.String(length=100), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("queue", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_pending", "outbox", ["id"], postgresql_where=sa.text("enqueued_at IS NULL"))
    op.create_index("ix_outbox_unfinished", "outbox", ["enqueued_at"], postgresql_where=sa.text("done_at IS NULL"))


def downgrade():
    op.drop_index("ix_outbox_unfinished", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
