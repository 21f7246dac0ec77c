"""Schema migrations with Alembic: ``esap db upgrade``, and at start in the embedded mode."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def compared_by_alembic(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name``: False for the full-text index objects that models cannot declare.

    Use it wherever the models are compared with the database (autogenerate, the schema test), so the
    FTS5 tables, the tsvector columns and their indexes are not taken for leftovers to drop.
    """
    return not any(part in (name or "") for part in ("software_fts", "software_head"))


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def revision(engine: Engine, message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)


def is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head
