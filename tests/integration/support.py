"""Helpers the integration tests share: quick users, signing in, row counts, a SQL statement
counter."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Table, event, func, select

from conduit.auth import service as auth
from conduit.core.audit import UNKNOWN_CLIENT
from conduit.core.db import Database
from conduit.core.security import TokenCodec, hash_password
from conduit.users import repository as users_repository
from conduit.users.models import Account
from tests.conftest import TEST_SECRET

PASSWORD = "password123"


@functools.cache
def password_hash() -> str:
    """One argon2 hash of PASSWORD for the whole run (argon2 is slow on purpose)."""
    return hash_password(PASSWORD)


async def make_user(db: Database, username: str, email: str | None = None) -> int:
    """Insert a user straight through the repository (no per-user hashing); returns the id."""
    async with db.uow() as uow:
        user_id = await users_repository.add(
            uow.conn,
            username=username,
            email=email or f"{username}@conduit.test",
            password_hash=password_hash(),
        )
        await uow.commit()
    return user_id


async def log_in(db: Database, *, email: str, password: str) -> Account:
    """Sign in as users do, through auth.service.login (the ban check, the audit record, a
    new session); the account the credentials opened."""
    signed_in = await auth.login(
        db,
        email=email,
        password=password,
        client=UNKNOWN_CLIENT,
        tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=3600),
        refresh_ttl_seconds=3600,
    )
    return signed_in.account


async def count_rows(db: Database, table: Table, *where: ColumnElement[bool]) -> int:
    """How many rows of ``table`` match ``where``, read in a fresh connection."""
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def fetch_all(db: Database, query: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(query)).all())


class StatementLog:
    """The SQL statements an engine sent to the database while it was listening."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def clear(self) -> None:
        self.statements.clear()

    def __repr__(self) -> str:
        listing = "\n".join(f"  {n}. {s}" for n, s in enumerate(self.statements, 1))
        return f"{self.count} statements:\n{listing}"


@contextmanager
def count_statements(db: Database) -> Iterator[StatementLog]:
    """Record every statement sent through ``db``'s engines inside the block."""
    log = StatementLog()

    def before_cursor_execute(
        _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
    ) -> None:
        log.statements.append(" ".join(statement.split()))

    targets = {db.engine.sync_engine, db.read_engine.sync_engine}
    for target in targets:
        event.listen(target, "before_cursor_execute", before_cursor_execute)
    try:
        yield log
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", before_cursor_execute)
