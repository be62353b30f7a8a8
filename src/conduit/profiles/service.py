"""Use cases of the profiles feature: read a profile, follow, unfollow."""

from __future__ import annotations

from dataclasses import replace

from conduit.core.db import Database
from conduit.profiles import repository
from conduit.profiles.exceptions import CannotFollowSelf, ProfileNotFound
from conduit.profiles.models import Profile
from conduit.users.service import require_account


async def get(db: Database, *, username: str, viewer_id: int | None) -> Profile:
    async with db.reader() as uow:
        found = await repository.get(uow.conn, username, viewer_id)
    if found is None:
        raise ProfileNotFound()
    return found[1]


async def follow(db: Database, *, username: str, user_id: int) -> Profile:
    async with db.uow() as uow:
        await require_account(uow.conn, user_id)
        found = await repository.get(uow.conn, username, None)
        if found is None:
            raise ProfileNotFound()
        followee_id, profile = found
        if followee_id == user_id:
            raise CannotFollowSelf()
        await repository.follow(uow.conn, follower_id=user_id, followee_id=followee_id)
        await uow.commit()
    return replace(profile, following=True)


async def unfollow(db: Database, *, username: str, user_id: int) -> Profile:
    async with db.uow() as uow:
        await require_account(uow.conn, user_id)
        found = await repository.get(uow.conn, username, None)
        if found is None:
            raise ProfileNotFound()
        followee_id, profile = found
        await repository.unfollow(uow.conn, follower_id=user_id, followee_id=followee_id)
        await uow.commit()
    return replace(profile, following=False)
