"""facility names per owner, and server-side login sessions

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# SQLite keeps 0004's unique constraint on facilities.name unnamed: batch mode names it so it can be dropped.
NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_name_constraint() -> str:
    return "facilities_name_key" if op.get_context().dialect.name == "postgresql" else "uq_facilities_name"


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id_token", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_sessions_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("facilities", schema=None, naming_convention=NAMES) as batch_op:
        batch_op.drop_constraint(_old_name_constraint(), type_="unique")
        batch_op.create_unique_constraint("uq_facilities_owner_id", ["owner_id", "name"])
        batch_op.create_index(
            "uq_facilities_public_name",
            ["name"],
            unique=True,
            sqlite_where=sa.text("owner_id IS NULL"),
            postgresql_where=sa.text("owner_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("facilities", schema=None, naming_convention=NAMES) as batch_op:
        batch_op.drop_index("uq_facilities_public_name")
        batch_op.drop_constraint("uq_facilities_owner_id", type_="unique")
        batch_op.create_unique_constraint(_old_name_constraint(), ["name"])
    with op.batch_alter_table("login_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_sessions_user_id"))
    op.drop_table("login_sessions")
