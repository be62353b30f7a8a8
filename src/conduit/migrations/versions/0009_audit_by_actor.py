"""The audit log by actor: an index for the console's "what did this moderator do" filter.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_actor_id_id", "audit_log", ["actor_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_id_id", table_name="audit_log")
