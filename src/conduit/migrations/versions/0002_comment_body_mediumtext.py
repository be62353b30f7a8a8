"""Comment bodies as MEDIUMTEXT on MariaDB/MySQL.

TEXT holds 65,535 bytes there: a comment of 20,000 four-byte characters (emoji), which the
API accepts, did not fit. PostgreSQL and SQLite text has no such limit; nothing changes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 22:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _is_mysql() -> bool:
    return op.get_bind().dialect.name in ("mysql", "mariadb")


def upgrade() -> None:
    if _is_mysql():
        op.alter_column(
            "comments",
            "body",
            type_=mysql.MEDIUMTEXT(),
            existing_type=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    if _is_mysql():
        op.alter_column(
            "comments",
            "body",
            type_=sa.Text(),
            existing_type=mysql.MEDIUMTEXT(),
            existing_nullable=False,
        )
