"""Image uploads over HTTP: POST /user/image (avatar), POST /uploads, GET /media/{key}."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from conduit.core.db import Database
from conduit.uploads.images import MAX_BYTES, THUMBNAIL_SIDE
from tests import images
from tests.helpers import auth, register

MEDIA = "http://conduit.test/media/"


def files(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> Any:
    return {"image": (name, data, content_type)}


async def upload(client: httpx.AsyncClient, token: str, data: bytes, **kw: Any) -> httpx.Response:
    return await client.post("/uploads", files=files(data, **kw), headers=auth(token))


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    assert url.startswith("/media/"), url
    return await client.get("http://conduit.test" + url)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("make", "content_type", "image_format"),
    [
        (images.png, "image/png", "PNG"),
        (images.webp, "image/webp", "WEBP"),
        (images.gif, "image/gif", "GIF"),
        (lambda: images.jpeg_with_gps(300, 200), "image/jpeg", "JPEG"),
    ],
)
async def test_each_format_is_stored_with_a_thumbnail(
    client: httpx.AsyncClient, make: Any, content_type: str, image_format: str
) -> None:
    token = await register(client, "painter")
    # The declared name and type are ignored: the bytes decide.
    response = await upload(client, token, make(), name="x.txt", content_type="text/plain")
    assert response.status_code == 201, response.text
    body = response.json()["upload"]
    assert set(body) == {"url", "width", "height", "contentType", "size", "thumbnailUrl"}
    assert (body["width"], body["height"], body["contentType"]) == (300, 200, content_type)
    stored = await fetch(client, body["url"])
    assert stored.status_code == 200
    assert stored.headers["content-type"] == content_type
    assert len(stored.content) == body["size"]
    assert decoded(stored.content).format == image_format
    thumbnail = decoded((await fetch(client, body["thumbnailUrl"])).content)
    assert thumbnail.format == image_format
    assert thumbnail.size == (THUMBNAIL_SIDE, round(THUMBNAIL_SIDE * 200 / 300))


async def test_exif_and_gps_are_removed(client: httpx.AsyncClient) -> None:
    token = await register(client, "traveller")
    original = images.jpeg_with_gps()
    assert decoded(original).getexif().get_ifd(images.GPS_IFD)
    response = await upload(client, token, original)
    assert response.status_code == 201, response.text
    for link in ("url", "thumbnailUrl"):
        stored = (await fetch(client, response.json()["upload"][link])).content
        assert b"SpyCam" not in stored
        assert b"Exif" not in stored
        image = decoded(stored)
        assert dict(image.getexif()) == {}
        assert "exif" not in image.info


async def test_png_text_chunks_are_removed(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    response = await upload(client, token, images.png_with_text(), name="a.png")
    stored = (await fetch(client, response.json()["upload"]["url"])).content
    assert b"SecretAuthor" not in stored


async def test_a_large_image_is_scaled_for_its_thumbnail(client: httpx.AsyncClient) -> None:
    token = await register(client, "wide")
    response = await upload(client, token, images.png(1200, 300), name="a.png")
    body = response.json()["upload"]
    assert (body["width"], body["height"]) == (1200, 300)
    thumbnail = decoded((await fetch(client, body["thumbnailUrl"])).content)
    assert thumbnail.size == (256, 64)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(images.bmp(), id="bmp"),
        pytest.param(images.tiff(), id="tiff"),
        pytest.param(images.svg(), id="svg"),
        pytest.param(b"just some text, not an image", id="text"),
        pytest.param(images.truncated_jpeg(), id="truncated"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_what_is_not_an_accepted_image_is_refused(
    client: httpx.AsyncClient, data: bytes
) -> None:
    token = await register(client, "forger")
    response = await upload(client, token, data, name="photo.jpg", content_type="image/jpeg")
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["image"]


async def test_a_decompression_bomb_is_refused_from_its_header(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "bomber")
    bomb = images.png_bomb()
    assert len(bomb) < 100_000
    response = await upload(client, token, bomb, name="bomb.png", content_type="image/png")
    assert response.status_code == 422
    assert response.json() == {"errors": {"image": ["is too large (at most 40 megapixels)"]}}


async def test_over_five_mebibytes_answers_413(client: httpx.AsyncClient) -> None:
    token = await register(client, "hoarder")
    big = images.large_jpeg(5.05)
    assert len(big) > MAX_BYTES
    response = await upload(client, token, big)
    assert response.status_code == 413
    assert list(response.json()["errors"]) in (["image"], ["body"])
    # Far over: stopped by the body cap of the route while the body is read.
    huge = big + b"\0" * (1024 * 1024)
    response = await upload(client, token, huge)
    assert response.status_code == 413
    # Avatars too.
    response = await client.post("/user/image", files=files(big), headers=auth(token))
    assert response.status_code == 413


async def test_the_upload_routes_take_more_than_the_global_body_cap(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "photographer")
    photo = images.large_jpeg(2)  # over the 1 MiB cap of every other route
    response = await upload(client, token, photo)
    assert response.status_code == 201, response.text
    article = {"article": {"title": "t", "description": "d", "body": "x" * 1_100_000}}
    response = await client.post("/articles", json=article, headers=auth(token))
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        pytest.param({"files": {"other": ("a.png", images.png(), "image/png")}}, {}, id="no-field"),
        pytest.param({"data": {"image": "not a file"}}, {}, id="text-field"),
        pytest.param({"json": {"image": "x"}}, {}, id="json"),
        pytest.param(
            {"content": b"--x\r\nbroken"},
            {"Content-Type": "multipart/form-data; boundary=x"},
            id="broken-multipart",
        ),
        pytest.param({"content": images.png()}, {"Content-Type": "image/png"}, id="raw-body"),
    ],
)
async def test_a_body_without_an_image_field_answers_422(
    client: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> None:
    token = await register(client, "careless")
    for path in ("/uploads", "/user/image"):
        response = await client.post(path, **body, headers={**auth(token), **headers})
        assert response.status_code == 422, response.text
        assert list(response.json()["errors"]) == ["image"]


async def test_uploads_need_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/uploads", "/user/image"):
        response = await client.post(path, files=files(images.png()))
        assert response.status_code == 401
        assert list(response.json()["errors"]) == ["token"]
        response = await client.post(
            path, files=files(images.png()), headers={"Authorization": "Token nonsense"}
        )
        assert response.status_code == 401


async def test_an_avatar_becomes_the_users_image_and_replaces_the_old_one(
    client: httpx.AsyncClient, settings: Any
) -> None:
    token = await register(client, "vain")
    first = await client.post("/user/image", files=files(images.png()), headers=auth(token))
    assert first.status_code == 200, first.text
    current = await client.get("/user", headers=auth(token))
    assert first.json() == current.json()
    first_url = first.json()["user"]["image"]
    assert (await fetch(client, first_url)).status_code == 200
    profile = await client.get("/profiles/vain")
    assert profile.json()["profile"]["image"] == first_url

    second = await client.post(
        "/user/image", files=files(images.jpeg_with_gps()), headers=auth(token)
    )
    assert second.status_code == 200, second.text
    second_url = second.json()["user"]["image"]
    assert second_url != first_url
    assert (await fetch(client, second_url)).status_code == 200
    # The replaced avatar and its thumbnail are gone from the storage.
    assert (await fetch(client, first_url)).status_code == 404
    media = Path(settings.data_dir) / "media"
    stem = first_url.rsplit("/", 1)[1].split(".")[0]
    assert list(media.glob(f"{stem}*")) == []
    assert len(list(media.glob("*.jpg"))) == 2  # the new avatar and its thumbnail


async def test_an_avatar_from_elsewhere_is_left_alone(client: httpx.AsyncClient) -> None:
    vain = await register(client, "vain")
    other = await register(client, "other")
    theirs = (await upload(client, other, images.png())).json()["upload"]["url"]
    # vain points their image at someone else's upload, then uploads an avatar.
    response = await client.put("/user", json={"user": {"image": theirs}}, headers=auth(vain))
    assert response.status_code == 200
    response = await client.post("/user/image", files=files(images.png()), headers=auth(vain))
    assert response.status_code == 200
    assert (await fetch(client, theirs)).status_code == 200


async def test_media_headers(client: httpx.AsyncClient) -> None:
    token = await register(client, "header")
    url = (await upload(client, token, images.png(), name="a.png")).json()["upload"]["url"]
    response = await fetch(client, url)
    assert response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    # A frontend on another origin may show it; nothing in it runs.
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "path",
    [
        "/media/../secret_key",
        "/media/..%2Fsecret_key",
        "/media/..%2F..%2Fetc%2Fpasswd",
        "/media/%2e%2e/conduit_test.db",
        "/media/secret_key",
        "/media/0123456789abcdef0123456789abcdef.png",
        "/media/.incoming-x",
    ],
)
async def test_media_keys_cannot_escape_the_folder(client: httpx.AsyncClient, path: str) -> None:
    token = await register(client, "tourist")
    await upload(client, token, images.png())
    response = await client.get("http://conduit.test" + path)
    assert response.status_code == 404
    assert b"test-secret" not in response.content


async def test_each_upload_is_recorded(client: httpx.AsyncClient, db: Database) -> None:
    from sqlalchemy import select

    from conduit.uploads.models import uploads

    token = await register(client, "counted")
    body = (await upload(client, token, images.webp(), name="a.webp")).json()["upload"]
    async with db.engine.connect() as conn:
        rows = (await conn.execute(select(uploads))).all()
    assert len(rows) == 1
    row = rows[0]
    assert body["url"].endswith(row.key)
    assert body["thumbnailUrl"].endswith(row.thumbnail_key)
    assert (row.content_type, row.size, row.width, row.height) == (
        "image/webp",
        body["size"],
        300,
        200,
    )
    assert row.created_at.microsecond or row.created_at.microsecond == 0


async def test_a_storage_that_cannot_write_answers_503(
    client: httpx.AsyncClient, settings: Any, db: Database
) -> None:
    from sqlalchemy import func, select

    from conduit.uploads.models import uploads

    token = await register(client, "unlucky")
    (Path(settings.data_dir) / "media").write_text("a file where the folder should be")
    response = await upload(client, token, images.png())
    assert response.status_code == 503
    assert response.json() == {"errors": {"storage": ["is unavailable"]}}
    response = await client.post("/user/image", files=files(images.png()), headers=auth(token))
    assert response.status_code == 503
    assert (await client.get("/user", headers=auth(token))).json()["user"]["image"] is None
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(uploads))).scalar() == 0


async def test_images_are_processed_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from conduit.uploads import images as image_checks

    threads: list[threading.Thread] = []
    original = image_checks.process

    def recording(data: bytes) -> Any:
        threads.append(threading.current_thread())
        return original(data)

    monkeypatch.setattr(image_checks, "process", recording)
    token = await register(client, "patient")
    assert (await upload(client, token, images.png())).status_code == 201
    response = await client.post("/user/image", files=files(images.png()), headers=auth(token))
    assert response.status_code == 200
    assert len(threads) == 2
    assert all(thread is not threading.main_thread() for thread in threads)


UPLOAD_BUDGET = 3  # the account and its roles, the insert
# The account and its roles twice (the image before; the change), the update, the insert,
# the old upload and its removal, the event in the outbox.
AVATAR_BUDGET = 9


async def test_statements_per_upload(client: httpx.AsyncClient, db: Database) -> None:
    from tests.integration.support import count_statements

    token = await register(client, "frugal")
    await upload(client, token, images.png())  # warm
    with count_statements(db) as log:
        assert (await upload(client, token, images.png())).status_code == 201
    assert log.count <= UPLOAD_BUDGET, log.statements
    await client.post("/user/image", files=files(images.png()), headers=auth(token))
    with count_statements(db) as log:
        response = await client.post("/user/image", files=files(images.png()), headers=auth(token))
        assert response.status_code == 200
    assert log.count <= AVATAR_BUDGET, log.statements
