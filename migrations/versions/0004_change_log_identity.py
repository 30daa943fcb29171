"""change_log.identity_id: the identity each event's face belongs (or belonged) to.

Workers score identities by the mean of their faces' embeddings; on an event they recompute that identity's
template, and after a remove the face row is gone, so the event itself must name the identity. Add events of
faces still stored get it filled in; older events of deleted faces stay NULL (a worker replaying one rebuilds).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.add_column(sa.Column("identity_id", sa.BigInteger(), nullable=True))
    owner = sa.select(sa.column("identity_id")).select_from(sa.table("faces", sa.column("id"), sa.column("identity_id")))
    owner = owner.where(sa.column("id") == sa.literal_column("change_log.face_id")).scalar_subquery()
    op.execute(sa.table("change_log", sa.column("identity_id")).update().values(identity_id=owner))


def downgrade() -> None:
    with op.batch_alter_table("change_log") as batch:
        batch.drop_column("identity_id")
