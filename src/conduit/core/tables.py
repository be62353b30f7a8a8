"""The table base every feature's tables are declared on, and the column types they share.

Naive UTC timestamps with microseconds, MariaDB tables in ``utf8mb4`` with a binary
collation (uniqueness case-sensitive as on PostgreSQL and SQLite), and one naming
convention for constraints so that migrations name them the same on every database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, MetaData
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Timestamps are naive UTC with microseconds on every database (MariaDB needs fsp=6).
Timestamp = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# MariaDB: utf8mb4 for emoji, binary collation so that uniqueness is case-sensitive
# exactly as on PostgreSQL and SQLite.
TABLE_ARGS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mariadb_engine": "InnoDB",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, as the naive UTC timestamp every table stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
