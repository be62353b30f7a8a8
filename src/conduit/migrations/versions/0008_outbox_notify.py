"""PostgreSQL: every event written to the outbox notifies ``conduit_outbox``.

A trigger after each inserted outbox row calls ``pg_notify('conduit_outbox', <type>)``.
PostgreSQL sends the notifications when the transaction commits (never for one rolled
back) and folds identical ones within a transaction, so a commit wakes the listeners once
per event type it wrote, whichever process made it (``conduit serve``, the worker, a CLI
command). The relays wake on any of them, the access-rules keepers on an access-rule
event type (``conduit.adapters.pg_notify``). Not described by the models (a trigger is no
table); nothing on SQLite and MariaDB, which have no ``NOTIFY``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_UP = [
    """CREATE OR REPLACE FUNCTION conduit_outbox_notify() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('conduit_outbox', NEW.type);
        RETURN NULL;
    END
    $$""",
    """CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION conduit_outbox_notify()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER IF EXISTS outbox_notify ON outbox",
    "DROP FUNCTION IF EXISTS conduit_outbox_notify()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
