"""What the tags feature declares about the response cache (see :mod:`conduit.core.cache`).

The tag list is read from the articles' tags: the articles feature's events bump
:data:`TAGS`; this feature emits no event of its own.
"""

from __future__ import annotations

from conduit.core.cache import CacheRules

TAGS = "tags"  # GET /api/tags

RULES = CacheRules(
    reads={
        "/tags": lambda _path: (TAGS,),
    },
)
