"""software search: fingerprints, one public record per source and id, a full-text index

Revision ID: 0005
Revises: 0004

The full-text index differs per database: an FTS5 table kept in step by triggers on SQLite, a
generated ``tsvector`` column with a GIN index on PostgreSQL. Every object it adds has
``software_fts`` in its name (see ``esap_core.schema.compared_by_alembic``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The columns searched, as in the software table (authors and keywords are JSON text).
FTS_COLUMNS = (
    "name",
    "keywords",
    "authors",
    "runtime_platform",
    "description",
    "source",
    "ui_type",
    "repository_url",
    "doi",
    "licence",
    "version",
)
# PostgreSQL: the weight of each column in the ranking (A highest).
PG_WEIGHTS = {
    "name": "A",
    "keywords": "B",
    "authors": "C",
    "runtime_platform": "C",
    "description": "D",
    "source": "D",
    "ui_type": "D",
    "repository_url": "D",
    "doi": "D",
    "licence": "D",
    "version": "D",
}


def upgrade() -> None:
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=False, server_default=""))
    op.create_index(
        "uq_software_public",
        "software",
        ["source", "external_id"],
        unique=True,
        sqlite_where=sa.text("owner_id IS NULL"),
        postgresql_where=sa.text("owner_id IS NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_software_fts")
        op.execute("ALTER TABLE software DROP COLUMN IF EXISTS software_fts")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS software_fts_after_{event}")
        op.execute("DROP TABLE IF EXISTS software_fts")
    op.drop_index("uq_software_public", table_name="software")
    with op.batch_alter_table("software", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")


def _postgresql_upgrade() -> None:
    parts = " || ".join(
        f"setweight(to_tsvector('english', coalesce({column}::text, '')), '{weight}')"
        for column, weight in PG_WEIGHTS.items()
    )
    op.execute(f"ALTER TABLE software ADD COLUMN software_fts tsvector GENERATED ALWAYS AS ({parts}) STORED")
    op.execute("CREATE INDEX ix_software_fts ON software USING gin (software_fts)")


def _sqlite_upgrade() -> None:
    columns = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{column}" for column in FTS_COLUMNS)
    old = ", ".join(f"old.{column}" for column in FTS_COLUMNS)
    op.execute(
        f"CREATE VIRTUAL TABLE software_fts USING fts5({columns}, content='software', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER software_fts_after_insert AFTER INSERT ON software BEGIN "
        f"INSERT INTO software_fts(rowid, {columns}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER software_fts_after_delete AFTER DELETE ON software BEGIN "
        f"INSERT INTO software_fts(software_fts, rowid, {columns}) VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER software_fts_after_update AFTER UPDATE ON software BEGIN "
        f"INSERT INTO software_fts(software_fts, rowid, {columns}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO software_fts(rowid, {columns}) VALUES (new.id, {new}); END"
    )
    op.execute("INSERT INTO software_fts(software_fts) VALUES ('rebuild')")
