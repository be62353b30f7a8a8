"""Events of the tags feature."""

from __future__ import annotations

from conduit.core.events import EventData


class TagsCounted(EventData):
    type = "tags.counted"
    summary = (
        "The tags consumer recounted the articles of some tags after an article was "
        "published, retagged or deleted; `names` are the tags whose count changed "
        "(`GET /api/tags` answers from these counts)."
    )

    names: list[str]
