"""File storage in a local folder (the default): ``<data_dir>/media/<key>``.

Writes go to a temporary file in the same folder and are renamed into place, so a reader
never sees half an object; file I/O runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from conduit.core.errors import Unavailable
from conduit.core.storage import StoredObject, is_valid_key

_CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
}


def _content_type(key: str) -> str:
    return _CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


class LocalStorage:
    """Objects as files of one folder; served by the API at ``<base_url>/<key>``."""

    direct = False

    def __init__(self, folder: Path, *, base_url: str = "/media") -> None:
        self.folder = folder
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        if not is_valid_key(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.folder / key

    def _write(self, path: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._write, self._path(key), data)
        except OSError as exc:  # disk full, read-only, permissions: 503, not "database"
            raise Unavailable("storage", "is unavailable") from exc

    async def get(self, key: str) -> StoredObject | None:
        if not is_valid_key(key):
            return None
        try:
            data = await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise Unavailable("storage", "is unavailable") from exc
        return StoredObject(data=data, content_type=_content_type(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def url(self, key: str) -> str:
        self._path(key)
        return f"{self.base_url}/{key}"

    async def ping(self) -> None:
        """The folder takes a file: one is written and removed (the readiness check)."""
        await asyncio.to_thread(self._probe)

    def _probe(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=self.folder, prefix=".ready-")
        os.close(fd)
        os.unlink(probe)

    async def close(self) -> None:
        return None
