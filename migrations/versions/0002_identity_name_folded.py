"""identities.name_folded: the name as name searches compare it (Unicode case folding on every database).

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.names import fold

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("name_folded", sa.Text(), nullable=True))
    identities = sa.table("identities", sa.column("id"), sa.column("name"), sa.column("name_folded"))
    connection = op.get_bind()
    rows = connection.execute(sa.select(identities.c.id, identities.c.name)).all()
    if rows:
        connection.execute(
            identities.update().where(identities.c.id == sa.bindparam("row_id")),
            [{"row_id": row_id, "name_folded": fold(name)} for row_id, name in rows],
        )
    with op.batch_alter_table("identities") as batch:
        batch.alter_column("name_folded", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("name_folded")
