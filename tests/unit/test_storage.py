"""The storage port's keys, the local folder adapter, and how bootstrap picks a storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from conduit.adapters.local_storage import LocalStorage
from conduit.adapters.s3_storage import S3Storage
from conduit.bootstrap import ConfigurationError, file_storage
from conduit.core.storage import is_valid_key
from conduit.settings import Settings
from conduit.uploads.service import key_of, link

STEM = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "key", [f"{STEM}.jpg", f"{STEM}.thumb.png", f"{STEM}.webp", f"{STEM}.thumb.gif"]
)
def test_keys_conduit_makes_are_valid(key: str) -> None:
    assert is_valid_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "..",
        "../secret_key",
        f"../{STEM}.jpg",
        f"a/{STEM}.jpg",
        f"{STEM}.jpg/",
        f"{STEM}.svg",
        f"{STEM}.JPG",
        f"{STEM[:-1]}.jpg",
        f"{STEM}.jpg\n",
        f"{STEM}.jpg\x00",
        ".incoming-abc",
        f"{STEM.upper()}.jpg",
    ],
)
def test_anything_else_is_no_key(key: str) -> None:
    assert not is_valid_key(key)


async def test_local_storage_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media", base_url="https://api.example.com/media/")
    key = f"{STEM}.png"
    assert await storage.get(key) is None
    await storage.put(key, b"first", "image/png")
    await storage.put(key, b"second", "image/png")  # replaced whole
    stored = await storage.get(key)
    assert stored is not None
    assert (stored.data, stored.content_type) == (b"second", "image/png")
    assert [p.name for p in (tmp_path / "media").iterdir()] == [key]  # no temporary left
    assert await storage.url(key) == f"https://api.example.com/media/{key}"
    await storage.delete(key)
    await storage.delete(key)
    assert await storage.get(key) is None
    assert await storage.get("../secret") is None
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.put("../escape.png", b"x", "image/png")


def test_links_and_their_keys() -> None:
    url = link("/media", f"{STEM}.jpg")
    assert url == f"/media/{STEM}.jpg"
    assert key_of("/media", url) == f"{STEM}.jpg"
    assert key_of("/media/", url) == f"{STEM}.jpg"
    assert key_of("/media", f"https://elsewhere.example/media/{STEM}.jpg") is None
    assert key_of("/media", "/media/../secret_key") is None
    assert key_of("/media", None) is None


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(environment="test", data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_unset_storage_is_the_media_folder_of_the_data_dir(tmp_path: Path) -> None:
    storage = file_storage(_settings(tmp_path))
    assert isinstance(storage, LocalStorage)
    assert storage.folder == tmp_path / "media"
    assert storage.direct is False
    chosen = file_storage(_settings(tmp_path, storage_url=f"file://{tmp_path}/elsewhere"))
    assert isinstance(chosen, LocalStorage)
    assert chosen.folder == tmp_path / "elsewhere"


def test_s3_url_picks_the_bucket(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        storage_url="s3://photos",
        s3_endpoint_url="http://127.0.0.1:8333",
        s3_secret_access_key="hidden-secret",
    )
    assert "hidden-secret" not in repr(settings)
    storage = file_storage(settings)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.direct) == ("photos", True)


@pytest.mark.parametrize("url", ["s3://", "s3://bucket/folder", "ftp://host/x", "gs://bucket"])
def test_a_storage_url_conduit_cannot_use_stops_the_start(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigurationError, match="CONDUIT_STORAGE_URL"):
        file_storage(_settings(tmp_path, storage_url=url))
