"""software and basket items

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "software",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("repository_url", sa.String(length=1000), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("doi", sa.String(length=255), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("runtime_platform", sa.String(length=255), nullable=False),
        sa.Column("ui_type", sa.String(length=20), nullable=False),
        sa.Column("licence", sa.String(length=255), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("harvested", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "external_id", "owner_id"),
    )
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_software_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "basket_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("archive", sa.String(length=100), nullable=False),
        sa.Column("identifier", sa.String(length=1000), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("fetch", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("software_id", sa.Integer(), nullable=True),
        sa.Column("added", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["software_id"], ["software.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "archive", "identifier"),
    )
    with op.batch_alter_table("basket_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_basket_items_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("basket_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_basket_items_user_id"))

    op.drop_table("basket_items")
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_software_owner_id"))

    op.drop_table("software")
