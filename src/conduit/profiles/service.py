"""Use cases of the profiles feature: read a profile, follow, unfollow."""

from __future__ import annotations

from dataclasses import replace

from conduit.core import policy
from conduit.core.db import Database
from conduit.core.principal import Principal
from conduit.profiles import repository
from conduit.profiles.events import UserFollowed, UserUnfollowed
from conduit.profiles.exceptions import CannotFollowSelf, ProfileNotFound
from conduit.profiles.models import Profile
from conduit.users.service import require_account


async def get(db: Database, *, username: str, viewer_id: int | None) -> Profile:
    async with db.reader() as uow:
        found = await repository.get(uow.conn, username, viewer_id)
    if found is None:
        raise ProfileNotFound()
    return found[1]


async def _set_following(db: Database, *, username: str, actor: Principal, on: bool) -> Profile:
    policy.require_active(actor)
    user_id = actor.id
    async with db.uow() as uow:
        await require_account(uow.conn, user_id)
        found = await repository.get(uow.conn, username, None)
        if found is None:
            raise ProfileNotFound()
        followee_id, profile = found
        if on and followee_id == user_id:
            raise CannotFollowSelf()
        mark = repository.follow if on else repository.unfollow
        changed = await mark(uow.conn, follower_id=user_id, followee_id=followee_id)
        if changed:
            happened = UserFollowed if on else UserUnfollowed
            uow.emit(
                happened(follower_id=user_id, followee_id=followee_id, followee_username=username),
                actor_id=user_id,
            )
        await uow.commit()
    return replace(profile, following=on)


async def follow(db: Database, *, username: str, actor: Principal) -> Profile:
    """Follow ``username`` (idempotent); following oneself is refused."""
    return await _set_following(db, username=username, actor=actor, on=True)


async def unfollow(db: Database, *, username: str, actor: Principal) -> Profile:
    """Stop following ``username`` (idempotent)."""
    return await _set_following(db, username=username, actor=actor, on=False)
