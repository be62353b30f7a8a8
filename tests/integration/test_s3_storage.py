"""The S3 storage adapter against a real S3 server (SeaweedFS, started for these tests),
and the whole upload flow through the API with CONDUIT_STORAGE_URL=s3://bucket."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conduit.adapters.s3_storage import S3Storage
from conduit.bootstrap import Container, file_storage
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests import images, s3_server
from tests.conftest import TEST_SECRET
from tests.helpers import auth, register

KEY = "0123456789abcdef0123456789abcdef.png"


@pytest.fixture(scope="session")
def s3() -> Iterator[s3_server.S3Server]:
    server = s3_server.start()
    print(f"SeaweedFS S3 ready in {server.started_in_seconds:.1f}s at {server.endpoint_url}")
    try:
        yield server
    finally:
        server.stop()


def s3_settings(server: s3_server.S3Server, **more: object) -> Settings:
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        storage_url=f"s3://{s3_server.BUCKET}",
        s3_endpoint_url=server.endpoint_url,
        s3_region="us-east-1",
        s3_access_key_id=s3_server.ACCESS_KEY,
        s3_secret_access_key=s3_server.SECRET_KEY,
        s3_url_ttl_seconds=300,
        log_json=True,
        log_level="WARNING",
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
async def storage(s3: s3_server.S3Server) -> AsyncIterator[S3Storage]:
    chosen = file_storage(s3_settings(s3))
    assert isinstance(chosen, S3Storage)
    try:
        yield chosen
    finally:
        await chosen.close()


async def test_put_get_url_delete(storage: S3Storage) -> None:
    data = images.png()
    await storage.put(KEY, data, "image/png")
    stored = await storage.get(KEY)
    assert stored is not None
    assert (stored.data, stored.content_type) == (data, "image/png")

    url = await storage.url(KEY)
    assert "X-Amz-Signature=" in url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
        assert fetched.status_code == 200
        assert fetched.content == data
        assert fetched.headers["content-type"] == "image/png"
        # The signature covers the key: another key with the same query is refused.
        other = url.replace(KEY, KEY.replace("0123", "4567"))
        assert (await http.get(other)).status_code == 403
        # Without a signature the bucket is not readable.
        assert (await http.get(url.split("?")[0])).status_code == 403

    await storage.delete(KEY)
    assert await storage.get(KEY) is None
    await storage.delete(KEY)  # deleting a missing object is no error
    async with httpx.AsyncClient() as http:
        assert (await http.get(await storage.url(KEY))).status_code == 404


async def test_invalid_keys_name_nothing(storage: S3Storage) -> None:
    assert await storage.get("../secret") is None
    assert await storage.get("a/b.png") is None


@pytest.fixture
async def s3_client(
    s3: s3_server.S3Server, database_url: str, db: Database, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    settings = s3_settings(s3, database_url=database_url, data_dir=tmp_path, auto_migrate=False)
    container = Container(
        settings=settings, db=db, tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
    )
    assert isinstance(container.storage, S3Storage)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as c:
            yield c, container
    finally:
        await container.storage.close()


async def test_upload_and_avatar_through_the_api(
    s3_client: tuple[httpx.AsyncClient, Container], tmp_path: Path
) -> None:
    client, container = s3_client
    token = await register(client, "cloudy")
    response = await client.post(
        "/uploads",
        files={"image": ("p.jpg", images.jpeg_with_gps(), "image/jpeg")},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    body = response.json()["upload"]
    assert body["url"].startswith("/media/")

    # /media/{key} sends the client to a presigned URL of the bucket.
    media = await client.get("http://conduit.test" + body["url"])
    assert media.status_code == 302
    location = media.headers["location"]
    endpoint = container.settings.s3_endpoint_url
    assert endpoint is not None
    assert location.startswith(f"{endpoint}/{s3_server.BUCKET}/")
    assert media.headers["cache-control"] == "private, max-age=60"
    async with httpx.AsyncClient() as http:
        fetched = await http.get(location)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/jpeg"
    assert b"SpyCam" not in fetched.content
    assert Image.open(io.BytesIO(fetched.content)).size == (640, 480)
    thumbnail_key = body["thumbnailUrl"].rsplit("/", 1)[1]
    thumbnail = await container.storage.get(thumbnail_key)
    assert thumbnail is not None
    assert max(Image.open(io.BytesIO(thumbnail.data)).size) == 256
    # Nothing went to the local folder.
    assert not (tmp_path / "media").exists()

    first = await client.post(
        "/user/image", files={"image": ("a.png", images.png(), "image/png")}, headers=auth(token)
    )
    assert first.status_code == 200, first.text
    first_key = first.json()["user"]["image"].rsplit("/", 1)[1]
    assert await container.storage.get(first_key) is not None
    second = await client.post(
        "/user/image", files={"image": ("b.gif", images.gif(), "image/gif")}, headers=auth(token)
    )
    assert second.status_code == 200, second.text
    second_key = second.json()["user"]["image"].rsplit("/", 1)[1]
    assert await container.storage.get(second_key) is not None
    assert await container.storage.get(first_key) is None
    assert await container.storage.get(first_key.replace(".png", ".thumb.png")) is None


async def test_missing_media_redirects_to_a_404_of_the_bucket(
    s3_client: tuple[httpx.AsyncClient, Container],
) -> None:
    client, _ = s3_client
    response = await client.get(f"http://conduit.test/media/{KEY}")
    assert response.status_code == 302
    async with httpx.AsyncClient() as http:
        assert (await http.get(response.headers["location"])).status_code == 404
    response = await client.get("http://conduit.test/media/..%2Fx")
    assert response.status_code == 404


async def test_an_unreachable_store_answers_503(
    s3: s3_server.S3Server, database_url: str, db: Database, tmp_path: Path
) -> None:
    (port,) = s3_server._free_ports(1)  # nothing listens there
    settings = s3_settings(s3, database_url=database_url, data_dir=tmp_path, auto_migrate=False)
    settings = settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{port}"})
    container = Container(
        settings=settings, db=db, tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
    )
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as c:
            token = await register(c, "stranded")
            response = await c.post(
                "/uploads",
                files={"image": ("a.png", images.png(), "image/png")},
                headers=auth(token),
            )
    finally:
        await container.storage.close()
    assert response.status_code == 503
    assert response.json() == {"errors": {"storage": ["is unavailable"]}}
