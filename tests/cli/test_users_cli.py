"""``conduit users grant|revoke`` through Typer's CliRunner, on a throw-away SQLite file."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import select
from typer.testing import CliRunner, Result

from conduit import migrations
from conduit.admin.audit import ROLE_GRANTED, ROLE_REVOKED
from conduit.bootstrap import Container
from conduit.core import audit
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec, hash_password
from conduit.entrypoints.api import create_app
from conduit.entrypoints.cli.main import app
from conduit.settings import Settings
from conduit.users import repository
from tests.conftest import TEST_SECRET
from tests.helpers import auth


@pytest.fixture(autouse=True)
def keep_logging_configuration() -> Iterator[None]:
    """Commands configure logging onto CliRunner's stderr, closed after each run: restore it."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated SQLite file with the users alice and bob; no CONDUIT_* from outside."""
    for name in list(os.environ):
        if name.startswith("CONDUIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "conduit.db"
    migrations.upgrade(url(path))

    async def add_users() -> None:
        db = Database(create_engine(url(path)))
        try:
            async with db.uow() as uow:
                for name in ("alice", "bob"):
                    await repository.add(
                        uow.conn,
                        username=name,
                        email=f"{name}@conduit.test",
                        password_hash=hash_password("password123"),
                    )
                await uow.commit()
        finally:
            await db.dispose()

    asyncio.run(add_users())
    return path


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


def run(path: Path, *args: str) -> Result:
    env = {
        "CONDUIT_DATABASE_URL": url(path),
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_LOG_JSON": "true",
        "CONDUIT_LOG_LEVEL": "WARNING",
    }
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


async def roles_and_audit(path: Path) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    db = Database(create_engine(url(path)))
    try:
        async with db.reader() as uow:
            roles = {}
            for name in ("alice", "bob"):
                account = await repository.get_by_username(uow.conn, name)
                assert account is not None
                roles[name] = sorted(account.roles)
            rows = await uow.conn.execute(
                select(audit.audit_log.c.type, audit.audit_log.c.details).order_by(
                    audit.audit_log.c.id
                )
            )
            records = [(kind, json.loads(details)["role"]) for kind, details in rows]
        return roles, records
    finally:
        await db.dispose()


async def use_the_admin_api(path: Path) -> tuple[int, dict[str, object]]:
    """Start the app on the file (as `conduit serve` does) and make bob a moderator as alice."""
    settings = Settings(
        environment="test",
        database_url=url(path),
        secret_key=TEST_SECRET,
        data_dir=path.parent,
        auto_migrate=False,
        log_json=True,
        log_level="WARNING",
    )
    tokens = TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
    container = Container(settings=settings, db=Database(create_engine(url(path))), tokens=tokens)
    api = create_app(container=container)
    transport = httpx.ASGITransport(app=api)
    async with (
        api.router.lifespan_context(api),
        httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as client,
    ):
        login = await client.post(
            "/users/login",
            json={"user": {"email": "alice@conduit.test", "password": "password123"}},
        )
        assert login.json()["user"]["roles"] == ["admin", "user"]
        token = login.json()["user"]["token"]
        response = await client.put(
            "/admin/users/bob", json={"user": {"roles": ["moderator"]}}, headers=auth(token)
        )
        return response.status_code, response.json()


def test_grant_makes_the_first_admin_who_can_use_the_admin_api(database: Path) -> None:
    result = run(database, "users", "grant", "alice", "admin")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "alice now has roles: admin, user"
    roles, records = asyncio.run(roles_and_audit(database))
    assert roles == {"alice": ["admin", "user"], "bob": ["user"]}
    assert records == [(ROLE_GRANTED, "admin")]

    status, body = asyncio.run(use_the_admin_api(database))
    assert status == 200, body
    assert body["user"] == {
        "username": "bob",
        "email": "bob@conduit.test",
        "roles": ["moderator", "user"],
        "banned": False,
    }


def test_revoke_takes_the_role_back_and_repeating_changes_nothing(database: Path) -> None:
    assert run(database, "users", "grant", "bob", "moderator").exit_code == 0
    again = run(database, "users", "grant", "bob", "moderator")
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "bob now has roles: moderator, user"
    revoked = run(database, "users", "revoke", "bob", "moderator")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == "bob now has roles: user"
    assert run(database, "users", "revoke", "bob", "moderator").exit_code == 0
    roles, records = asyncio.run(roles_and_audit(database))
    assert roles == {"alice": ["user"], "bob": ["user"]}
    assert records == [(ROLE_GRANTED, "moderator"), (ROLE_REVOKED, "moderator")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant", "nobody", "admin"), "Cannot grant 'admin': user 'nobody' not found."),
        (("revoke", "nobody", "admin"), "Cannot revoke 'admin': user 'nobody' not found."),
        (("grant", "alice", "boss"), "Cannot grant 'boss': role 'boss' must be one of"),
        (
            ("revoke", "alice", "user"),
            "Cannot revoke 'user': role 'user' is everyone's and cannot be revoked.",
        ),
    ],
)
def test_unknown_users_and_roles_exit_1(
    database: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(database, "users", *args)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    roles, records = asyncio.run(roles_and_audit(database))
    assert roles == {"alice": ["user"], "bob": ["user"]}
    assert records == []
