"""every refresh token a session rotated away from, so that any of them coming back is theft

Revision ID: 0035
Revises: 0030
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rotated_refresh_tokens",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("rotated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_rotated_refresh_tokens_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_rotated_refresh_tokens")),
    )
    with op.batch_alter_table("rotated_refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rotated_refresh_tokens_session_id"), ["session_id"], unique=False
        )
    # The one earlier token each session remembered so far joins its family, so reuse of it
    # is still recognised after the upgrade.
    op.execute(
        "INSERT INTO rotated_refresh_tokens (hash, session_id, rotated_at) "
        "SELECT previous_refresh_hash, id, COALESCE(refreshed_at, created_at) FROM sessions "
        "WHERE previous_refresh_hash IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("rotated_refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rotated_refresh_tokens_session_id"))
    op.drop_table("rotated_refresh_tokens")
