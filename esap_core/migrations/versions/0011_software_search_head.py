"""software search head: on PostgreSQL, a second tsvector of the name, keywords and authors only

A search that matches more than ``catalogue.search.COUNTED`` records ranks those with a word in
these fields first; their small vector and its GIN index find and rank them without reading the
whole record's vector. SQLite's FTS5 table already keeps these columns apart (a column filter).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

HEAD_WEIGHTS = {"name": "A", "keywords": "B", "authors": "C"}  # as in software_fts (migration 0005)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    parts = " || ".join(
        f"setweight(to_tsvector('english', coalesce({column}::text, '')), '{weight}')"
        for column, weight in HEAD_WEIGHTS.items()
    )
    op.execute(f"ALTER TABLE software ADD COLUMN software_head tsvector GENERATED ALWAYS AS ({parts}) STORED")
    op.execute("CREATE INDEX ix_software_head ON software USING gin (software_head)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_software_head")
        op.execute("ALTER TABLE software DROP COLUMN IF EXISTS software_head")
