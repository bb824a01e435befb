"""index sessions.ended_at: every instance and verifier loads the recently ended sessions at start

Revision ID: 0055
Revises: 0050
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0055"
down_revision: str | None = "0050"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sessions_ended_at"), ["ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sessions_ended_at"))
