"""Every authorization decision of Conduit, in one place.

Use cases call these with the acting :class:`~conduit.core.principal.Principal`; routers
never decide. A denial raises :class:`~conduit.core.errors.Forbidden` (403, RealWorld
error shape).
"""

from __future__ import annotations

from conduit.core.errors import ConduitError, Forbidden
from conduit.core.principal import ADMIN, MODERATOR, Principal


class Banned(Forbidden):
    def __init__(self) -> None:
        ConduitError.__init__(self, "user", "is banned")


def require_active(actor: Principal) -> None:
    """Every write: a banned user may read, nothing more."""
    if actor.banned:
        raise Banned()


def is_moderator(actor: Principal) -> bool:
    return MODERATOR in actor.roles or ADMIN in actor.roles


def is_admin(actor: Principal) -> bool:
    return ADMIN in actor.roles


def may_delete(actor: Principal, *, owner_id: int) -> bool:
    """Authors delete their own articles and comments; moderators and admins any."""
    return actor.id == owner_id or is_moderator(actor)


def is_moderation(actor: Principal, *, owner_id: int) -> bool:
    """A deletion of someone else's content by a moderator (audited)."""
    return actor.id != owner_id and is_moderator(actor)


def may_edit(actor: Principal, *, owner_id: int) -> bool:
    """Only the author edits an article (moderators delete, they do not rewrite)."""
    return actor.id == owner_id


def require_admin(actor: Principal) -> None:
    """Admin endpoints: role changes, bans, the audit log."""
    require_active(actor)
    if not is_admin(actor):
        raise Forbidden("user")


def require_moderator(actor: Principal) -> None:
    """The moderation console: finding accounts, bans, deleting content."""
    require_active(actor)
    if not is_moderator(actor):
        raise Forbidden("user")


def may_ban(actor: Principal, *, target_roles: frozenset[str]) -> bool:
    """Moderators ban and unban users; only an admin bans or unbans a moderator or an admin."""
    if is_admin(actor):
        return True
    return is_moderator(actor) and not (target_roles & {MODERATOR, ADMIN})
