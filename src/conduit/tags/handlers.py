"""What the tags feature does on the articles' events: keeps ``tags.articles``.

``consumer`` recounts, from ``article_tags``, the tags an article event names: those of a
published or deleted article, and on a retag those added or dropped (the events carry the
tag lists, before and after). Counted from the truth rather than incremented, it is
idempotent beyond the per-event de-duplication: a redelivery, two events applied out of
order or a replay leave the right count. An event written before the tag lists were added
recounts every tag.

Never in the writing transaction: a count kept there queued every writer of a popular tag
behind that tag's row. Here each event is one short transaction of its own (the tags' rows
locked, counted and updated in two statements, whatever the number of tags), after the
write committed:

- embedded bus (no broker): applied at commit (``at_commit``, see
  :mod:`conduit.core.consumers`), before the write's response is sent, so a client that
  reads ``GET /api/tags`` after publishing sees its tag; the relay's delivery then skips it;
- with a broker: in ``conduit worker``, within the relay's latency (tens of milliseconds
  with a wake-up channel, under a second in any case).

Batching: the consumer machinery applies and de-duplicates one event per transaction
(``processed_events`` is written with the handler's change), so a burst of writes is
recounted event by event, each event's tags in one statement; the consumers' deliveries of
a burst overlap and a popular tag's row is held only for one recount at a time.

When a count changed the handler emits :class:`~conduit.tags.events.TagsCounted` in its
transaction: its cache rule bumps the tags' response-cache generation once the new counts
are committed, so no reader caches the list as it was before the recount.
"""

from __future__ import annotations

from conduit.articles.events import ArticleCreated, ArticleDeleted, ArticleUpdated
from conduit.core.consumers import Consumer
from conduit.core.db import UnitOfWork
from conduit.core.events import Event
from conduit.tags import repository
from conduit.tags.events import TagsCounted

EVERY_TAG = None


def affected(event: Event) -> set[str] | None:
    """The tags whose counts ``event`` may have changed; None: any tag (an older event)."""
    if event.type == ArticleCreated.type:
        return set(ArticleCreated.model_validate(event.data).tag_list)
    if event.type == ArticleDeleted.type:
        deleted = ArticleDeleted.model_validate(event.data)
        return EVERY_TAG if deleted.tag_list is None else set(deleted.tag_list)
    updated = ArticleUpdated.model_validate(event.data)
    if "tagList" not in updated.changed:
        return set()
    if updated.tag_list is None or updated.previous_tag_list is None:
        return EVERY_TAG
    return set(updated.tag_list) ^ set(updated.previous_tag_list)


async def on_event(uow: UnitOfWork, event: Event) -> None:
    names = affected(event)
    if names is not None and not names:
        return
    changed = await repository.recount(uow.conn, names)
    if changed:
        uow.emit(TagsCounted(names=changed), actor_id=None)


consumer = Consumer(
    name="tags",
    types=frozenset({ArticleCreated.type, ArticleUpdated.type, ArticleDeleted.type}),
    handle=on_event,
    at_commit=True,
)
