"""SQLite: identities and api_keys get AUTOINCREMENT, so a deleted id is never handed out again.

Without it SQLite gives a new row the largest id + 1, i.e. the id of the identity deleted last, and a client
still holding that id reaches another person. Postgres sequences never reuse a value: nothing to do there.
An id deleted before this upgrade above the largest id still stored cannot be known, so it is not reserved.

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("identities", "api_keys")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:  # copies the rows with their ids: the table's counter starts at the largest one
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
