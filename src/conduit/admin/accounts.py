"""What moderators see of the accounts: finding them, and how many there are.

Read-only use cases of the moderation console (moderators and admins, see
:func:`conduit.core.policy.require_moderator`); the changes are in ``bans`` and ``service``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from conduit.admin.service import AccountStatus
from conduit.core import policy
from conduit.core.db import Database
from conduit.core.pagination import Page
from conduit.core.principal import USER, Principal
from conduit.users import repository

# The longest search text taken (a username is at most 64 characters, an email 254).
MAX_SEARCH = 254


@dataclass(frozen=True, slots=True)
class AccountCounts:
    users: int
    banned: int


async def find(
    db: Database, *, actor: Principal, prefix: str, page: Page
) -> tuple[list[AccountStatus], int]:
    """Accounts whose username or email starts with ``prefix`` (any case; every account for
    a blank one), by username, with the number of matches."""
    policy.require_moderator(actor)
    async with db.reader() as uow:
        found, total = await repository.search_page(uow.conn, prefix.strip()[:MAX_SEARCH], page)
    return [
        AccountStatus(
            username=account.username,
            email=account.email,
            roles=tuple(sorted({USER, *account.roles})),
            banned=account.banned,
        )
        for account in found
    ], total


async def counts(db: Database, *, actor: Principal) -> AccountCounts:
    """How many accounts there are, and how many are banned."""
    policy.require_moderator(actor)
    async with db.reader() as uow:
        users, banned = await repository.counts(uow.conn)
    return AccountCounts(users=users, banned=banned)


async def usernames(db: Database, *, actor: Principal, user_ids: Collection[int]) -> dict[int, str]:
    """The usernames of these users, to show who did what (deleted users left out)."""
    policy.require_moderator(actor)
    async with db.reader() as uow:
        return await repository.usernames(uow.conn, user_ids)
