"""Alembic environment: runs migrations on the connection that ``esap_core.schema`` hands over."""

from alembic import context

from esap_core import models  # noqa: F401  (registers the tables on Base.metadata)
from esap_core.db import Base, UTCDateTime


def render_item(kind, item, autogen_context):
    # Migrations describe the database, where UTCDateTime is a plain timezone-aware DateTime.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item)
with context.begin_transaction():
    context.run_migrations()
