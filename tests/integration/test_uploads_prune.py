"""Pruning uploads: old ones nothing refers to go (rows and objects); avatars, images linked
from an article, young uploads stay. Also through ``conduit uploads prune``."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from conduit.adapters.local_storage import LocalStorage
from conduit.core.db import Database
from conduit.core.tables import utcnow
from conduit.entrypoints.cli.main import app
from conduit.settings import Settings
from conduit.uploads import service
from conduit.uploads.models import uploads
from conduit.users.models import users
from tests import images
from tests.conftest import TEST_SECRET
from tests.helpers import auth, create_article, register

DAY = dt.timedelta(hours=24)


@pytest.fixture(autouse=True)
def keep_logging_configuration() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


async def _upload(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.post(
        "/uploads", files={"image": ("a.png", images.png(), "image/png")}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()["upload"]
    return body


async def _avatar(client: httpx.AsyncClient, token: str) -> str:
    response = await client.post(
        "/user/image", files={"image": ("a.gif", images.gif(), "image/gif")}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["user"]["image"]
    return url


def _key(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def _age_all(db: Database, by: dt.timedelta) -> None:
    async with db.uow() as uow:
        await uow.conn.execute(update(uploads).values(created_at=utcnow() - by))
        await uow.commit()


async def _keys(db: Database) -> set[str]:
    async with db.reader() as uow:
        return set((await uow.conn.execute(select(uploads.c.key))).scalars())


def _files(settings: Settings) -> set[str]:
    folder = Path(settings.data_dir) / "media"
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    return LocalStorage(Path(settings.data_dir) / "media")


async def test_old_unreferenced_uploads_are_pruned_the_others_kept(
    client: httpx.AsyncClient, db: Database, settings: Settings, storage: LocalStorage
) -> None:
    writer = await register(client, "writer")
    orphan = await _upload(client, writer)
    in_body = await _upload(client, writer)
    thumb_in_body = await _upload(client, writer)
    avatar = await _avatar(client, writer)
    await create_article(
        client,
        writer,
        title="Pictures",
        body=f"![a](http://cdn.example.com{in_body['url']}) "
        f"and ![b]({thumb_in_body['thumbnailUrl']})",
    )
    await _age_all(db, DAY + dt.timedelta(minutes=1))
    young = await _upload(client, writer)
    assert len(_files(settings)) == 10

    pruned = await service.prune(db, storage, older_than=DAY)

    assert pruned == 1
    kept = {_key(in_body["url"]), _key(thumb_in_body["url"]), _key(avatar), _key(young["url"])}
    assert await _keys(db) == kept
    assert _files(settings) == kept | {key.replace(".", ".thumb.", 1) for key in kept}
    assert (await client.get("http://conduit.test" + orphan["url"])).status_code == 404
    assert (await service.prune(db, storage, older_than=DAY)) == 0


async def test_uploads_of_a_deleted_user_are_pruned(
    client: httpx.AsyncClient, db: Database, settings: Settings, storage: LocalStorage
) -> None:
    leaving = await register(client, "leaving")
    staying = await register(client, "staying")
    await _avatar(client, leaving)
    await create_article(client, leaving, title="Bye", body=(await _upload(client, leaving))["url"])
    kept = await _avatar(client, staying)
    async with db.uow() as uow:
        await uow.conn.execute(delete(users).where(users.c.username == "leaving"))
        await uow.commit()
    async with db.reader() as uow:
        owners = list((await uow.conn.execute(select(uploads.c.owner_id))).scalars())
    assert owners.count(None) == 2  # the owner is forgotten, the rows wait for prune
    assert len(owners) == 3
    await _age_all(db, 2 * DAY)

    assert await service.prune(db, storage, older_than=DAY) == 2
    assert await _keys(db) == {_key(kept)}
    assert len(_files(settings)) == 2


async def test_many_uploads_are_pruned_in_batches(
    client: httpx.AsyncClient, db: Database, storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "PRUNE_BATCH", 2)
    token = await register(client, "prolific")
    kept = await _avatar(client, token)
    for _ in range(4):
        await _upload(client, token)
    await _age_all(db, 2 * DAY)
    assert await service.prune(db, storage, older_than=DAY) == 4
    assert await _keys(db) == {_key(kept)}


async def test_the_prune_command(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await register(client, "commander")
    await _upload(client, token)
    await _age_all(db, dt.timedelta(hours=3))
    for name in list(os.environ):
        if name.startswith("CONDUIT_"):
            monkeypatch.delenv(name)
    env = {
        "CONDUIT_DATABASE_URL": database_url,
        "CONDUIT_DATA_DIR": str(settings.data_dir),
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner()
    command = ["uploads", "prune", "--older-than-hours"]
    result = await asyncio.to_thread(runner.invoke, app, [*command, "4"], env=env)
    assert result.exit_code == 0, result.output
    assert "Pruned 0 uploads." in result.output
    result = await asyncio.to_thread(runner.invoke, app, [*command, "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "Pruned 1 upload." in result.output
    assert await _keys(db) == set()
    assert _files(settings) == set()
