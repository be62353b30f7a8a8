"""What the notifications feature declares about the response cache (see
:mod:`conduit.core.cache`): nothing is cached, notifications are only ever read signed in.
"""

from __future__ import annotations

from conduit.core.cache import NOTHING, CacheRules
from conduit.notifications.events import NotificationsAdded

RULES = CacheRules(
    invalidates={
        NotificationsAdded.type: NOTHING,
    },
)
