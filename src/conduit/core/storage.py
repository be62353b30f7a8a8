"""The file storage port: where uploaded images live (a local folder, or an S3 bucket).

Keys are chosen by Conduit, random and never reused (see :func:`is_valid_key`), so a
stored object never changes and may be cached forever.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

# <32 hex digits>[.thumb].<extension>: no slash, no dot-dot, nothing a path could escape with.
_KEY = re.compile(r"^[0-9a-f]{32}(\.thumb)?\.(jpg|png|webp|gif)$")


def is_valid_key(key: str) -> bool:
    """True for a key Conduit could have made; anything else names no object."""
    return _KEY.fullmatch(key) is not None


@dataclass(frozen=True, slots=True)
class StoredObject:
    data: bytes
    content_type: str


class FileStorage(Protocol):
    """Objects by key. ``put`` replaces atomically; ``delete`` of a missing key is no error."""

    # True when clients fetch objects from url(key) themselves (a presigned S3 URL); False
    # when the API serves them (GET /media/{key}).
    direct: bool

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> StoredObject | None: ...

    async def delete(self, key: str) -> None: ...

    async def url(self, key: str) -> str: ...

    async def close(self) -> None: ...
