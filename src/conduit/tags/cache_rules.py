"""What the tags feature declares about the response cache (see :mod:`conduit.core.cache`).

The tag list is read from the kept counts (``tags.articles``), which the tags consumer
updates after an article write has committed (:mod:`conduit.tags.handlers`). So it is that
consumer's event, :class:`~conduit.tags.events.TagsCounted`, committed with the new counts,
that bumps :data:`TAGS`, not the articles' events: bumped at the article's commit, a read
between that commit and the recount would cache the old list under the new generation.
"""

from __future__ import annotations

from conduit.core.cache import CacheRules
from conduit.tags.events import TagsCounted

TAGS = "tags"  # GET /api/tags

RULES = CacheRules(
    invalidates={
        TagsCounted.type: lambda _data: (TAGS,),
    },
    reads={
        "/tags": lambda _path: (TAGS,),
    },
)
