"""The reuse grace period of refresh tokens (CONDUIT_REFRESH_REUSE_GRACE_SECONDS): two tabs
refreshing at once both go on with the one successor; a copy presented later still ends the
session; with 0 the loser of a race is reuse, as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from conduit.auth.audit import REFRESH_REUSED
from conduit.auth.models import refresh_tokens, sessions
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.api.support import assert_error
from tests.api.test_sessions import (
    audit_rows,
    current_status,
    exchanged_long_ago,
    refresh,
    refresh_token_of,
    signup,
)


def client_with(
    db: Database, settings: Settings, tokens: TokenCodec, grace: int
) -> httpx.AsyncClient:
    configured = settings.model_copy(update={"refresh_reuse_grace_seconds": grace})
    app = create_app(container=Container(settings=configured, db=db, tokens=tokens))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://conduit.test/api"
    )


@pytest.fixture
async def no_grace(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_with(db, settings, tokens, 0) as http:
        yield http


def test_the_grace_period_is_a_few_seconds_by_default() -> None:
    assert Settings.model_fields["refresh_reuse_grace_seconds"].default == 10


async def test_a_token_presented_again_within_the_grace_answers_the_same_successor(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = refresh_token_of(await signup(client, "alice"))
    rotated = await refresh(client, first)
    assert rotated.status_code == 200, rotated.text
    again = await refresh(client, first)  # a slow tab, a moment later
    assert again.status_code == 200, again.text
    assert refresh_token_of(again) == refresh_token_of(rotated)
    assert await current_status(client, again.json()["user"]["token"]) == 200
    assert await audit_rows(db, REFRESH_REUSED) == []
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(sessions.c.revoked_at))).scalar_one() is None
        assert len(list(await conn.execute(select(refresh_tokens)))) == 2


async def test_a_token_presented_again_after_the_grace_revokes_the_family(
    client: httpx.AsyncClient, db: Database
) -> None:
    first = refresh_token_of(await signup(client, "alice"))
    rotated = await refresh(client, first)
    newest = refresh_token_of(rotated)
    await exchanged_long_ago(db, seconds=11)  # just past the default 10 s

    assert_error(await refresh(client, first), 401, {"refresh token": ["has been revoked"]})
    assert_error(await refresh(client, newest), 401)
    assert await current_status(client, rotated.json()["user"]["token"]) == 401
    assert len(await audit_rows(db, REFRESH_REUSED)) == 1


async def test_within_the_grace_a_successor_already_exchanged_is_not_handed_out(
    client: httpx.AsyncClient, db: Database
) -> None:
    """The family moved on (the successor was exchanged too): the old token is a copy."""
    first = refresh_token_of(await signup(client, "alice"))
    second = refresh_token_of(await refresh(client, first))
    assert (await refresh(client, second)).status_code == 200
    assert_error(await refresh(client, first), 401, {"refresh token": ["has been revoked"]})
    assert len(await audit_rows(db, REFRESH_REUSED)) == 1


async def test_concurrent_refreshes_many_tabs_one_successor(
    client: httpx.AsyncClient, db: Database
) -> None:
    cookie = refresh_token_of(await signup(client, "alice"))
    results = await asyncio.gather(*(refresh(client, cookie) for _ in range(4)))
    assert [response.status_code for response in results] == [200] * 4
    assert len({refresh_token_of(response) for response in results}) == 1
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(sessions.c.revoked_at))).scalar_one() is None


async def test_with_no_grace_the_loser_of_a_race_ends_the_session(
    no_grace: httpx.AsyncClient, db: Database
) -> None:
    cookie = refresh_token_of(await signup(no_grace, "alice"))
    results = await asyncio.gather(*(refresh(no_grace, cookie) for _ in range(2)))
    assert sorted(response.status_code for response in results) == [200, 401]
    async with db.engine.connect() as conn:
        session = (await conn.execute(select(sessions))).one()
    assert session.revoked_reason == "reuse"
    # And presenting it again a moment later is reuse as well.
    other = refresh_token_of(await signup(no_grace, "bob"))
    assert (await refresh(no_grace, other)).status_code == 200
    assert_error(await refresh(no_grace, other), 401, {"refresh token": ["has been revoked"]})
