"""Alembic environment: migrates the URL passed by service.db.migrate, else FACEVER_DATABASE_URL."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

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


def _sqlite_foreign_keys_off(connection: Connection) -> None:
    """Rebuilding a table (batch mode) drops the old one: with foreign keys on, SQLite would cascade that to
    the rows referring to it (an identity's faces). The pragma only takes effect outside a transaction."""
    if connection.dialect.name == "sqlite":
        connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")


def _check_foreign_keys(connection: Connection) -> None:
    """Refuse (roll back) a SQLite migration that left a row pointing nowhere, as foreign keys would have."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


def run_migrations_online() -> None:
    engine = make_engine(config.attributes.get("url") or Settings().database_url)
    try:
        # the write lock makes workers that start at once migrate one after the other
        with engine.connect().execution_options(**WRITE_OPTIONS) as connection:
            # batch mode lets later ALTERs work on SQLite (it rebuilds the table)
            context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
            _sqlite_foreign_keys_off(connection)
            with context.begin_transaction():
                lock_writes(connection)
                context.run_migrations()
                _check_foreign_keys(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
