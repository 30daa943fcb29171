"""Schema migrations from code: upgrade, downgrade, check, and the start-up policy."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from service.config import REPO_ROOT, Settings
from service.db.engine import make_engine, normalize_url
from service.errors import ErrorCode, FaceverError

# found through the package's location, so migrations run from any working directory
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for `url` without alembic.ini (migrations/env.py reads `attributes`)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def is_up_to_date(engine: Engine) -> bool:
    return current_revisions(engine) == head_revisions()


def ensure_migrated(settings: Settings) -> None:
    """Migrate the embedded SQLite database at start; refuse any other database not at head.

    `settings.database_auto_migrate` overrides the choice (True: always migrate, False: never).
    """
    url = normalize_url(settings.database_url)
    auto = settings.database_auto_migrate
    if auto is None:
        auto = url.get_backend_name() == "sqlite"
    if auto:
        upgrade(url.render_as_string(hide_password=False))
        return
    engine = make_engine(url)
    try:
        current, heads = current_revisions(engine), head_revisions()
    finally:
        engine.dispose()
    if current != heads:
        shown = url.render_as_string(hide_password=True)
        raise FaceverError(
            ErrorCode.database_not_migrated,
            f"database {shown} is at revision {sorted(current) or 'none (empty)'}, not at "
            f"{sorted(heads)}; run `facever db upgrade` (with the same FACEVER_DATABASE_URL) first",
            current=sorted(current),
            head=sorted(heads),
        )
