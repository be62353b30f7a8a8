"""Use cases of the uploads feature: store an article image, set an avatar, prune.

Images are checked and re-encoded in a worker thread (Pillow holds the CPU, not the event
loop); objects are written to the storage before the row that records them is committed,
and deleted only after the row is gone, so a committed row always names stored objects.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass

import structlog

from conduit.core import policy
from conduit.core.db import Database, UnitOfWork
from conduit.core.principal import Principal
from conduit.core.storage import FileStorage, is_valid_key
from conduit.core.tables import utcnow
from conduit.uploads import images, repository
from conduit.uploads.images import ProcessedImage
from conduit.uploads.models import Upload
from conduit.users import service as users_service
from conduit.users.models import Account
from conduit.users.service import require_account

log = structlog.get_logger("conduit.uploads")

PRUNE_BATCH = 100


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """An upload with the links clients fetch it and its thumbnail from."""

    upload: Upload
    url: str
    thumbnail_url: str


def link(media_base_url: str, key: str) -> str:
    """The stable link to a stored object (GET /media/{key}, or its absolute URL)."""
    return f"{media_base_url.rstrip('/')}/{key}"


def key_of(media_base_url: str, url: str | None) -> str | None:
    """The storage key a link of ours names, or None for any other URL."""
    prefix = media_base_url.rstrip("/") + "/"
    if url is None or not url.startswith(prefix):
        return None
    key = url.removeprefix(prefix)
    return key if is_valid_key(key) else None


async def _decode(data: bytes) -> ProcessedImage:
    return await asyncio.to_thread(images.process, data)


async def _put(storage: FileStorage, image: ProcessedImage) -> tuple[str, str]:
    stem = uuid.uuid4().hex
    key, thumbnail_key = f"{stem}.{image.extension}", f"{stem}.thumb.{image.extension}"
    await storage.put(key, image.data, image.content_type)
    try:
        await storage.put(thumbnail_key, image.thumbnail, image.content_type)
    except BaseException:
        await _discard(storage, [key])
        raise
    return key, thumbnail_key


async def _discard(storage: FileStorage, keys: list[str]) -> None:
    """Delete objects no row refers to; a failure only leaves garbage behind (logged)."""
    for key in keys:
        try:
            await storage.delete(key)
        except Exception as exc:
            log.warning("storage_delete_failed", key=key, error=str(exc))


async def _record(
    uow: UnitOfWork, image: ProcessedImage, keys: tuple[str, str], owner: int
) -> Upload:
    return await repository.add(
        uow.conn,
        key=keys[0],
        thumbnail_key=keys[1],
        owner_id=owner,
        content_type=image.content_type,
        size=len(image.data),
        width=image.width,
        height=image.height,
    )


async def store(
    db: Database, storage: FileStorage, *, actor: Principal, data: bytes, media_base_url: str
) -> StoredUpload:
    """Store an image for an article: checked, stripped of metadata, with a thumbnail."""
    policy.require_active(actor)
    image = await _decode(data)
    keys = await _put(storage, image)
    try:
        async with db.uow() as uow:
            await require_account(uow.conn, actor.id)
            upload = await _record(uow, image, keys, actor.id)
            await uow.commit()
    except BaseException:
        await _discard(storage, list(keys))
        raise
    return StoredUpload(
        upload=upload,
        url=link(media_base_url, upload.key),
        thumbnail_url=link(media_base_url, upload.thumbnail_key),
    )


async def set_avatar(
    db: Database, storage: FileStorage, *, actor: Principal, data: bytes, media_base_url: str
) -> Account:
    """Make the image the user's avatar; the avatar it replaces, if it was an upload of
    theirs, is deleted once the change is committed."""
    policy.require_active(actor)
    image = await _decode(data)
    keys = await _put(storage, image)
    replaced: list[Upload] = []
    # The image before the change (users_service.update runs ``record`` after writing the
    # new one). Two avatar uploads racing may both replace it: the loser's upload is then
    # nobody's avatar and is pruned later.
    previous = await users_service.current(db, user_id=actor.id)
    old_key = key_of(media_base_url, previous.image)

    async def record(uow: UnitOfWork) -> None:
        await _record(uow, image, keys, actor.id)
        old = None
        if old_key is not None:
            old = await repository.owned(uow.conn, key=old_key, owner_id=actor.id)
        if old is not None:
            await repository.remove(uow.conn, [old.id])
            replaced.append(old)

    try:
        account = await users_service.update(
            db, actor=actor, changes={"image": link(media_base_url, keys[0])}, within=record
        )
    except BaseException:
        await _discard(storage, list(keys))
        raise
    for old in replaced:
        await _discard(storage, [old.key, old.thumbnail_key])
    return account


async def prune(db: Database, storage: FileStorage, *, older_than: dt.timedelta) -> int:
    """Delete the uploads older than ``older_than`` that no user has as avatar and no
    article body links to (and those whose owner is gone); returns how many."""
    cutoff = utcnow() - older_than
    after_id = 0
    pruned = 0
    while True:
        async with db.uow() as uow:
            batch = await repository.created_before(
                uow.conn, cutoff, after_id=after_id, limit=PRUNE_BATCH
            )
            if not batch:
                return pruned
            after_id = batch[-1].id
            kept = await repository.referenced(uow.conn, [upload.stem for upload in batch])
            doomed = [upload for upload in batch if upload.stem not in kept]
            await repository.remove(uow.conn, [upload.id for upload in doomed])
            await uow.commit()
        for upload in doomed:
            await _discard(storage, [upload.key, upload.thumbnail_key])
        pruned += len(doomed)
        if len(batch) < PRUNE_BATCH:
            return pruned
