"""Alembic environment: migrates the URL passed by service.db.migrate, else FACEVER_DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from service.config import Settings
from service.db.engine import WRITE_OPTIONS, lock_writes, make_engine
from service.db.models import Base

config = context.config
# only the `alembic` command line configures logging; library callers keep their own
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations_offline() -> None:
    """Emit SQL to stdout (`alembic upgrade head --sql`)."""
    context.configure(
        url=config.attributes.get("url") or Settings().database_url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.attributes.get("url") or Settings().database_url)
    try:
        # the write lock makes workers that start at once migrate one after the other
        with engine.connect().execution_options(**WRITE_OPTIONS) as connection:
            # batch mode lets later ALTERs work on SQLite (it rebuilds the table)
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                lock_writes(connection)
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
