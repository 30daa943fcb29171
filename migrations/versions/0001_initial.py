"""Initial schema: identities, faces, api_keys, change_log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("external_id", name="uq_identities_external_id"),
    )
    op.create_index("ix_identities_name", "identities", ["name"])
    op.create_table(
        "faces",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("embedder", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("det_score", sa.Float(), nullable=False),
        sa.Column("box", sa.JSON(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("crop_jpeg", sa.LargeBinary(), nullable=True),
        sa.Column("image_sha256", sa.String(64), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_faces"),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["identities.id"],
            name="fk_faces_identity_id_identities",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("identity_id", "image_sha256", "embedder", name="uq_faces_identity_image_embedder"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_faces_identity_id", "faces", ["identity_id"])
    op.create_index("ix_faces_embedder", "faces", ["embedder"])
    op.create_table(
        "api_keys",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.CheckConstraint("role IN ('admin', 'client')", name="ck_api_keys_role"),
    )
    op.create_table(
        "change_log",
        sa.Column("seq", BigId, primary_key=True),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("face_id", sa.BigInteger(), nullable=False),
        sa.Column("embedder", sa.String(128), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("seq", name="pk_change_log"),
        sa.CheckConstraint("op IN ('add', 'remove')", name="ck_change_log_op"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("change_log")
    op.drop_table("api_keys")
    op.drop_index("ix_faces_embedder", table_name="faces")
    op.drop_index("ix_faces_identity_id", table_name="faces")
    op.drop_table("faces")
    op.drop_index("ix_identities_name", table_name="identities")
    op.drop_table("identities")
