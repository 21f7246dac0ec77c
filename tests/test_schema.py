"""Migrations: applying them gives exactly the tables the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from esap_core import schema
from esap_core.db import make_engine
from esap_core.models import Base
from esap_core.schema import compared_by_alembic


def test_migrations_match_the_models(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": compared_by_alembic})
            differences = compare_metadata(context, Base.metadata)
        assert differences == []
        assert schema.is_current(engine)
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url):
    engine = make_engine(database_url)
    try:
        schema.upgrade(engine)
        assert schema.is_current(engine)
    finally:
        engine.dispose()
