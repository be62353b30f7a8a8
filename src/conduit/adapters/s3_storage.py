"""File storage in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO...), over aiobotocore.

Clients fetch objects from presigned GET URLs (``url``); the API redirects ``/media/{key}``
to one, so the links Conduit stores never expire.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from conduit.core.errors import Unavailable
from conduit.core.storage import StoredObject, is_valid_key

_MISSING = {"NoSuchKey", "404", "NotFound"}


def _unavailable(exc: Exception) -> Unavailable:
    """The store refused or did not answer: 503 for the client, the cause in the log."""
    error = Unavailable("storage", "is unavailable")
    error.__cause__ = exc
    return error


class S3Storage:
    """Objects in ``bucket``; one client, opened on first use and closed by ``close``."""

    direct = True

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        url_ttl_seconds: int = 3600,
    ) -> None:
        self.bucket = bucket
        self.url_ttl_seconds = url_ttl_seconds
        self._options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region or "us-east-1",
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "config": AioConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        }
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    creator = get_session().create_client("s3", **self._options)
                    self._client = await self._stack.enter_async_context(creator)
        return self._client

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        try:
            await s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                CacheControl="public, max-age=31536000, immutable",
            )
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc

    async def get(self, key: str) -> StoredObject | None:
        if not is_valid_key(key):
            return None
        s3 = await self._s3()
        try:
            reply = await s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise _unavailable(exc) from exc
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc
        async with reply["Body"] as body:
            data = await body.read()
        return StoredObject(data=data, content_type=reply.get("ContentType", ""))

    async def delete(self, key: str) -> None:
        s3 = await self._s3()
        try:
            await s3.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc

    async def url(self, key: str) -> str:
        s3 = await self._s3()
        url: str = await s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self.url_ttl_seconds,
        )
        return url

    async def ping(self) -> None:
        """HEAD the bucket: it exists and these credentials reach it (the readiness check)."""
        s3 = await self._s3()
        await s3.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()
