"""launch clusters: the cluster a launch started (beside its session, or on its own) and its state

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("launches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cluster", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column("cluster_state", sa.String(length=20), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_launches_cluster_state"), ["cluster_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("launches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_launches_cluster_state"))
        batch_op.drop_column("cluster_state")
        batch_op.drop_column("cluster")
