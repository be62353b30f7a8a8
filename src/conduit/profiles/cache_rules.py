"""What the profiles feature declares about the response cache (see :mod:`conduit.core.cache`).

Following and unfollowing change nothing an anonymous reader sees: errors (a profile that
did not exist yet) are never cached; an anonymous reader always sees ``following: false``
and the API has no follower counts; the feed is only for signed-in readers, who are never
served from the cache. A profile's answer changes with its user's public fields, which
bump :data:`~conduit.core.cache.ALL` (see ``conduit.users.cache_rules``).
"""

from __future__ import annotations

from conduit.core.cache import NOTHING, CacheRules
from conduit.profiles.events import UserFollowed, UserUnfollowed

RULES = CacheRules(
    invalidates={
        UserFollowed.type: NOTHING,
        UserUnfollowed.type: NOTHING,
    },
    reads={
        "/profiles/{username}": lambda _path: (),
    },
)
