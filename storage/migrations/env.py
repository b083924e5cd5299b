"""Alembic environment: the engine comes from crmbot (config.attributes["engine"])."""

from __future__ import annotations

from alembic import context

from storage.models import Base, UTCDateTime


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # migrations must not import crmbot's models: render our UTC wrapper as a plain aware DateTime
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
engine = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand: use crmbot's configured database
    from bot.settings import load_settings
    from storage.db import create_db_engine

    engine = create_db_engine(load_settings().database_url)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
